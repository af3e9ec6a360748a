/**
 * The settings screen, unread marks and notifications in headless Chromium
 * against a real relay: the lock time chosen applies at once and is kept in
 * the device's encrypted storage; unread marks show in the inbox, clear when
 * the thread is opened and survive a reload and a lock; a notification (the
 * permission granted through the browser context) says only "New activity in
 * Handover" — the test observes every Notification the page makes and finds
 * no case data in any; an encrypted backup downloads as a file that the SDK
 * restores, and a fresh browser restores it as a new device (Argon2id in
 * the restore worker while the page keeps drawing; a wrong recovery
 * passphrase answered in the page's language; on the page only when the
 * worker's script cannot load); axe finds no
 * serious or critical violation on the settings screen in any language.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import { HandoverClient } from '../../client/sdk/client';
import { MemoryStorage } from '../../client/sdk/storage';
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { loadCrypto } from '../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { en } from '../../client/web/src/i18n/en';
import { ru } from '../../client/web/src/i18n/ru';
import { TestNetwork, type TestOrg } from '../support/network';
import { enrolClient, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { PASSPHRASE, enrolBrowser, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const EXAMPLE = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ARTIFACTS = path.join(__dirname, '../artifacts/web/settings');
const LANGUAGES = ['en', 'ru', 'kk', 'tr', 'ar'];
const RECOVERY = 'a separate recovery passphrase';
const MARKER = `Aigerim${Math.random().toString(36).slice(2, 10)}`;

let fx: RelayFixture;
let crypto: Awaited<ReturnType<typeof loadCrypto>>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let shelter: TestOrg;
let ngoClient: HandoverClient;
let ngoCases: CaseService;
let serial = 0;
const pageErrors: string[] = [];

/** Every Notification the page makes is recorded (and none shown); `document.hidden` is the test's to set. */
const OBSERVE_NOTIFICATIONS = `(() => {
  const Real = window.Notification;
  const shown = [];
  let hidden = false;
  Object.defineProperty(window, '__notifications', { value: shown });
  Object.defineProperty(window, '__setHidden', { value: (v) => { hidden = v; } });
  Object.defineProperty(Document.prototype, 'hidden', { get: () => hidden, configurable: true });
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible'), configurable: true });
  class Observed {
    constructor(title, options) { shown.push({ title: String(title), options: JSON.stringify(options ?? {}) }); }
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
  }
  window.Notification = Observed;
})();`;

async function refer(firstName: string): Promise<{ threadId: string; caseCode: string }> {
  const now = Date.now();
  const caseCode = `SET-${++serial}-${now}`;
  const sent = await ngoCases.refer({
    ...EXAMPLE,
    header: { ...EXAMPLE.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...EXAMPLE.identity, caseCode, firstName },
    consent: { ...EXAMPLE.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  } as never);
  return { threadId: sent.threadId, caseCode };
}

const row = (threadId: string) => `#inbox tr[data-thread="${threadId}"]`;

async function unlock(p: Page): Promise<void> {
  await p.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await p.click('#unlock button[type="submit"]');
  await p.waitForSelector('#new-referral', { timeout: 30_000 });
  await p.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
}

async function seriousViolations(p: Page): Promise<string[]> {
  if (!(await p.evaluate(() => 'axe' in window))) await p.addScriptTag({ content: AXE });
  const result = await p.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }>; passes: unknown[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return { violations: r.violations, passes: r.passes.length };
  });
  expect(result.passes).toBeGreaterThan(5);
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { webApp: { dir: WEB_DIR, development: true } } });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  ngoClient = await enrolClient(fx, ngo, 'dana');
  ngoCases = new CaseService({ transport: ngoClient });
  await ngoCases.start();
  browser = await launchChromium();
  context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: fx.url });
  await context.addInitScript(OBSERVE_NOTIFICATIONS);
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await enrolBrowser(page, { url: fx.url, crypto }, shelter, 'settings');
}, 90_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  ngoCases?.dispose();
  await ngoClient?.close();
  await fx?.close();
});

