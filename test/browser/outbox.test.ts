/**
 * The outbox survives a reload: the app runs as an office hosts it (served
 * on 127.0.0.1, the relay on another origin), the relay goes away, the
 * shelter's caseworker adds a note — shown as sending, in the thread and in
 * the outbox, kept encrypted in IndexedDB — reloads the page and unlocks
 * while the relay is still away, and sees it still waiting. The relay comes
 * back (same port, same Redis): the note goes by itself, and the NGO gets it
 * exactly once. Then a slow link (every frame the page sends on its
 * WebSocket held back 2.5 s): the note shows as sending, the box is empty at
 * once, and it arrives once. Then the two actions that change a case for
 * good, each recorded while the relay is away: adding an organisation (it
 * gets the thread once the relay is back), and the survivor's consent
 * withdrawal (kept through a reload with the case still on the device, then
 * sent once, and the NGO's device purges the case).
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { startWebServer, type WebServer } from '../../client/cli/web';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork } from '../support/network';
import { freePort, startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';
import { PASSPHRASE, enrolBrowser, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');

let redis: TestRedis;
let fx: RelayFixture | undefined;
let web: WebServer | undefined;
let browser: Browser | undefined;
let page: Page;
let ngoClient: HandoverClient | undefined;
let ngoCases: CaseService | undefined;
let iomClient: HandoverClient | undefined;
let iomCases: CaseService | undefined;
let threadId = '';
const pageErrors: string[] = [];
/** The first test's network, and the relay started again on its port and Redis (for the later tests). */
let shared: { network: TestNetwork; relay: () => Promise<RelayFixture>; crypto: Awaited<ReturnType<typeof loadCrypto>> } | undefined;
/** While set, every frame the page sends on its WebSocket is held back this long (a slow uplink). */
let holdSendsMs = 0;

afterAll(async () => {
  await browser?.close();
  ngoCases?.dispose();
  await ngoClient?.close();
  iomCases?.dispose();
  await iomClient?.close();
  await web?.close();
  await fx?.close();
  await redis?.destroy();
});

/** Every record the app keeps in this browser (IndexedDB and localStorage), as one string. */
function keptInBrowser(p: Page): Promise<string> {
  return p.evaluate(
    () =>
      new Promise<string>((resolve, reject) => {
        const open = indexedDB.open('handover');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('records').objectStore('records').getAll();
          all.onsuccess = () => {
            open.result.close();
            resolve(JSON.stringify([all.result, { ...localStorage }]));
          };
          all.onerror = () => reject(all.error);
        };
      }),
  );
}

