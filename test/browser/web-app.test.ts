/**
 * The web app in headless Chromium against a real relay on real Redis: a
 * shelter caseworker enrols this browser (the test plays the org admin and
 * signs the certificate), receives a referral an NGO's SDK client sends,
 * sees it live in the inbox, acknowledges and accepts it (the NGO sees
 * both), and the app shows hostile field values as text only. Also: the
 * lock empties the page, the Arabic UI is right to left, the form reports
 * field errors, and the page is served under a strict CSP.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadCrypto } from '../../shared/crypto/sodium';
import { ROUTES } from '../../shared/api';
import type { HandoverClient } from '../../client/sdk/client';
import { keyFingerprint } from '../../client/sdk';
import { CaseService } from '../../client/referral';
import { type TestOrg, TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { PASSPHRASE, enrolBrowser as enrolIn, fillReferralBasics, formField, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const EXAMPLE = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;

let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let ngo: TestOrg;
let shelter: TestOrg;
let iom: TestOrg;
let iomClient: HandoverClient;
let iomCases: CaseService;
let ngoClient: HandoverClient;
let ngoCases: CaseService;
const pageErrors: string[] = [];
/** Everything the page sent: request bodies and WebSocket frames (to prove no case data leaves it in clear). */
const sentByPage: string[] = [];
const enrolBrowser = async (p: Page, org: TestOrg, name: string, url = fx.url) => {
  await enrolIn(p, { url, crypto: fx.crypto }, org, name, async (n) => {
    await shot(p, `enrol-${name}`);
    figures[`create-keys-ms-${name}`] = n;
  });
};
/** Screenshots of every screen and the figures measured, for people (git-ignored). */
const ARTIFACTS = path.join(__dirname, '../artifacts/web');
const figures: Record<string, number> = {};
async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}
let serial = 0;
const MARKER = `Zhanar${Math.random().toString(36).slice(2, 10)}`;

/** A referral from the NGO to the shelter, with `identity` and `header` fields overridden. */
function referral(identity: Record<string, unknown>, header: Record<string, unknown> = {}): unknown {
  const now = Date.now();
  return {
    ...EXAMPLE,
    header: { ...EXAMPLE.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [], ...header },
    identity: { ...EXAMPLE.identity, caseCode: `WEB-${++serial}-${now}`, ...identity },
    consent: { ...EXAMPLE.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  };
}

async function openThread(caseCode: string): Promise<void> {
  await page.click(`#inbox button.open-thread:text-is("${caseCode}")`, { timeout: 20_000 });
  await page.waitForSelector('#thread-status');
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { webApp: { dir: WEB_DIR, development: true } } });
  ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  iom = network.addOrg('iom-ist', 'iom');
  iomClient = await enrolClient(fx, iom, 'selin');
  iomCases = new CaseService({ transport: iomClient });
  await iomCases.start();
  ngoClient = await enrolClient(fx, ngo, 'dana');
  ngoCases = new CaseService({ transport: ngoClient });
  await ngoCases.start();
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('request', (req) => sentByPage.push(`${req.method()} ${req.url()}\n${req.postData() ?? ''}`));
  page.on('websocket', (ws) => ws.on('framesent', (frame) => sentByPage.push(typeof frame.payload === 'string' ? frame.payload : frame.payload.toString('latin1'))));
  page.on('dialog', (d) => {
    pageErrors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
}, 60_000);