it('marks threads with messages not opened here as unread, clears the mark on opening, and keeps it over a reload and a lock', async () => {
  const first = await refer('Unread');
  await page.waitForSelector(`${row(first.threadId)}.unread`, { timeout: 20_000 });
  expect(await page.textContent(`${row(first.threadId)} .unread-count`)).toMatch(/\d+ unread messages?/);
  expect(await page.textContent('#unread-summary')).toBe('1 case with unread messages');
  // The count is part of what a screen reader says for the case's button.
  const describedBy = await page.getAttribute(`${row(first.threadId)} button.open-thread`, 'aria-describedby');
  expect(await page.textContent(`#${describedBy}`)).toMatch(/unread/);
  await page.click(`${row(first.threadId)} button.open-thread`);
  await page.waitForSelector('#thread-status');
  await page.click('#back');
  await page.waitForSelector(row(first.threadId));
  expect(await page.getAttribute(row(first.threadId), 'class')).toBeNull();

  const second = await refer('Kept');
  await page.waitForSelector(`${row(second.threadId)}.unread`, { timeout: 20_000 });
  await page.reload();
  await page.waitForSelector('#unlock');
  await unlock(page);
  await page.waitForSelector(`${row(second.threadId)}.unread`);
  expect(await page.getAttribute(row(first.threadId), 'class')).toBeNull();
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  expect(await page.textContent('body')).not.toContain(second.caseCode);
  await unlock(page);
  await page.waitForSelector(`${row(second.threadId)}.unread`);
  expect(pageErrors).toEqual([]);
});

it('notifies, once opted in, with a fixed text only, and only while the tab is in the background', async () => {
  await page.click('#open-settings');
  await page.waitForSelector('#lock-minutes');
  await page.check('#notifications');
  await page.waitForSelector('#settings-status:text-is("Saved.")');
  expect(await page.isChecked('#notifications')).toBe(true);
  await page.click('#back');
  await page.waitForSelector('#inbox');

  const count = () => page.evaluate(() => (window as unknown as { __notifications: unknown[] }).__notifications.length);
  // In front: no notification.
  const inFront = await refer(`${MARKER}front`);
  await page.waitForSelector(row(inFront.threadId), { timeout: 20_000 });
  expect(await count()).toBe(0);
  // In the background: one sentence, nothing of the case.
  await page.evaluate(() => (window as unknown as { __setHidden(v: boolean): void }).__setHidden(true));
  const behind = await refer(MARKER);
  await page.waitForFunction(() => (window as unknown as { __notifications: unknown[] }).__notifications.length > 0, undefined, { timeout: 20_000 });
  const shown = await page.evaluate(() => (window as unknown as { __notifications: Array<{ title: string; options: string }> }).__notifications);
  for (const n of shown) {
    expect(n.title).toBe('Handover');
    expect(JSON.parse(n.options)).toEqual({ body: 'New activity in Handover', tag: 'handover-activity' });
    for (const secret of [MARKER, behind.caseCode, behind.threadId, 'ngo-taraz', 'shelter-ist']) expect(`${n.title} ${n.options}`).not.toContain(secret);
  }
  await page.evaluate(() => (window as unknown as { __setHidden(v: boolean): void }).__setHidden(false));
  expect(pageErrors).toEqual([]);
});

