/**
 * The web app against a compromised relay, the way an attacker works: the
 * browser loads the app from, and talks only to, a forwarding proxy
 * (test/support/hostile-relay.ts) in front of an honest relay on a real
 * redis-server. The proxy injects and tampers with delivery frames and
 * rewrites directory and bundle answers; a second certified org's SDK
 * device, a participant of the thread, sends properly signed but
 * malicious events. Each test asserts what the page shows and that
 * nothing bad is kept.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CaseService } from '../../client/referral';
import { EventEnvelope } from '../../client/referral/domain/schemas';
import type { HandoverClient } from '../../client/sdk/client';
import { type BundlesResponse, ROUTES } from '../../shared/api';
import { issueOrgCertificate } from '../../shared/certificates';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import { HostileRelay, socketEventName } from '../support/hostile-relay';
import { TestNetwork, type TestOrg } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, getJson, postJson, type RelayFixture, registerTestDevice, signInTestDevice, startTestRelay } from '../support/relay';
import { enrolBrowser, fillReferralBasics, formField, launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const EXAMPLE = JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')) as Record<string, Record<string, unknown>>;

let redis: TestRedis;
let fx: RelayFixture;
let proxy: HostileRelay;
let network: TestNetwork;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let ngo: TestOrg;
let shelter: TestOrg;
let iom: TestOrg;
let ngoClient: HandoverClient;
let ngoCases: CaseService;
let iomClient: HandoverClient;
let iomCases: CaseService;
const pageErrors: string[] = [];
/** Every URL the page asked for: all of them must go to the proxy. */
const requested: string[] = [];
let serial = 0;

/** A referral from the NGO to the shelter (IOM coordinating when asked), with `identity` fields overridden. */
function referral(identity: Record<string, unknown>, coordinators: TestOrg[] = []): unknown {
  const now = Date.now();
  return {
    ...EXAMPLE,
    header: {
      ...EXAMPLE.header,
      referredOrganisation: { orgId: shelter.orgId, orgType: 'shelter' },
      coordinators: coordinators.map((o) => ({ orgId: o.orgId, orgType: 'iom' })),
    },
    identity: { ...EXAMPLE.identity, caseCode: `HOST-${++serial}-${now}`, ...identity },
    consent: { ...EXAMPLE.consent, givenAt: now - 60_000, expiresAt: now + 30 * 86_400_000, coveredOrgIds: [shelter.orgId, ...coordinators.map((o) => o.orgId)], withheld: [] },
  };
}

const inboxCodes = () => page.$$eval('#inbox button.open-thread', (els) => els.map((e) => e.textContent ?? ''));
const failureLines = () => page.$$eval('.failed-message', (els) => els.map((e) => e.textContent ?? ''));
const inboxLength = (deviceId: string) => fx.relay.store.inboxLength(deviceId);
/** Back to the inbox from the thread, outbox or form screen. */
async function backToInbox(): Promise<void> {
  if (await page.isVisible('#back')) await page.click('#back');
  else if (await page.isVisible('#send-referral')) await page.click('#send-referral ~ button.secondary');
  await page.waitForSelector('#new-referral', { timeout: 10_000 });
}

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'silent', config: { webApp: { dir: WEB_DIR, development: true } } });
  proxy = await HostileRelay.start(fx.url);
  ngo = network.addOrg('ngo-taraz', 'ngo');
  shelter = network.addOrg('shelter-ist', 'shelter');
  iom = network.addOrg('iom-ist', 'iom');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  // The SDK devices talk to the honest relay directly: only the browser is behind the hostile one.
  ngoClient = await enrolClient(fx, ngo, 'dana');
  ngoCases = new CaseService({ transport: ngoClient });
  await ngoCases.start();
  iomClient = await enrolClient(fx, iom, 'selin');
  iomCases = new CaseService({ transport: iomClient, crypto });
  await iomCases.start();
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('request', (req) => requested.push(req.url()));
  page.on('dialog', (d) => {
    pageErrors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  // The page's origin is the proxy: the app's files, its API calls and its socket all go through it.
  await enrolBrowser(page, { url: proxy.url, crypto }, shelter, 'amina-browser');
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  ngoCases?.dispose();
  await ngoClient?.close();
  iomCases?.dispose();
  await iomClient?.close();
  await proxy?.close();
  await fx?.close();
  await redis?.destroy();
});

