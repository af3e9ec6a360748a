/**
 * An org key change and a discarded pending referral, in the web app. The
 * browser (the shelter) talks to an honest relay on a real redis-server
 * through the forwarding proxy (test/support/hostile-relay.ts), which here
 * only refuses one org's bundles when told to and cuts the sockets.
 *
 * IOM gets a new org key certified by the root and its device re-certified
 * under it. A referral from the form to IOM is then kept in the outbox: the
 * outbox says to open the directory (not the CLI command), the directory
 * lists the change with the old and the new fingerprint; wrong digits are
 * refused and change nothing, the right ones accept the key, and the
 * waiting referral goes out to IOM under its new key.
 *
 * A referral to an org whose bundles the relay refuses waits in the outbox;
 * "Do not send" (confirmed) takes it out, and at the next reconnect only
 * the referral kept is sent.
 */
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate, issueOrgCertificate } from '../../shared/certificates';
import { fingerprint } from '../../shared';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import { HostileRelay } from '../support/hostile-relay';
import { TestNetwork, type TestOrg } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, fillReferralBasics, formField, launchChromium } from './browser';
import { seriousViolations } from './screens';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const DAY = 86_400_000;

let redis: TestRedis;
let fx: RelayFixture;
let proxy: HostileRelay;
let network: TestNetwork;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let shelter: TestOrg;
let iom: TestOrg;
let refused: TestOrg;
let iomClient: HandoverClient;
let iomCases: CaseService;
let refusedClient: HandoverClient;
let refusedCases: CaseService;
const pageErrors: string[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'silent', config: { webApp: { dir: WEB_DIR, development: true } } });
  proxy = await HostileRelay.start(fx.url);
  shelter = network.addOrg('shelter-ist', 'shelter');
  iom = network.addOrg('iom-ist', 'iom');
  refused = network.addOrg('ngo-refused', 'ngo');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  iomClient = await enrolClient(fx, iom, 'selin');
  iomCases = new CaseService({ transport: iomClient, crypto });
  await iomCases.start();
  refusedClient = await enrolClient(fx, refused, 'dana');
  refusedCases = new CaseService({ transport: refusedClient, crypto });
  await refusedCases.start();
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  await enrolBrowser(page, { url: proxy.url, crypto }, shelter, 'amina-browser');
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  iomCases?.dispose();
  await iomClient?.close();
  refusedCases?.dispose();
  await refusedClient?.close();
  await proxy?.close();
  await fx?.close();
  await redis?.destroy();
});

async function backToInbox(): Promise<void> {
  if (await page.isVisible('#back')) await page.click('#back');
  else if (await page.isVisible('#send-referral')) await page.click('#send-referral ~ button.secondary');
  await page.waitForSelector('#new-referral', { timeout: 10_000 });
}

/** Fill and send the referral form to `orgId`; waits for the outbox screen to list `pending` referrals with their last attempt. */
async function referFromForm(orgId: string, caseCode: string, pending: number): Promise<void> {
  await backToInbox();
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  const f = formField;
  await fillReferralBasics(page, orgId, []);
  await page.fill(f('header.referringPrimaryCaseWorker.name'), 'Amina Yilmaz');
  await page.fill(f('header.senderCaseReference'), `IST/${caseCode}`);
  await page.fill(f('identity.caseCode'), caseCode);
  await page.fill(f('identity.firstName'), 'Aigerim');
  await page.click('#send-referral');
  await page.waitForFunction((n) => document.querySelectorAll('#outbox-items li[data-referral] .hint').length >= n, pending, { timeout: 20_000 });
}

const referralLines = () => page.$$eval('#outbox-items li[data-referral]', (els) => els.map((e) => e.textContent ?? ''));

