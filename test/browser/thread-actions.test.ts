/**
 * Thread actions the CLI had first, in the web app: resend after expiry, against its own relay that keeps
 * envelopes for 2.5 s only: the shelter's browser acknowledges a referral
 * while one of the NGO's two devices is away; that copy expires undelivered,
 * the thread says so and offers to send it again; the device, back, gets
 * the acknowledgement as the browser signed it. Then: a history transfer
 * still arriving shows on the inbox, live, with how far it got; the shelter
 * adds IOM from the directory, and IOM's browser records a return step.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import { historyItem } from '../../client/sdk/history';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { type TestOrg, TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');

let redis: TestRedis;
let fx: RelayFixture | undefined;
let browser: Browser | undefined;
const clients: HandoverClient[] = [];
let page: Page;
let dana: HandoverClient;
let threadId = '';
let iom: TestOrg;
let network: TestNetwork;
let example: Record<string, Record<string, unknown>>;
const pageErrors: string[] = [];

afterAll(async () => {
  await browser?.close();
  for (const c of clients) await c.close();
  await fx?.close();
  await redis?.destroy();
});

it('shows what expired undelivered and sends it again to the device that was away', async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { retentionMs: 2500, expirySweepMs: 100, webApp: { dir: WEB_DIR, development: true } } });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  const shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  iom = network.addOrg('iom-ist', 'iom');
  await postJson(fx.url, ROUTES.orgs, { certificate: iom.certificate });
  await enrolBrowser(page, { url: fx.url, crypto }, shelter, 'amina-browser');

  dana = await enrolClient(fx, ngo, 'dana');
  const bora = await enrolClient(fx, ngo, 'bora');
  clients.push(dana, bora);
  await bora.close();
  const cases = new CaseService({ transport: dana });
  await cases.start();
  example = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const now = Date.now();
  const sent = await cases.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...example.identity, caseCode: 'RESEND-0001' },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId, iom.orgId], withheld: [] },
  });
  cases.dispose();
  threadId = sent.threadId;

  await page.click('#inbox button.open-thread:text-is("RESEND-0001")', { timeout: 20_000 });
  await page.waitForSelector('#thread-status');
  await page.click('#action-acknowledge');
  await page.waitForSelector('#thread-status:text-is("Acknowledged")');
  // Bora's copy outlives the relay's retention: the expired notice reaches the page live.
  await page.waitForSelector(`#delivery li:has-text("${ngo.orgId}: reached 1 of 2 devices, 1 expired undelivered")`, { timeout: 15_000 });
  expect(await page.isVisible('#resend-expired')).toBe(true);

  await bora.connect();
  await page.click('#resend-expired');
  await page.waitForSelector('#resend-result:text-is("Messages sent again: 1")', { timeout: 15_000 });
  // Nothing is left expired: no button, and the log no longer counts it as expired.
  expect(await page.isVisible('#resend-expired')).toBe(false);
  await page.waitForSelector(`#delivery li:has-text("${ngo.orgId}: reached 1 of 2 devices")`);
  expect(await page.textContent('#delivery')).not.toContain('expired undelivered');
  // Bora receives the acknowledgement the browser signed, forwarded as it was.
  await eventually(
    async () => (await bora.threadMessages(sent.threadId)).some((m) => m.senderDeviceId.startsWith(`${shelter.orgId}:`)),
    15_000,
    'the acknowledgement on the device that was away',
  );
  expect(pageErrors).toEqual([]);
});

it('shows a history transfer still arriving on the inbox, with how far it got', async () => {
  await page.click('#back');
  await page.waitForSelector('#inbox');
  expect(await page.isVisible('#history-progress')).toBe(false);
  // The NGO's device forwards its referral as the first and then the second of a transfer of three
  // (a transfer is a run of such carriers; the browser counts what arrived of it).
  const original = (await dana.threadMessages(threadId, { originals: true })).find((m) => m.original)?.original;
  if (!original) throw new Error('the NGO device keeps no original of its referral');
  const item = (index: number) => dana.send({ threadId, orgIds: ['shelter-ist'], payload: historyItem(original, 'TRANSFERTRANSFERTRANSA', index, 3), carries: 'history' });
  await item(1);
  await page.waitForSelector('#history-progress li:text-is("Receiving history from ngo-taraz:dana: 1 of 3 messages")', { timeout: 15_000 });
  await item(2);
  await page.waitForSelector('#history-progress li:text-is("Receiving history from ngo-taraz:dana: 2 of 3 messages")', { timeout: 15_000 });
  await item(3);
  // Complete: no longer shown; the case was not stored twice.
  await page.waitForSelector('#history-progress', { state: 'detached', timeout: 15_000 });
  expect(await page.$$eval('#inbox button.open-thread', (els) => els.length)).toBe(1);
  expect(pageErrors).toEqual([]);
});

it('adds IOM to the case from the directory; IOM, in its own browser, records a return step the others see', async () => {
  await page.click('#inbox button.open-thread:text-is("RESEND-0001")');
  await page.waitForSelector('#thread-status');
  // The shelter is no IOM office: no return steps for it.
  expect(await page.isVisible('#action-return-step')).toBe(false);
  const iomPage = await (await browser!.newContext()).newPage();
  iomPage.on('pageerror', (err) => pageErrors.push(err.message));
  await enrolBrowser(iomPage, { url: fx!.url, crypto: fx!.crypto }, iom, 'selin-browser');

  expect(await page.$$eval('#action-add-participant select[name="orgId"] option', (els) => els.map((e) => e.getAttribute('value')))).toEqual([iom.orgId]);
  await page.selectOption('#action-add-participant select[name="purpose"]', 'return');
  await page.click('#action-add-participant button[type="submit"]');
  await page.waitForSelector(`#timeline li[data-type="participant.add"] .event-detail:text-is("${iom.orgId} — Return")`, { timeout: 15_000 });
  const danaCases = new CaseService({ transport: dana });
  await danaCases.start();
  try {
    await eventually(async () => (await danaCases.thread(threadId)).participants.some((p) => p.orgId === iom.orgId), 15_000, 'the NGO sees IOM added');
    // IOM's browser got the case's history, and may record return steps.
    await iomPage.click('#inbox button.open-thread:text-is("RESEND-0001")', { timeout: 20_000 });
    await iomPage.waitForSelector('#action-return-step');
    expect(await iomPage.isVisible('#action-add-participant')).toBe(false);
    await iomPage.selectOption('#action-return-step select[name="step"]', 'return-requested');
    await iomPage.selectOption('#action-return-step select[name="status"]', 'done');
    await iomPage.fill('#action-return-step input[name="note"]', 'Asked at the consulate');
    await iomPage.click('#action-return-step button[type="submit"]');
    await iomPage.waitForSelector('#timeline li[data-type="return.step"] .event-detail:text-is("Return requested: Done — Asked at the consulate")', { timeout: 15_000 });
    await page.waitForSelector('#timeline li[data-type="return.step"]', { timeout: 15_000 });
    await eventually(async () => (await danaCases.thread(threadId)).timeline.some((e) => e.type === 'return.step'), 15_000, 'the NGO sees the return step');
    // A step out of order is refused by the state machine and said so, not sent.
    await iomPage.selectOption('#action-return-step select[name="step"]', 'departure-confirmed');
    await iomPage.selectOption('#action-return-step select[name="status"]', 'done');
    await iomPage.click('#action-return-step button[type="submit"]');
    await iomPage.waitForSelector('#action-result.error');
  } finally {
    danaCases.dispose();
  }
  expect(pageErrors).toEqual([]);
});