afterEach(() => {
  proxy.rewrites.length = 0;
  proxy.frameHooks.length = 0;
});

it('the app, its API calls and its socket all go through the proxy', async () => {
  const origin = new URL(proxy.url).origin;
  expect(requested.length).toBeGreaterThan(5);
  expect(requested.filter((u) => new URL(u).origin !== origin)).toEqual([]);
  // The static files came through it (the honest relay serves them; the proxy passed them on).
  expect(requested.some((u) => /\/assets\/index-.*\.js$/.test(u))).toBe(true);
  expect(proxy.exchanges.some((x) => x.path.startsWith('/v1/'))).toBe(true);
  expect(proxy.frames.some((f) => f.direction === 'to-client')).toBe(true);
  expect(await page.getAttribute('#connection', 'data-state')).toBe('connected');
});

it('a garbage delivery frame the relay injects is shown as a failure with its reason; no thread comes of it, and a genuine referral still arrives live', async () => {
  expect(await inboxCodes()).toEqual([]);
  const injected = proxy.injectToClients(
    '42["envelope:deliver",{"envelope":{"header":{"messageId":"AAAAAAAAAAAAAAAAAAAAAA","threadId":"HostileRe1ayThreadAAAA"},"signature":"x","ciphertext":"not binary"},"storedAt":1}]',
  );
  expect(injected).toBe(1);
  await page.waitForSelector('.failed-message', { timeout: 20_000 });
  const [line, ...more] = await failureLines();
  expect(more).toEqual([]);
  // Never blank: the sender as the frame claims it (or none) and a reason after the colon.
  expect(line).toMatch(/could not be opened: \S+/);
  expect(await page.getAttribute('.failed-message', 'role')).toBe('alert');

  // The app keeps working: a genuine referral sent afterwards arrives live, and it is the only thread.
  const sent = await ngoCases.refer(referral({ caseCode: 'LIVE-0001' }));
  await page.waitForSelector('#inbox button.open-thread:text-is("LIVE-0001")', { timeout: 20_000 });
  expect(await inboxCodes()).toEqual(['LIVE-0001']);
  expect(sent.threadId).not.toBe('HostileRe1ayThreadAAAA');
  expect(await failureLines()).toHaveLength(1);
  expect(await page.getAttribute('#connection', 'data-state')).toBe('connected');
  expect(pageErrors).toEqual([]);
});

/** Change the binary attachment (the version 2 frame) of the next deliveries, one mangler per delivery, in order. */
function tamperNextDeliveries(manglers: Array<(frame: Buffer) => Buffer>): { done: () => number } {
  let next: 'packet' | 'attachment' = 'packet';
  let used = 0;
  proxy.onFrame((frame, direction) => {
    if (direction !== 'to-client' || used >= manglers.length) return undefined;
    if (next === 'packet') {
      if (socketEventName(frame) === 'envelope:deliver' && typeof frame === 'string' && frame.startsWith('45')) next = 'attachment';
      return undefined;
    }
    if (typeof frame === 'string') return undefined;
    next = 'packet';
    return manglers[used++]!(Buffer.from(frame));
  });
  return { done: () => used };
}