it('keeps a note sent while the relay is away, through a reload, and sends it once when the relay is back', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  const relayPort = await freePort();
  const webPort = await freePort();
  const relay = () => startTestRelay(network, { redisUrl: redis.url, config: { port: relayPort, corsOrigins: [`http://127.0.0.1:${webPort}`] } });
  fx = await relay();
  shared = { network, relay, crypto };
  web = await startWebServer({ dir: WEB_DIR, relay: fx.url, port: webPort });
  const ngo = network.addOrg('ngo-taraz', 'ngo');
  const shelter = network.addOrg('shelter-ist', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  browser = await launchChromium();
  const context = await browser.newContext();
  await context.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    // A slow uplink: every frame the page sends goes on `holdSendsMs` later, in order (an envelope's binary parts follow its header).
    let previous = Promise.resolve();
    ws.onMessage((frame) => {
      const due = Date.now() + holdSendsMs;
      previous = previous.then(async () => {
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        server.send(frame);
      });
    });
  });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await enrolBrowser(page, { url: web.url, crypto }, shelter, 'night-desk');
  expect(await page.textContent('#open-outbox')).toBe('Outbox (0)');

  ngoClient = await enrolClient(fx, ngo, 'dana');
  ngoCases = new CaseService({ transport: ngoClient });
  await ngoCases.start();
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const now = Date.now();
  ({ threadId } = await ngoCases.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' }, coordinators: [] },
    identity: { ...example.identity, caseCode: 'OUTBOX-0001' },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId], withheld: [] },
  }));
  await page.click('#inbox button.open-thread:text-is("OUTBOX-0001")', { timeout: 20_000 });
  await page.waitForSelector('#thread-status');

  // The relay goes away.
  await fx.close();
  fx = undefined;
  await page.waitForSelector('#connection:has-text("Offline")', { timeout: 20_000 });
  const note = `Room 12 kept for her ${Math.random().toString(36).slice(2, 8)}`;
  await page.fill('#action-note textarea', note);
  await page.click('#action-note button[type="submit"]');
  await page.waitForSelector('#pending li[data-type="note"] .pending-state:text-is("Sending… (waiting for the relay)")');
  expect(await page.textContent('#pending li[data-type="note"] .event-detail')).toBe(note);
  await page.waitForSelector('#action-result:has-text("in the outbox")');
  expect(await page.inputValue('#action-note textarea')).toBe('');
  expect(await page.textContent('#open-outbox')).toBe('Outbox (1)');
  // Kept sealed: the note is nowhere in the browser's storage in clear.
  expect(await keptInBrowser(page)).not.toContain(note.slice(0, 12));

  // Reload and unlock while the relay is still away: the note is still waiting.
  await page.reload();
  await page.waitForSelector('html[data-ready="true"]');
  await page.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#open-outbox:text-is("Outbox (1)")', { timeout: 30_000 });
  // The inbox opens before the sign-in ends ("Connecting…"); the failed sign-in then says "Offline".
  await page.waitForSelector('#connection:has-text("Offline")', { timeout: 20_000 });
  await page.click('#open-outbox');
  await page.waitForSelector('#outbox-items li[data-state="waiting"]');
  const line = (await page.textContent('#outbox-items li')) ?? '';
  expect(line).toContain('OUTBOX-0001');
  expect(line).toContain('Note');
  // The outbox names the case and the kind of action, not what the note says.
  expect(line).not.toContain(note);
  await page.click('#outbox-items li button.open-thread');
  await page.waitForSelector('#pending li[data-type="note"]');
  expect(await page.textContent('#pending li[data-type="note"] .pending-state')).toMatch(/^Sending…/);

  // The relay comes back: the app connects by itself and the note goes.
  fx = await relay();
  await page.waitForSelector('#pending', { state: 'detached', timeout: 45_000 });
  await page.waitForSelector(`#timeline li[data-type="note"] .event-detail:text-is("${note}")`);
  expect(await page.textContent('#open-outbox')).toBe('Outbox (0)');
  const notes = async () => (await ngoCases!.thread(threadId)).timeline.filter((e) => e.type === 'note').length;
  await eventually(async () => (await notes()) === 1, 20_000, 'the NGO receives the note');
  const events = await ngoCases.events(threadId);
  expect(events.filter((e) => e.event.type === 'note' && e.event.body.text === note)).toHaveLength(1);
  // Once only: nothing more arrives after a while, and the page's own thread has it once.
  await new Promise((r) => setTimeout(r, 1500));
  expect(await notes()).toBe(1);
  expect(await page.$$eval('#timeline li[data-type="note"]', (els) => els.length)).toBe(1);
  expect(pageErrors).toEqual([]);
});

it('shows a note as sending while a slow relay takes its time, empties the box at once, and delivers it once', async () => {
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  holdSendsMs = 2500;
  const note = `Taxi booked ${Math.random().toString(36).slice(2, 8)}`;
  await page.fill('#action-note textarea', note);
  await page.click('#action-note button[type="submit"]');
  await page.waitForSelector('#pending li[data-type="note"][data-state="sending"] .pending-state:text-is("Sending…")', { timeout: 5000 });
  expect(await page.inputValue('#action-note textarea')).toBe('');
  expect(await page.textContent('#open-outbox')).toBe('Outbox (1)');
  await page.waitForSelector('#pending', { state: 'detached', timeout: 20_000 });
  holdSendsMs = 0;
  await page.waitForSelector(`#timeline li[data-type="note"] .event-detail:text-is("${note}")`);
  await eventually(async () => (await ngoCases!.events(threadId)).some((e) => e.event.type === 'note' && e.event.body.text === note), 20_000, 'the NGO receives the second note');
  await new Promise((r) => setTimeout(r, 1000));
  expect((await ngoCases!.events(threadId)).filter((e) => e.event.type === 'note' && e.event.body.text === note)).toHaveLength(1);
  expect(pageErrors).toEqual([]);
});