it('a re-keyed org: the outbox points to the directory, which shows both fingerprints; wrong digits refuse, the right ones accept and the referral goes out', async () => {
  const oldFingerprint = fingerprint(fx.crypto, 'org', iom.orgId, iom.keys.publicKey);
  // IOM's admin gets a new org key certified by the root and re-certifies its device under it.
  const newKeys = fx.crypto.signKeyPair();
  const now = Date.now();
  const { signature: _s, ...unsigned } = iom.certificate as TestOrg['certificate'] & { signature: string };
  const { v: _v, kind: _k, ...rest } = unsigned as typeof unsigned & { v: unknown; kind: unknown };
  const newCert = issueOrgCertificate(fx.crypto, { ...rest, publicKey: toB64u(newKeys.publicKey), serial: iom.certificate.serial + 1, issuedAt: now - 500, expiresAt: now + 365 * DAY }, network.root.privateKey);
  expect((await postJson(fx.url, ROUTES.orgs, { certificate: newCert })).status).toBeLessThan(300);
  const deviceCert = issueDeviceCertificate(fx.crypto, {
    request: iomClient.enrolmentRequest(),
    orgCertificate: newCert,
    orgPrivateKey: newKeys.privateKey,
    role: 'caseworker',
    issuedAt: now - 400,
    expiresAt: now + 90 * DAY,
  });
  await iomClient.importCertificates(newCert, deviceCert);
  await iomClient.register();
  const newFingerprint = fingerprint(fx.crypto, 'org', iom.orgId, newKeys.publicKey);
  expect(newFingerprint).not.toBe(oldFingerprint);

  // The referral to IOM is kept: the outbox says to open the directory, not to run a CLI command.
  await referFromForm(iom.orgId, 'REKEY-0001', 1);
  const [line] = await referralLines();
  expect(line).toContain('iom-ist');
  // It names the organisation still waiting, not the kind of message.
  expect(line).toMatch(/not yet sent to iom-ist/);
  expect(line).not.toContain('referral.create');
  expect(line).toMatch(/open the directory to check the new key/i);
  expect(line).not.toMatch(/handover trust|accept-org-key/);
  expect(await page.textContent('#outbox-items li[data-referral] button.open-directory')).toBe('Open the directory');
  expect(await iomCases.listThreads()).toEqual([]);

  // The inbox's directory button counts the change.
  await backToInbox();
  expect(await page.textContent('#open-directory')).toBe('Directory (1 key change to check)');

  // The directory (opened from the outbox) lists the change: who, what type, when, the old and the new fingerprint.
  await page.click('#open-outbox');
  await page.click('#outbox-items li[data-referral] button.open-directory');
  await page.waitForSelector('#key-changes');
  expect(await page.getAttribute('#key-changes', 'role')).toBe('alert');
  const change = '#key-changes li[data-org="iom-ist"]';
  const text = (await page.textContent(change)) ?? '';
  expect(text).toContain('(iom-ist)');
  expect(text).toMatch(/new key seen/);
  expect(await page.textContent(`${change} .old-fingerprint .mono`)).toBe(oldFingerprint);
  expect(await page.textContent(`${change} .new-fingerprint .mono`)).toBe(newFingerprint);
  expect(await page.textContent('#key-changes')).toMatch(/call the organisation on a number you already know/i);
  expect(await page.textContent('#key-changes')).toMatch(/impersonating/);
  expect(await seriousViolations(page)).toEqual([]);

  // The old fingerprint (what an impostor's victim might read out) and wrong digits: refused, nothing accepted.
  for (const wrong of [oldFingerprint, newFingerprint.replace(/\d$/, (d) => String((Number(d) + 1) % 10))]) {
    await page.fill(`${change} input[name="digits"]`, wrong);
    await page.click(`${change} button[type="submit"]`);
    await page.waitForSelector(`${change} .verify-result.warning`);
    expect(await page.textContent(`${change} .verify-result`)).toMatch(/^Does not match the new key: nothing was changed/);
    await page.evaluate((sel) => {
      const el = document.querySelector(`${sel} .verify-result`);
      if (el) el.className = 'verify-result';
    }, change);
  }
  expect(await page.isVisible('#key-changes')).toBe(true);
  expect(await iomCases.listThreads()).toEqual([]);

  // The right digits (typed in groups with spaces): accepted, the change is gone, the new key is the one verified.
  await page.fill(`${change} input[name="digits"]`, newFingerprint.replace(/(\d{5})/g, '$1 ').trim());
  await page.click(`${change} button[type="submit"]`);
  await page.waitForSelector('#key-changes', { state: 'detached', timeout: 10_000 });
  expect(await page.textContent('#directory li[data-org="iom-ist"] .mono')).toBe(newFingerprint);
  expect(await page.textContent('#directory li[data-org="iom-ist"] .verified')).toContain('Verified by phone');

  // The referral that waited goes out to IOM under its new key.
  await eventually(async () => (await iomCases.listThreads()).some((th) => th.caseCode === 'REKEY-0001'), 20_000, 'the referral at IOM');
  await backToInbox();
  expect(await page.textContent('#open-directory')).toBe('Directory');
  expect(pageErrors).toEqual([]);
});

it('a pending referral discarded from the outbox disappears and is not sent at the next reconnect; the one kept is', async () => {
  // The relay refuses the bundles of one org: referrals to it wait in the outbox.
  proxy.rewrite(/\/v1\/orgs\/ngo-refused\/bundles/, () => ({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'not now' } } }));
  await referFromForm(refused.orgId, 'DISCARD-0001', 1);
  await referFromForm(refused.orgId, 'KEEP-0001', 2);
  const ids = await page.$$eval('#outbox-items li[data-referral]', (els) => els.map((e) => e.getAttribute('data-referral') ?? ''));
  expect(ids).toHaveLength(2);
  // The first listed is the older one (DISCARD-0001), each with why its last attempt failed.
  expect(await referralLines()).toEqual([expect.stringContaining('Last attempt: not now'), expect.stringContaining('Last attempt: not now')]);
  const discardId = ids[0]!;
  const kept = ids[1]!;

  await page.click(`#outbox-items li[data-referral="${discardId}"] button.discard`);
  await page.waitForSelector(`#outbox-items li[data-referral="${discardId}"]`, { state: 'detached', timeout: 10_000 });
  expect(dialogs.at(-1)).toMatch(/^Do not send this referral\? The organisations it has not reached yet never get it/);
  expect(await page.$$eval('#outbox-items li[data-referral]', (els) => els.map((e) => e.getAttribute('data-referral')))).toEqual([kept]);

  // The relay answers again; the sockets are cut and come back: the outbox sends what it holds.
  proxy.rewrites.length = 0;
  proxy.cutAll();
  await eventually(async () => (await refusedCases.listThreads()).some((th) => th.caseCode === 'KEEP-0001'), 20_000, 'the kept referral at the NGO');
  await page.waitForSelector('#outbox-empty', { timeout: 10_000 });
  // Sent in the same run as the kept one would have been: the discarded one never arrives.
  await refusedClient.sync();
  expect((await refusedCases.listThreads()).map((th) => th.caseCode)).toEqual(['KEEP-0001']);
  expect(pageErrors).toEqual([]);
});