it('a delivery the relay changed on the way (signature or ciphertext) is shown as a failure with its reason; the case never appears', async () => {
  const before = (await failureLines()).length;
  const flipSignature = (f: Buffer) => {
    const headerLength = f.readUInt32BE(1);
    f[5 + headerLength + 3] = (f[5 + headerLength + 3] ?? 0) ^ 1;
    return f;
  };
  const flipCiphertext = (f: Buffer) => {
    f[f.length - 2] = (f[f.length - 2] ?? 0) ^ 0x80;
    return f;
  };
  const tamper = tamperNextDeliveries([flipSignature, flipCiphertext]);
  const changedName = `Changed${Math.random().toString(36).slice(2, 8)}`;
  await ngoCases.refer(referral({ caseCode: 'TAMPER-SIG', firstName: changedName }));
  await eventually(() => tamper.done() === 1, 10_000, 'first delivery tampered');
  await ngoCases.refer(referral({ caseCode: 'TAMPER-CT', firstName: changedName }));
  await eventually(() => tamper.done() === 2, 10_000, 'second delivery tampered');
  await ngoCases.refer(referral({ caseCode: 'INTACT-0001' }));
  await page.waitForSelector('#inbox button.open-thread:text-is("INTACT-0001")', { timeout: 20_000 });
  await eventually(async () => (await failureLines()).length === before + 2, 10_000, 'both failures on the page');
  const lines = (await failureLines()).slice(before);
  expect(lines).toEqual([
    expect.stringMatching(new RegExp(`^A message from ${ngoClient.deviceId} could not be opened: its signature does not match its sender, or it was changed on the way\\. Details: .*is not signed by device ${ngoClient.deviceId}`)),
    expect.stringMatching(new RegExp(`^A message from ${ngoClient.deviceId} could not be opened: its signature does not match its sender, or it was changed on the way\\. Details: ciphertext does not match the signed hash`)),
  ]);
  // The changed messages were acked away (not retried), and nothing of them is shown or kept as a case.
  await eventually(async () => (await inboxLength(`${shelter.orgId}:amina-browser`)) === 0, 10_000, 'all acked');
  expect((await inboxCodes()).sort()).toEqual(['INTACT-0001', 'LIVE-0001']);
  expect(await page.evaluate(() => document.body.innerText)).not.toContain(changedName);
  expect(pageErrors).toEqual([]);
});

/** The referral form's receiving-org choices, as the page lists them. */
async function receivingChoices(): Promise<Record<string, string>> {
  await backToInbox();
  await page.click('#new-referral');
  await page.waitForSelector('#referral-form');
  const options = await page.$$eval(`${formField('header.referredOrganisation')} option`, (els) =>
    (els as HTMLOptionElement[]).filter((o) => o.value !== '').map((o) => [o.value, o.textContent ?? '']),
  );
  return Object.fromEntries(options);
}

/** Make the browser fetch the directory again: the relay (here the proxy) says the revocation list changed. */
async function directoryRefetched(): Promise<void> {
  const seen = proxy.exchanges.length;
  expect(proxy.injectToClients('42["revocations:changed",{"issuer":"root","seq":1}]')).toBe(1);
  await eventually(() => proxy.exchanges.slice(seen).some((x) => x.method === 'GET' && x.path === ROUTES.orgs), 10_000, 'the directory fetched again');
  await new Promise((r) => setTimeout(r, 300)); // the answer is checked and applied after it arrives
}

/** A root-signed certificate for `org` with a new key (the root, or a careless coordinator, certified it). */
function rekeyed(org: TestOrg, serialStep: number): { keys: ReturnType<RelayFixture['crypto']['signKeyPair']>; certificate: TestOrg['certificate'] } {
  const keys = fx.crypto.signKeyPair();
  const { signature: _s, v: _v, kind: _k, ...rest } = org.certificate as TestOrg['certificate'] & { v: unknown; kind: unknown };
  const certificate = issueOrgCertificate(fx.crypto, { ...rest, publicKey: toB64u(keys.publicKey), serial: org.certificate.serial + serialStep, issuedAt: Date.now() - 1000 }, network.root.privateKey);
  return { keys, certificate };
}

/**
 * Fill and send the referral form to IOM; returns what the page then says: the outbox's last attempts once it lists
 * `pending` referrals (or the form's error, or the sent thread).
 */