it('downloads an encrypted backup (sealed in a worker) that restores, and a fresh browser restores it as a new device (opened and sealed in a worker, the page drawing meanwhile; on the page when the worker cannot load)', async () => {
  await page.click('#open-settings');
  await page.waitForSelector('#backup');
  await page.fill('#backup input[name="recoveryPassphrase"]', 'too short');
  await page.fill('#backup input[name="recoveryPassphraseAgain"]', 'too short');
  await page.click('#backup button[type="submit"]');
  await page.waitForSelector('#backup .field-error:text-is("Use at least 12 characters.")');
  await page.fill('#backup input[name="recoveryPassphrase"]', RECOVERY);
  await page.fill('#backup input[name="recoveryPassphraseAgain"]', `${RECOVERY}!`);
  await page.click('#backup button[type="submit"]');
  await page.waitForSelector('#backup .field-error:text-is("The two passphrases differ.")');
  await page.fill('#backup input[name="recoveryPassphraseAgain"]', RECOVERY);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#backup button[type="submit"]')]);
  expect(download.suggestedFilename()).toMatch(/^handover-backup-\d{4}-\d{2}-\d{2}\.txt$/);
  const text = readFileSync((await download.path()) as string, 'utf8');
  await page.waitForSelector('#backup-status:has-text("Backup downloaded")');
  expect(await page.evaluate(() => document.documentElement.dataset.backupKdf)).toBe('worker');
  expect(text).not.toContain(MARKER);
  expect(await page.inputValue('#backup input[name="recoveryPassphrase"]')).toBe('');

  // The SDK takes it like the CLI's backup: every case comes back, under a new device.
  const { client: restored } = await HandoverClient.restoreProfile({ crypto, storage: new MemoryStorage(), passphrase: 'restored in node', pwhashLimits: PWHASH_TEST_ONLY, backup: text, recoveryPassphrase: RECOVERY, deviceId: 'node-copy' });
  expect((await restored.threadIds()).length).toBeGreaterThanOrEqual(4);

  // A fresh browser: set-up → restore → enrol the new device → the cases are there.
  const fresh = await browser.newContext();
  try {
    const p = await fresh.newPage();
    p.on('pageerror', (err) => pageErrors.push(err.message));
    // Animation frames the page gets while the restore's Argon2id runs (a page busy with it would get none).
    await p.addInitScript(() => {
      const w = window as unknown as { __kdfTicks: number };
      w.__kdfTicks = 0;
      const tick = () => {
        if (document.documentElement.dataset.kdfRunning === 'true' && document.getElementById('restore')) w.__kdfTicks++;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await p.goto(fx.url);
    await p.waitForSelector('html[data-ready="true"]');
    // In Russian: the worker's answer to a wrong recovery passphrase comes back as the page's translated message.
    await p.selectOption('#language', 'ru');
    await p.waitForFunction(() => document.documentElement.lang === 'ru');
    await p.click('#open-restore');
    await p.waitForSelector('#restore');
    await p.setInputFiles('#restore input[name="backup"]', { name: 'backup.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
    await p.fill('#restore input[name="recoveryPassphrase"]', 'not the recovery passphrase');
    await p.fill('#restore input[name="deviceName"]', 'settings-restored');
    await p.fill('#restore input[name="passphrase"]', PASSPHRASE);
    await p.fill('#restore input[name="passphraseAgain"]', PASSPHRASE);
    await p.click('#restore button[type="submit"]');
    await p.waitForFunction((wrong) => document.querySelector('#restore .form-error')?.textContent === wrong, ru['restore.wrong'], { timeout: 30_000 });
    // The worker answered (a wrong recovery passphrase is no reason to run it again on the page), and wrote nothing.
    expect(await p.evaluate(() => document.documentElement.dataset.kdf)).toBe('worker');
    expect(await p.evaluate(() => document.documentElement.dataset.kdfRunning)).toBeUndefined();
    await p.fill('#restore input[name="recoveryPassphrase"]', RECOVERY);
    await p.fill('#restore input[name="passphrase"]', PASSPHRASE);
    await p.fill('#restore input[name="passphraseAgain"]', PASSPHRASE);
    await p.evaluate(() => {
      (window as unknown as { __kdfTicks: number }).__kdfTicks = 0;
    });
    await p.click('#restore button[type="submit"]');
    const request = JSON.parse(await (await p.waitForSelector('#enrolment-request', { timeout: 30_000 })).inputValue()) as { deviceId: string };
    expect(request.deviceId).toBe(`${shelter.orgId}:settings-restored`);
    // Both Argon2id (opening the backup, sealing the new profile) ran in the worker, and the page kept drawing meanwhile.
    expect(await p.evaluate(() => document.documentElement.dataset.kdf)).toBe('worker');
    expect(await p.evaluate(() => (window as unknown as { __kdfTicks: number }).__kdfTicks)).toBeGreaterThanOrEqual(1);
    const now = Date.now();
    const certificate = issueDeviceCertificate(crypto, { request: request as never, orgCertificate: shelter.certificate, orgPrivateKey: shelter.keys.privateKey, role: 'caseworker', issuedAt: now - 60_000, expiresAt: now + 90 * 86_400_000 });
    await p.fill('#enrol textarea[name="orgCertificate"]', JSON.stringify(shelter.certificate));
    await p.fill('#enrol textarea[name="deviceCertificate"]', JSON.stringify(certificate));
    await p.click('#enrol button[type="submit"]');
    await p.waitForSelector('#inbox', { timeout: 30_000 });
    expect(await p.locator('#inbox tr[data-thread]').count()).toBeGreaterThanOrEqual(4);
  } finally {
    await fresh.close();
  }

  // A browser that cannot load the restore worker's script at all restores on the page, as unlock does;
  // a wrong recovery passphrase is still an answer there.
  const noWorker = await browser.newContext();
  try {
    const p = await noWorker.newPage();
    p.on('pageerror', (err) => pageErrors.push(err.message));
    await p.route('**/assets/restore-worker-*', (route) => route.abort());
    await p.goto(fx.url);
    await p.waitForSelector('html[data-ready="true"]');
    await p.click('#open-restore');
    await p.waitForSelector('#restore');
    const fill = async (recovery: string) => {
      await p.setInputFiles('#restore input[name="backup"]', { name: 'backup.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
      await p.fill('#restore input[name="recoveryPassphrase"]', recovery);
      await p.fill('#restore input[name="deviceName"]', 'settings-restored-here');
      await p.fill('#restore input[name="passphrase"]', PASSPHRASE);
      await p.fill('#restore input[name="passphraseAgain"]', PASSPHRASE);
      await p.click('#restore button[type="submit"]');
    };
    await fill('not the recovery passphrase');
    await p.waitForFunction((wrong) => document.querySelector('#restore .form-error')?.textContent === wrong, en['restore.wrong'], { timeout: 30_000 });
    expect(await p.evaluate(() => document.documentElement.dataset.kdf)).toBe('page');
    await fill(RECOVERY);
    const request = JSON.parse(await (await p.waitForSelector('#enrolment-request', { timeout: 30_000 })).inputValue()) as { deviceId: string };
    expect(request.deviceId).toBe(`${shelter.orgId}:settings-restored-here`);
    expect(await p.evaluate(() => document.documentElement.dataset.kdf)).toBe('page');
  } finally {
    await noWorker.close();
  }
  expect(pageErrors).toEqual([]);
});

it('applies the lock time chosen at once, and keeps it in the device', async () => {
  await page.click('#back');
  await page.click('#open-settings');
  await page.waitForSelector('#lock-minutes');
  expect(await page.$$eval('#lock-minutes option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['1', '5', '15', '30']);
  await page.selectOption('#lock-minutes', '15');
  await page.waitForSelector('#settings-status:text-is("Saved.")');
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  await unlock(page);
  await page.click('#open-settings');
  expect(await page.inputValue('#lock-minutes')).toBe('15');
  // One minute, on a clock the test moves: the app locks a minute after the last input.
  await page.clock.install();
  await page.selectOption('#lock-minutes', '1');
  await page.waitForSelector('#settings-status:text-is("Saved.")');
  await page.clock.runFor(50_000);
  expect(await page.isVisible('#lock-minutes')).toBe(true);
  await page.clock.runFor(15_000);
  await page.waitForSelector('#unlock', { timeout: 10_000 });
  expect(pageErrors).toEqual([]);
});

it('the settings screen has no serious or critical accessibility violation in any language, and fits a phone', async () => {
  // axe is injected as a script: this context bypasses the CSP (the others keep it).
  const a11y = await browser.newContext({ bypassCSP: true });
  try {
    const p = await a11y.newPage();
    await enrolBrowser(p, { url: fx.url, crypto }, shelter, 'settings-a11y');
    const found: string[] = [];
    for (const lang of LANGUAGES) {
      await p.selectOption('#language', lang);
      await p.waitForFunction((l) => document.documentElement.lang === l, lang);
      await p.click('#open-settings');
      await p.waitForSelector('#backup');
      // With field errors showing too.
      await p.click('#backup button[type="submit"]');
      await p.waitForSelector('#backup .field-error:not(:empty)');
      found.push(...(await seriousViolations(p)).map((v) => `${lang}: ${v}`));
      await p.screenshot({ path: path.join(ARTIFACTS, `${lang}-settings.png`), fullPage: true });
      await p.click('#back');
      await p.waitForSelector('#new-referral');
    }
    await p.selectOption('#language', 'en');
    expect(found).toEqual([]);
    // A 360 px wide phone: the settings screen needs no sideways scrolling.
    await p.setViewportSize({ width: 360, height: 740 });
    await p.click('#open-settings');
    await p.waitForSelector('#backup');
    expect(await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
  } finally {
    await a11y.close();
  }
});
