/**
 * Offline at unlock: the cases this browser holds open anyway, the bar
 * says the relay cannot be reached, and the app connects by itself when
 * the relay is back (same port, same Redis) and shows what arrived.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { type TestDevice, TestNetwork, type TestOrg } from '../support/network';
import { freePort, startRedis, type TestRedis } from '../support/redis';
import { enrolClient, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { PASSPHRASE, enrolBrowser, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');

let redis: TestRedis;
let fx: RelayFixture | undefined;
let browser: Browser;
let page: Page;
let ngoClient: HandoverClient | undefined;
let network: TestNetwork;
let shelter: TestOrg;

afterAll(async () => {
  await browser?.close();
  await ngoClient?.close();
  await fx?.close();
  await redis?.destroy();
});

it('opens offline, says so, and connects by itself when the relay is back', async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  const port = await freePort();
  const relay = () => startTestRelay(network, { redisUrl: redis.url, config: { port, webApp: { dir: WEB_DIR, development: true } } });
  fx = await relay();
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  await enrolBrowser(page, { url: fx.url, crypto }, shelter, 'night-desk');
  await page.click('#lock');
  await page.waitForSelector('#unlock');

  await fx.close();
  fx = undefined;
  // The worker's script came at set-up (an immutable asset, cached); a browser that cannot load it at all
  // (a cleared cache, the app's host away) is played by refusing it.
  await page.route('**/assets/unlock-worker-*', (route) => route.abort());
  await page.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#inbox-empty', { timeout: 30_000 });
  // The inbox opens before the sign-in ends ("Connecting…"); the failed sign-in then says "Offline".
  await page.waitForSelector('#connection:has-text("Offline")', { timeout: 20_000 });
  // The worker's script could not load: Argon2id ran on the page.
  expect(await page.evaluate(() => document.documentElement.dataset.kdf)).toBe('page');

  fx = await relay();
  ngoClient = await enrolClient(fx, ngo, 'dana');
  const cases = new CaseService({ transport: ngoClient });
  await cases.start();
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const now = Date.now();
  await cases.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...example.identity, caseCode: 'NIGHT-0001' },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  });
  cases.dispose();
  await page.waitForSelector('#inbox button.open-thread:text-is("NIGHT-0001")', { timeout: 20_000 });
});

it('says so when its organisation revokes this device, at once and at the next unlock, and stops trying', async () => {
  const live = fx!;
  // The shelter's admin revokes the browser's device: the relay closes its socket and refuses its next sign-in.
  const browserDevice = { org: shelter, keys: { deviceId: `${shelter.orgId}:night-desk` } } as unknown as TestDevice;
  expect((await postJson(live.url, ROUTES.revocations, { revocation: network.revokeDevice(browserDevice, 'laptop lost') })).status).toBe(201);
  await page.waitForSelector('#connection[data-state="revoked"]', { timeout: 30_000 });
  expect(await page.getAttribute('#connection', 'role')).toBe('alert');
  expect(await page.textContent('#connection')).toMatch(/^Revoked: the relay refuses this device/);
  // At the next unlock the first sign-in is refused for good: revoked, not "offline", and no retry turns it back.
  await page.click('#lock');
  await page.waitForSelector('#unlock');
  await page.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#connection[data-state="revoked"]', { timeout: 30_000 });
  const signIns: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/auth/')) signIns.push(r.url());
  });
  await page.waitForTimeout(6_000); // longer than the first retry wait (5 s) of an offline session
  expect(signIns).toEqual([]);
  expect(await page.getAttribute('#connection', 'data-state')).toBe('revoked');
});