/** The NGO refers a new case to the shelter (the page's org); the consent covers the given orgs for services. */
async function referToShelter(caseCode: string, coveredOrgIds: string[]): Promise<string> {
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const now = Date.now();
  const { threadId: id } = await ngoCases!.refer({
    ...example,
    header: { ...example.header, referredOrganisation: { orgId: 'shelter-ist', orgType: 'shelter' }, coordinators: [] },
    identity: { ...example.identity, caseCode },
    consent: { ...example.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds, withheld: [] },
  });
  return id;
}

async function relayAway(): Promise<void> {
  await fx!.close();
  fx = undefined;
  await page.waitForSelector('#connection:has-text("Offline")', { timeout: 20_000 });
}

async function reloadAndUnlock(): Promise<void> {
  await page.reload();
  await page.waitForSelector('html[data-ready="true"]');
  await page.fill('#unlock input[name="passphrase"]', PASSPHRASE);
  await page.click('#unlock button[type="submit"]');
  await page.waitForSelector('#open-outbox', { timeout: 30_000 });
}

it('keeps adding an organisation while the relay is away, and adds it once when the relay is back: the new org gets the thread', async () => {
  const { network } = shared!;
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  const iom = network.addOrg('iom-ist', 'iom');
  iomClient = await enrolClient(fx!, iom, 'aliya');
  iomCases = new CaseService({ transport: iomClient });
  await iomCases.start();
  const addThread = await referToShelter('OUTBOX-0002', ['shelter-ist', 'iom-ist']);
  // The page learns of the new org from the directory at its next sign-in.
  await reloadAndUnlock();
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  await page.click('#inbox button.open-thread:text-is("OUTBOX-0002")', { timeout: 20_000 });
  await page.waitForSelector('#action-add-participant select[name="orgId"] option[value="iom-ist"]', { state: 'attached' });

  await relayAway();
  await page.selectOption('#action-add-participant select[name="orgId"]', 'iom-ist');
  await page.selectOption('#action-add-participant select[name="purpose"]', 'services');
  // Covered by the consent (checked now, and again by the case layer when it is sent): no override asked for.
  expect(await page.isHidden('#add-scope')).toBe(true);
  await page.click('#action-add-participant button[type="submit"]');
  const pending = '#pending li[data-type="participant.add"]';
  await page.waitForSelector(`${pending} .pending-state:text-is("Sending… (waiting for the relay)")`);
  expect(await page.textContent(`${pending} .event-detail`)).toBe('Adding iom-ist (Services), waiting to be sent');
  await page.waitForSelector('#action-result:has-text("in the outbox")');
  expect(await page.textContent('#open-outbox')).toBe('Outbox (1)');
  // Not offered twice while it waits.
  expect(await page.$$('#action-add-participant option[value="iom-ist"]')).toHaveLength(0);
  await page.click('#open-outbox');
  await page.waitForSelector('#outbox-items li[data-state="waiting"]');
  const line = (await page.textContent('#outbox-items li')) ?? '';
  expect(line).toContain('OUTBOX-0002');
  expect(line).toContain('Adding iom-ist (Services), waiting to be sent');
  await page.click('#outbox-items li button.open-thread');
  await page.waitForSelector(pending);

  // The relay comes back: the org is added once, and gets the thread's history.
  fx = await shared!.relay();
  await page.waitForSelector('#pending', { state: 'detached', timeout: 45_000 });
  await page.waitForSelector('#timeline li[data-type="participant.add"]');
  expect(await page.textContent('#open-outbox')).toBe('Outbox (0)');
  await eventually(async () => (await iomCases!.thread(addThread)).referral?.identity.caseCode === 'OUTBOX-0002', 30_000, 'the new org gets the thread');
  expect((await iomCases.thread(addThread)).participants.map((p) => p.orgId)).toContain('iom-ist');
  await new Promise((r) => setTimeout(r, 1500));
  const adds = (await ngoCases!.events(addThread)).filter((e) => e.event.type === 'participant.add');
  expect(adds).toHaveLength(1);
  expect(await page.$$eval('#timeline li[data-type="participant.add"]', (els) => els.length)).toBe(1);
  expect(pageErrors).toEqual([]);
}, 150_000);

