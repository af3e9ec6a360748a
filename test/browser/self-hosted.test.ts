/**
 * The app as an office runs it on one computer: `handover web` serves the
 * build on 127.0.0.1 and the app talks to a relay on another origin (CORS
 * for that origin only, the WebSocket across origins). The page requests
 * nothing but its own origin and the relay.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { defaultWebDir, startWebServer, type WebServer } from '../../client/cli/web';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork } from '../support/network';
import { freePort } from '../support/redis';
import { enrolClient, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { enrolBrowser, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');

let fx: RelayFixture;
let web: WebServer;
let browser: Browser;
let page: Page;
let ngoClient: HandoverClient;
const requested: string[] = [];

afterAll(async () => {
  await browser?.close();
  await ngoClient?.close();
  await web?.close();
  await fx?.close();
});

it('serves the app on 127.0.0.1; the app enrols and works a referral with a relay on another origin', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  fx = await startTestRelay(network, { config: { corsOrigins: [origin] } });
  web = await startWebServer({ dir: WEB_DIR, relay: fx.url, port });
  expect(web.url).toBe(origin);
  expect(defaultWebDir()).toBe(path.resolve(WEB_DIR));
  await expect(startWebServer({ dir: path.join(__dirname, '../../client/web'), relay: fx.url, port: 0 })).rejects.toThrow(/npm run build:web/);

  const res = await fetch(web.url);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain(`connect-src 'self' ${fx.url} ws://${new URL(fx.url).host}`);
  expect(csp).not.toContain('unsafe-inline');
  expect(await (await fetch(`${web.url}/app-config.json`)).json()).toEqual({ relay: fx.url, development: false });
  expect((await fetch(`${web.url}/%2e%2e/package.json`)).status).toBe(404);
  expect((await fetch(`${web.url}/../../package.json`)).status).toBe(404);

  const ngo = network.addOrg('ngo-taraz', 'ngo');
  const shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('websocket', (ws) => requested.push(ws.url()));
  await enrolBrowser(page, { url: web.url, crypto }, shelter, 'desk-1');
  expect(await page.isVisible('#banner')).toBe(false); // not a development relay's app

  ngoClient = await enrolClient(fx, ngo, 'dana');
  const cases = new CaseService({ transport: ngoClient });
  await cases.start();
  const example = (await import('../../examples/referral.json')).default as Record<string, Record<string, unknown>>;
  const now = Date.now();
  const sent = await cases.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...example.identity, caseCode: 'DESK-0001' },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  });
  await page.click('#inbox button.open-thread:text-is("DESK-0001")', { timeout: 20_000 });
  await page.click('#action-acknowledge');
  await page.waitForSelector('#thread-status:text-is("Acknowledged")');
  const deadline = Date.now() + 15_000;
  while ((await cases.thread(sent.threadId)).status !== 'acknowledged' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect((await cases.thread(sent.threadId)).status).toBe('acknowledged');
  cases.dispose();

  const relayHost = new URL(fx.url).host;
  for (const url of requested) expect([new URL(url).host === `127.0.0.1:${port}`, new URL(url).host === relayHost].some(Boolean)).toBe(true);
  expect(requested.some((u) => u.startsWith(`ws://${relayHost}/`))).toBe(true);
});