async function referToIomFromForm(caseCode: string, pending: number): Promise<string> {
  const f = formField;
  await fillReferralBasics(page, iom.orgId, []);
  await page.fill(f('header.referringPrimaryCaseWorker.name'), 'Amina Yilmaz');
  await page.fill(f('header.senderCaseReference'), `IST/${caseCode}`);
  await page.fill(f('identity.caseCode'), caseCode);
  await page.fill(f('identity.firstName'), 'Aigerim');
  await page.click('#send-referral');
  // The referral is kept in the outbox: the outbox screen lists it with why the last attempt failed.
  await page.waitForFunction(
    (n) => document.querySelectorAll('#outbox-items li[data-referral] .hint').length >= n || document.querySelector('#form-summary.error, #thread-status') !== null,
    pending,
    { timeout: 20_000 },
  );
  return (await page.$$eval('#outbox-items .hint, #form-summary.error, #thread-status', (els) => els.map((e) => e.textContent ?? ''))).join('\n');
}

describe('the relay rewrites the directory and the bundle answers', () => {
  it('a forged or re-keyed directory entry is not listed under its id or with another type', async () => {
    const honest = await receivingChoices();
    expect(Object.keys(honest).sort()).toEqual([iom.orgId, ngo.orgId]);
    // An org certified after the browser signed in, which the relay serves with another type (its certificate altered),
    // and IOM served under a new root-signed key.
    const late = network.addOrg('shelter-late', 'shelter');
    await postJson(fx.url, ROUTES.orgs, { certificate: late.certificate });
    const iomRekeyed = rekeyed(iom, 100);
    proxy.rewrite(/^\/v1\/orgs$/, (ex) => {
      const body = ex.body as { orgs: Array<{ certificate: { orgId: string; orgType: string } }> };
      return {
        status: 200,
        body: {
          orgs: body.orgs.map((e) =>
            e.certificate.orgId === late.orgId
              ? { ...e, certificate: { ...e.certificate, orgType: 'iom' } }
              : e.certificate.orgId === iom.orgId
                ? { ...e, certificate: iomRekeyed.certificate }
                : e,
          ),
        },
      };
    });
    await directoryRefetched();
    const attacked = await receivingChoices();
    // The altered certificate is not listed at all; IOM is listed as it was pinned (type and all), not as served.
    expect(attacked).toEqual(honest);
    proxy.rewrites.length = 0;

    // The honest answer lists the late org with its certified type: the refusal above was the forgery's.
    await directoryRefetched();
    let after: Record<string, string> = {};
    await eventually(async () => late.orgId in (after = await receivingChoices()), 10_000, 'the late org listed');
    expect(Object.keys(after).sort()).toEqual([iom.orgId, late.orgId, ngo.orgId].sort());
    expect(after[late.orgId]).toContain(late.orgId);
    expect(after[iom.orgId]).toBe(honest[iom.orgId]);
    await backToInbox();
  });

  it("another org's devices served as IOM's, or IOM under a new key: the send is refused with the reason on the page and nothing is sealed", async () => {
    // The attacker: a certified org with a registered device, whose honest bundle answer the relay replays as IOM's.
    const evil = network.addOrg('ngo-evil', 'ngo');
    const mallory = network.addDevice(evil, 'mallory', { oneTimePrekeys: 5 });
    expect((await registerTestDevice(fx.url, mallory)).status).toBe(201);
    const fetcher = network.addDevice(evil, 'fetcher', { oneTimePrekeys: 0 });
    expect((await registerTestDevice(fx.url, fetcher)).status).toBe(201);
    const evilBundles = (await getJson(fx.url, ROUTES.bundles(evil.orgId), await signInTestDevice(fx, fetcher))).json as BundlesResponse;
    const sends = () => proxy.frames.filter((fr) => fr.direction === 'to-relay' && fr.text !== undefined && socketEventName(fr.text) === 'envelope:send').length;
    const sendsBefore = sends();
    const iomInbox = await inboxLength(iomClient.deviceId);

    proxy.rewrite(/\/v1\/orgs\/iom-ist\/bundles/, () => ({ status: 200, body: evilBundles }));
    await receivingChoices();
    const said = await referToIomFromForm('SUBST-0001', 1);
    expect(said).toMatch(/Last attempt: the relay answered with org ngo-evil when asked for iom-ist; nothing was sent/);
    expect(await inboxLength(mallory.keys.deviceId)).toBe(0);

    // IOM under a new root-signed key, with an impostor device under it: a key change, not used.
    proxy.rewrites.length = 0;
    const impostor = rekeyed(iom, 200);
    const impostorOrg: TestOrg = { orgId: iom.orgId, keys: impostor.keys, certificate: impostor.certificate };
    const impostorDevice = network.addDevice(impostorOrg, 'selin');
    proxy.rewrite(/\/v1\/orgs\/iom-ist\/bundles/, () => ({ status: 200, body: { org: impostor.certificate, bundles: [network.bundle(impostorDevice)] } }));
    await receivingChoices();
    const said2 = await referToIomFromForm('REKEY-0001', 2);
    expect(said2).toMatch(/iom-ist now presents a NEW org key/);

    // Nothing left the browser for either: no envelope was sent, IOM's real device got nothing, no case was opened.
    expect(sends()).toBe(sendsBefore);
    expect(await inboxLength(iomClient.deviceId)).toBe(iomInbox);
    expect(await inboxLength(mallory.keys.deviceId)).toBe(0);
    await backToInbox();
    expect((await inboxCodes()).sort()).toEqual(['INTACT-0001', 'LIVE-0001']);

    // Once the relay answers honestly (the socket comes back), the outbox sends both to the real IOM under its pinned key.
    proxy.rewrites.length = 0;
    proxy.cutAll();
    await eventually(async () => {
      const codes = (await iomCases.listThreads()).map((th) => th.caseCode);
      return codes.includes('SUBST-0001') && codes.includes('REKEY-0001');
    }, 20_000, 'both referrals at the real IOM');
    expect(await inboxLength(mallory.keys.deviceId)).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

describe('a certified insider: another org, a participant of the thread, signs malicious events', () => {
  let threadId = '';
  const HOSTILE_NOTE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
  const FUTURE_NOTE = `Dated ahead ${Math.random().toString(36).slice(2, 8)}`;

  /** An event IOM's device signs and sends to every participant, past its own case layer's checks. */
  async function insiderSends(type: string, body: Record<string, unknown>, at = Date.now()): Promise<void> {
    const heads = (await iomCases.thread(threadId)).heads;
    const event = EventEnvelope.parse({
      type,
      eventId: toB64u(fx.crypto.random(16)),
      threadId,
      prev: heads,
      author: { deviceId: iomClient.deviceId, orgId: iom.orgId, orgType: 'iom' },
      at,
      body,
    });
    await iomClient.send({ threadId, orgIds: [ngo.orgId, shelter.orgId, iom.orgId], payload: event });
  }

  async function openThread(caseCode: string): Promise<void> {
    await backToInbox();
    await page.click(`#inbox button.open-thread:text-is("${caseCode}")`, { timeout: 20_000 });
    await page.waitForSelector('#thread-status');
  }

  beforeAll(async () => {
    // A referral from the NGO to the shelter (this browser), IOM coordinating: IOM is a participant.
    const sent = await ngoCases.refer(referral({ caseCode: 'INSIDER-0001' }, [iom]));
    threadId = sent.threadId;
    await eventually(async () => (await iomCases.thread(threadId)).status === 'sent', 15_000, 'the referral at IOM');
    await page.waitForSelector('#inbox button.open-thread:text-is("INSIDER-0001")', { timeout: 20_000 });
    await openThread('INSIDER-0001');
    expect(await page.textContent('#thread-status')).toBe('New');

    // IOM's device accepts and withdraws the referral (only the shelter may accept, only the NGO withdraw),
    // dates a note a month ahead, and writes markup into a note.
    await insiderSends('referral.accept', { bedReserved: true, note: '<b onmouseover="window.__pwned=3">accepted</b>' });
    await insiderSends('referral.withdraw', { reasonCode: 'other', details: 'withdrawn by IOM' });
    await insiderSends('note', { text: FUTURE_NOTE }, Date.now() + 30 * 86_400_000);
    await insiderSends('note', { text: HOSTILE_NOTE });
    await page.waitForSelector(`#timeline .event-detail:text-is('${HOSTILE_NOTE}')`, { timeout: 20_000 });
    await eventually(async () => (await inboxLength(`${shelter.orgId}:amina-browser`)) === 0, 10_000, 'all four acked by the browser');
  });

  it('the thread keeps its state and shows what the insider wrote as text only; nothing of it runs', async () => {
    await openThread('INSIDER-0001');
    // The accept and the withdraw were refused: the case is still new, at the browser as at the NGO.
    expect(await page.textContent('#thread-status')).toBe('New');
    const atNgo = await ngoCases.thread(threadId);
    expect(atNgo.status).toBe('sent');
    // The same case layer the page runs refused both, as wrong-party (read at the NGO's SDK device).
    expect(atNgo.rejected.map((r) => [r.type, r.author.orgId, r.reason])).toEqual([
      ['referral.accept', iom.orgId, 'wrong-party'],
      ['referral.withdraw', iom.orgId, 'wrong-party'],
    ]);
    const timeline = (await page.textContent('#timeline')) ?? '';
    expect(timeline).not.toContain('withdrawn by IOM');
    expect(timeline).not.toContain('accepted');
    // The note the insider may write is shown, as text.
    expect(timeline).toContain(HOSTILE_NOTE);
    expect(await page.evaluate(() => document.querySelectorAll('#app img, #app script, #app b[onmouseover]').length)).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // The shelter can still act on it: the accept buttons are there.
    expect(await page.isVisible('#action-accept')).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('a note dated a month ahead is not used; the page says why', async () => {
    await openThread('INSIDER-0001');
    expect((await page.textContent('#timeline')) ?? '').not.toContain(FUTURE_NOTE);
    const warnings = await page.$$eval('.warning', (els) => els.map((e) => e.textContent ?? ''));
    expect(warnings).toContainEqual(`A message from ${iom.orgId} (device ${iomClient.deviceId}) could not be used: its time is more than 5 minutes from the signed time it was sent.`);
  });

  it('the refused accept and withdraw are shown on the thread, with who signed them and why, and counted in the inbox', async () => {
    await openThread('INSIDER-0001');
    const refused = await page.$$eval('#app .refused-event', (els) => els.map((e) => ({ text: e.textContent ?? '', role: e.getAttribute('role'), reason: e.getAttribute('data-reason') })));
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      expect(r.role).toBe('alert');
      expect(r.reason).toBe('wrong-party');
      expect(r.text).toMatch(new RegExp(`^Refused: ${iom.orgId} \\(device ${iomClient.deviceId}\\) signed “.+” at .+, which this case does not accept: this organisation may not take this step\\. It is not part of the case\\.$`));
    }
    // Each names the step IOM tried, in words.
    expect(refused.map((r) => r.text.match(/signed “(.+?)”/)?.[1])).toEqual(expect.arrayContaining([expect.stringMatching(/accept/i), expect.stringMatching(/withdr/i)]));
    // The state is unchanged, and the inbox row counts what was refused.
    expect(await page.textContent('#thread-status')).toBe('New');
    await backToInbox();
    const row = page.locator('#inbox tr', { has: page.locator('button.open-thread:text-is("INSIDER-0001")') });
    expect(await row.locator('.refused-count').textContent()).toBe('2 refused events');
  });
});