it('keeps a consent withdrawal while the relay is away, the case still on this device, through a reload; sent once when it is back, and the NGO purges the case', async () => {
  await page.waitForSelector('#connection:text-is("Connected")', { timeout: 20_000 });
  const withdrawThread = await referToShelter('OUTBOX-0003', ['shelter-ist']);
  await page.click('#back');
  await page.click('#inbox button.open-thread:text-is("OUTBOX-0003")', { timeout: 20_000 });
  await page.waitForSelector('#referral-data');

  await relayAway();
  const recorder = `Aigul ${Math.random().toString(36).slice(2, 8)}`;
  await page.fill('#action-withdraw-consent input[name="recordedBy"]', recorder);
  page.once('dialog', (d) => void d.accept());
  await page.click('#action-withdraw-consent button[type="submit"]');
  const pending = '#pending li[data-type="consent.withdraw"]';
  await page.waitForSelector(`${pending} .pending-state:text-is("Sending… (waiting for the relay)")`);
  const waitingLine = `Consent withdrawal recorded by ${recorder}, waiting to be sent`;
  expect(await page.textContent(`${pending} .event-detail`)).toBe(waitingLine);
  // Said plainly: the survivor's data is still here until it goes; nothing more can be added meanwhile.
  expect(await page.textContent('#withdrawal-waiting')).toContain('the survivor’s data stays on this device');
  await page.waitForSelector('#referral-data');
  expect(await page.$$('#action-note, #action-withdraw-consent, #action-close, #action-add-participant')).toHaveLength(0);
  expect(await page.textContent('#open-outbox')).toBe('Outbox (1)');
  expect(await keptInBrowser(page)).not.toContain(recorder);

  // Reload and unlock while the relay is still away: it still waits, listed in the outbox, the case still readable.
  await reloadAndUnlock();
  await page.waitForSelector('#open-outbox:text-is("Outbox (1)")', { timeout: 30_000 });
  await page.waitForSelector('#connection:has-text("Offline")', { timeout: 20_000 });
  await page.click('#open-outbox');
  await page.waitForSelector('#outbox-items li[data-state="waiting"]');
  const line = (await page.textContent('#outbox-items li')) ?? '';
  expect(line).toContain('OUTBOX-0003');
  expect(line).toContain('Consent withdrawn');
  expect(line).toContain(waitingLine);
  await page.click('#outbox-items li button.open-thread');
  await page.waitForSelector(pending);
  await page.waitForSelector('#withdrawal-waiting');
  await page.waitForSelector('#referral-data');
  expect(await keptInBrowser(page)).not.toContain(recorder);

  // The relay comes back: the withdrawal goes, this page purges the case, and so does the NGO's device.
  fx = await shared!.relay();
  await page.waitForSelector('.notice:text-is("Consent was withdrawn: this case was deleted.")', { timeout: 45_000 });
  await page.waitForSelector('#pending', { state: 'detached' });
  expect(await page.$('#referral-data')).toBeNull();
  expect(await page.textContent('#open-outbox')).toBe('Outbox (0)');
  await eventually(async () => Boolean((await ngoCases!.thread(withdrawThread)).purged), 30_000, 'the NGO purges the case');
  // Once: nothing more of the thread reaches the NGO after its purge (a second withdrawal would be counted as discarded).
  await new Promise((r) => setTimeout(r, 1500));
  expect((await ngoCases!.thread(withdrawThread)).purged?.discardedLater).toBe(0);
  expect(await keptInBrowser(page)).not.toContain(recorder);
  expect(pageErrors).toEqual([]);
}, 150_000);