afterAll(async () => {
  writeFileSync(path.join(ARTIFACTS, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  await context?.close();
  await browser?.close();
  ngoCases?.dispose();
  await ngoClient?.close();
  iomCases?.dispose();
  await iomClient?.close();
  await fx?.close();
  await redis?.destroy();
});

it('serves the built app under a strict Content-Security-Policy, with the development banner', async () => {
  const res = await fetch(fx.url);
  expect(res.status).toBe(200);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).toContain("connect-src 'self'");
  expect(csp).not.toContain('unsafe-inline');
  const html = await res.text();
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
  expect(html).toMatch(/integrity="sha384-/);
});

it('enrols this browser as a shelter device: keys made in the page, certificate signed by the admin, registered', async () => {
  await enrolBrowser(page, shelter, 'amina-browser');
  expect(await page.textContent('#banner')).toMatch(/DEVELOPMENT/);
  expect(await page.isVisible('#inbox-empty')).toBe(true);
  expect(await page.title()).toBe('Handover');
  expect(pageErrors).toEqual([]);
});

it('shows a referral from another org live, and the NGO sees the acknowledgement and the acceptance', async () => {
  const sent = await ngoCases.refer(referral({ firstName: 'Aigerim' }));
  const caseCode = (await ngoCases.thread(sent.threadId)).referral?.identity.caseCode ?? '';
  await openThread(caseCode);
  expect(await page.textContent('#thread-status')).toBe('New');
  await shot(page, 'thread-new');
  expect(await page.textContent('#referral-data')).toContain('Aigerim');
  expect(await page.title()).toBe('Handover');

  await page.click('#action-acknowledge');
  await page.waitForSelector('#thread-status:text-is("Acknowledged")');
  await eventually(async () => (await ngoCases.thread(sent.threadId)).status === 'acknowledged', 15_000, 'the NGO sees the acknowledgement');

  await page.click('#action-accept');
  await page.waitForSelector('#thread-status:text-is("Accepted")');
  await eventually(async () => (await ngoCases.thread(sent.threadId)).status === 'accepted', 15_000, 'the NGO sees the acceptance');

  await page.fill('#action-note textarea', 'Bed 4 is ready');
  // A live update while someone types keeps what they typed.
  await ngoCases.note(sent.threadId, 'Arriving by the 18:40 train');
  await page.waitForSelector('#timeline li[data-type="note"] .event-detail:text-is("Arriving by the 18:40 train")', { timeout: 15_000 });
  expect(await page.inputValue('#action-note textarea')).toBe('Bed 4 is ready');
  await page.click('#action-note button[type="submit"]');
  await page.waitForSelector('#timeline li[data-type="note"] .event-detail:text-is("Bed 4 is ready")');
  expect(await page.inputValue('#action-note textarea')).toBe('');
  await eventually(async () => (await ngoCases.thread(sent.threadId)).timeline.filter((e) => e.type === 'note').length === 2, 15_000, 'the NGO sees the note');
  await shot(page, 'thread-accepted');
  await page.click('#back');
  await page.waitForSelector('#inbox');
  await shot(page, 'inbox');
  expect(pageErrors).toEqual([]);
});

it('read receipts: off by default; switched on, opening a thread tells the NGO in a signed receipt, and the NGO\'s receipt shows as opened', async () => {
  const sent = await ngoCases.refer(referral({ firstName: 'Receipt' }));
  const caseCode = (await ngoCases.thread(sent.threadId)).referral?.identity.caseCode ?? '';
  await openThread(caseCode);
  expect(await page.isChecked('#read-receipts')).toBe(false);
  await page.click('#action-acknowledge');
  await page.waitForSelector('#thread-status:text-is("Acknowledged")');

  const switchedOn = Date.now();
  await page.check('#read-receipts');
  await page.click('#back');
  await openThread(caseCode);
  const openedBy = async () => (await ngoClient.deliveryState(sent.threadId)).find((e) => e.opened?.[shelter.orgId])?.opened?.[shelter.orgId];
  await eventually(async () => (await openedBy()) !== undefined, 15_000, 'the NGO sees the shelter opened the referral');
  // Sent only once switched on: the first opening told nobody. Its time is the receipt's signed sentAt.
  expect((await openedBy())!.at).toBeGreaterThanOrEqual(switchedOn - 2000);

  // The other way: the NGO's device sends a receipt for the acknowledgement this browser sent.
  await ngoClient.setReadReceipts(true);
  await eventually(async () => (await ngoClient.markRead(sent.threadId)) > 0, 15_000, 'the NGO receipts the acknowledgement');
  await page.waitForSelector(`#delivery li:has-text("${ngo.orgId}: reached 1 of 1 device, opened")`, { timeout: 15_000 });
  await page.uncheck('#read-receipts');
  await page.click('#back');
  await page.waitForSelector('#inbox');
  expect(pageErrors).toEqual([]);
});

it('shows hostile field values as text and runs none of them', async () => {
  const hostile = {
    firstName: '<img src=x onerror="window.__pwned=1">',
    secondName: '<script>window.__pwned=2</script>',
  };
  const sent = await ngoCases.refer(
    referral({ ...hostile, caseCode: `XSS-${Date.now()}` }, { referralDetails: '<svg onload="window.__pwned=3"></svg><iframe src="javascript:window.__pwned=4"></iframe>' }),
  );
  const caseCode = (await ngoCases.thread(sent.threadId)).referral?.identity.caseCode ?? '';
  await openThread(caseCode);
  const text = (await page.textContent('#referral-data')) ?? '';
  expect(text).toContain(hostile.firstName);
  expect(text).toContain(hostile.secondName);
  expect(text).toContain('<svg onload=');
  expect(await page.evaluate(() => document.querySelectorAll('#app img, #app script, #app svg, #app iframe').length)).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  await page.click('#back');
  await page.waitForSelector('#inbox');
  expect(pageErrors).toEqual([]);
});

it('locking empties the page; the passphrase opens the device again from IndexedDB', async () => {
  const cases = await page.$$eval('#inbox button.open-thread', (els) => els.map((e) => e.textContent ?? ''));
  expect(cases.length).toBe(3); // the referral, the read-receipt one and the hostile one
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  const body = await page.evaluate(() => document.body.innerText);
  for (const c of cases) expect(body).not.toContain(c);
  expect(body).not.toContain('Aigerim');
  expect(await page.isVisible('#lock')).toBe(false);
  await shot(page, 'locked');
  // What the browser keeps is sealed: no case code or name in IndexedDB or localStorage.
  const kept = await page.evaluate(
    () =>
      new Promise<string>((resolve, reject) => {
        const open = indexedDB.open('handover');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('records').objectStore('records').getAll();
          all.onsuccess = () => resolve(JSON.stringify([all.result, { ...localStorage }]));
          all.onerror = () => reject(all.error);
        };
      }),
  );
  expect(kept.length).toBeGreaterThan(1000);
  for (const c of [...cases, 'Aigerim', 'Bed 4', 'onerror']) expect(kept).not.toContain(c);

  await page.fill('#unlock input[name="passphrase"]', 'not the passphrase at all');
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#unlock .form-error:text-is("Wrong passphrase.")', { timeout: 30_000 });
  await page.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  const started = Date.now();
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#inbox', { timeout: 30_000 });
  figures['unlock-to-inbox-ms'] = Date.now() - started;
  // The inbox opened from the browser's copy; the tests after this one need the relay.
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
  // Argon2id ran in the Web Worker, not on the page's thread.
  expect(await page.evaluate(() => document.documentElement.dataset.kdf)).toBe('worker');
  expect(await page.$$eval('#inbox button.open-thread', (els) => els.length)).toBe(3);
});

it('speaks Arabic right to left, and Russian', async () => {
  await page.selectOption('#language', 'ar');
  await page.waitForSelector('h1:text-is("الوارد")');
  expect(await page.evaluate(() => [document.documentElement.dir, document.documentElement.lang])).toEqual(['rtl', 'ar']);
  await shot(page, 'inbox-ar');
  await page.selectOption('#language', 'ru');
  await page.waitForSelector('h1:text-is("Входящие")');
  await shot(page, 'inbox-ru');
  expect(await page.evaluate(() => document.documentElement.dir)).toBe('ltr');
  await page.selectOption('#language', 'en');
  await page.waitForSelector('h1:text-is("Inbox")');
});

it('the directory lists the orgs with fingerprints; the right digits mark one verified by phone, wrong ones warn', async () => {
  await page.click('#open-directory');
  await page.waitForSelector('#directory');
  expect(await page.$$eval('#directory > li', (els) => els.map((e) => e.getAttribute('data-org')).sort())).toEqual([iom.orgId, ngo.orgId, shelter.orgId].sort());
  const item = `#directory > li[data-org="${ngo.orgId}"]`;
  const fingerprint = keyFingerprint(fx.crypto, 'org', ngo.orgId, ngo.certificate.publicKey);
  expect(await page.textContent(`${item} .mono`)).toBe(fingerprint);
  await page.fill(`${item} input[name="digits"]`, fingerprint.replace(/1/g, '2'));
  await page.click(`${item} button[type="submit"]`);
  await page.waitForSelector(`${item} .verify-result.warning`);
  await page.fill(`${item} input[name="digits"]`, fingerprint);
  await page.click(`${item} button[type="submit"]`);
  await page.waitForSelector(`${item} .verified`);
  await shot(page, 'directory');
  await page.click('#back');
  await page.waitForSelector('#inbox');
});

it('the new-referral form puts the consent first, reports field errors, and sends a valid referral', async () => {
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  const sections = await page.$$eval('#referral-form fieldset[data-section]', (els) => els.map((e) => e.getAttribute('data-section')));
  expect(sections[0]).toBe('form.section.consent');
  await page.click('#send-referral');
  await page.waitForSelector('#form-summary:has-text("Please correct")');
  expect(await page.textContent('[data-field="identity.caseCode"] .field-error')).toBe('Required.');
  expect(await page.textContent('[data-field="consent.purposes"] .field-error')).toBe('Choose at least one.');

  const f = formField;
  await fillReferralBasics(page, ngo.orgId, [iom.orgId]);
  await page.fill(f('header.referringPrimaryCaseWorker.name'), 'Amina');
  await page.fill(f('header.senderCaseReference'), 'SH/2026/9');
  await page.fill(f('identity.caseCode'), 'SH-2026-0009');
  await page.fill(f('identity.firstName'), MARKER);
  await page.fill(f('identity.mobilePhone'), 'not a phone');
  await page.click('#send-referral');
  await page.waitForSelector('[data-field="identity.mobilePhone"] .field-error:text-is("Not in the expected format.")');
  await shot(page, 'referral-form-errors');
  await page.fill(f('identity.mobilePhone'), '+905551234567');
  // The preview says what the NGO will receive, and what the consent withholds from it.
  await page.check(`#referral-form [name="withheld"][value="riskSafety"]`);
  await page.waitForSelector(`#disclosure-preview li:has-text("${ngo.orgId} (ngo): receives")`);
  await page.waitForSelector(`#disclosure-preview li:has-text("${iom.orgId} (iom): receives")`);
  expect(await page.textContent('#disclosure-preview')).toMatch(/withheld: Risk and safety/);
  await shot(page, 'referral-form-preview');
  const before = (await ngoCases.listThreads()).length;
  await page.click('#send-referral');
  await page.waitForSelector('#thread-status', { timeout: 30_000 });
  await eventually(async () => (await ngoCases.listThreads()).some((s) => s.caseCode === 'SH-2026-0009'), 15_000, 'the NGO receives the referral');
  expect((await ngoCases.listThreads()).length).toBe(before + 1);
  // The delivered notice reaches the page live: the sender sees its referral arrived.
  await page.waitForSelector(`#delivery li:has-text("${ngo.orgId}: reached 1 of 1 device")`, { timeout: 15_000 });
  // IOM, the coordinator, has the case too, without the group the consent withheld.
  await eventually(async () => (await iomCases.listThreads()).some((t) => t.caseCode === 'SH-2026-0009'), 15_000, 'IOM receives the referral');
  const atIom = (await iomCases.listThreads()).find((t) => t.caseCode === 'SH-2026-0009');
  expect((await iomCases.thread(atIom?.threadId ?? '')).referral?.riskSafety).toBeUndefined();
  // The NGO decrypted the name the page typed; nothing the page sent holds it in clear.
  const received = (await ngoCases.listThreads()).find((t) => t.caseCode === 'SH-2026-0009');
  expect((await ngoCases.thread(received?.threadId ?? '')).referral?.identity.firstName).toBe(MARKER);
  expect(sentByPage.length).toBeGreaterThan(10);
  expect(sentByPage.some((p) => p.startsWith('42'))).toBe(true); // Socket.IO event frames were recorded
  expect(sentByPage.filter((p) => p.includes(MARKER) || p.includes(Buffer.from(MARKER).toString('base64')))).toEqual([]);
  expect(pageErrors).toEqual([]);
});

it('schedules intake and records arrival; asks for information and sees the answer; a consent withdrawal purges the browser', async () => {
  await page.click('#back');
  await page.waitForSelector('#inbox');
  const threads = await ngoCases.listThreads();
  const accepted = threads.find((s) => s.status === 'accepted');
  const fresh = threads.find((s) => s.status === 'sent' && s.caseCode?.startsWith('XSS-'));
  if (!accepted?.caseCode || !fresh?.caseCode) throw new Error('the earlier tests left no accepted and no new thread');

  await openThread(accepted.caseCode);
  const tomorrow = new Date(Date.now() + 86_400_000);
  const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await page.fill('#action-schedule input[name="scheduledFor"]', local);
  await page.fill('#action-schedule input[name="location"]', 'Shelter office, 2nd floor');
  await page.click('#action-schedule button[type="submit"]');
  await page.waitForSelector('#thread-status:text-is("Intake scheduled")');
  await eventually(async () => (await ngoCases.thread(accepted.threadId)).status === 'intake-scheduled', 15_000, 'the NGO sees the intake date');
  await page.click('#action-arrived');
  await page.waitForSelector('#thread-status:text-is("Arrived")');
  await eventually(async () => (await ngoCases.thread(accepted.threadId)).status === 'arrived', 15_000, 'the NGO sees the arrival');
  await shot(page, 'thread-arrived');
  await page.click('#action-start-service');
  await page.waitForSelector('#thread-status:text-is("In service")');
  await page.click('#action-complete-service');
  await page.waitForSelector('#thread-status:text-is("Completed")');
  await eventually(async () => (await ngoCases.thread(accepted.threadId)).status === 'completed', 15_000, 'the NGO sees the service completed');

  await page.click('#back');
  await openThread(fresh.caseCode);
  await page.fill('#action-request-info textarea', 'Does she need a Kazakh interpreter at intake?');
  await page.click('#action-request-info button[type="submit"]');
  await page.waitForSelector('#thread-status:text-is("Information requested")');
  await eventually(async () => (await ngoCases.thread(fresh.threadId)).status === 'info-requested', 15_000, 'the NGO sees the question');
  await ngoCases.provideInfo(fresh.threadId, { details: 'Yes: Kazakh or Russian.' });
  // Live: the page shows the answer without a reload.
  await page.waitForSelector('#timeline li[data-type="referral.provide-info"] .event-detail:text-is("Yes: Kazakh or Russian.")', { timeout: 15_000 });

  await page.click('#back');
  await openThread(accepted.caseCode);
  await ngoCases.withdrawConsent(accepted.threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana Seitkali' } });
  await page.waitForSelector('#thread-status:text-is("Consent withdrawn")', { timeout: 15_000 });
  await page.waitForSelector('.notice:text-is("Consent was withdrawn: this case was deleted.")');
  expect(await page.textContent('#app')).not.toContain('Aigerim');
  await eventually(
    async () => ((await ngoCases.thread(accepted.threadId)).consentWithdrawal?.confirmed ?? []).some((c) => c.orgId === shelter.orgId),
    15_000,
    "the shelter browser's purge receipt",
  );
  await shot(page, 'thread-purged');
  expect(pageErrors).toEqual([]);
});

it('locks itself after the idle time, and the app the relay serves is small enough', async () => {
  // A second relay whose app locks after 3 s without input; a second device of the shelter.
  const quick = await startTestRelay(network, { config: { webApp: { dir: WEB_DIR, development: true, idleLockMinutes: 0.05 } } });
  const ctx = await browser.newContext();
  try {
    await postJson(quick.url, ROUTES.orgs, { certificate: shelter.certificate });
    const p = await ctx.newPage();
    await enrolBrowser(p, shelter, 'bora-browser', quick.url);
    await p.waitForSelector('#unlock', { timeout: 15_000 });
    expect(await p.isVisible('#new-referral')).toBe(false);
  } finally {
    await ctx.close();
    await quick.close();
  }
  // What the first screen loads: the assets index.html names (the unlock worker comes later, at unlock).
  const html = readFileSync(path.join(WEB_DIR, 'index.html'), 'utf8');
  const gz = (file: string) => gzipSync(readFileSync(path.join(WEB_DIR, 'assets', file)), { level: 9 }).length;
  const assets = readdirSync(path.join(WEB_DIR, 'assets'));
  const js = assets.filter((f) => html.includes(`/assets/${f}`)).reduce((sum, f) => sum + gz(f), 0);
  figures['first-screen-gzip-bytes'] = js;
  figures['unlock-worker-gzip-bytes'] = assets.filter((f) => !html.includes(`/assets/${f}`)).reduce((sum, f) => sum + gz(f), 0);
  // Issue 14's budget: 400 KiB compressed before libsodium, which has a chunk of its own (preloaded, cached).
  const sodium = assets.filter((f) => /^libsodium-.*\.js$/.test(f) && html.includes(`/assets/${f}`)).reduce((sum, f) => sum + gz(f), 0);
  expect(sodium).toBeGreaterThan(100 * 1024);
  figures['first-screen-before-libsodium-gzip-bytes'] = js - sodium;
  expect(js - sodium).toBeLessThanOrEqual(400 * 1024);
});
