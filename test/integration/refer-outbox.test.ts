/**
 * `handover refer` end to end, with the input people type and the failure
 * that matters: a real relay on a real redis-server, the NGO's profile on
 * disk driven through the CLI (behind a proxy that can hold frames back),
 * the shelter and IOM real SDK devices in this process.
 *
 * - Times in the referral file as ISO 8601 with a zone; a consent running
 *   past the bound is refused in the user's time zone, nothing sent.
 * - The CLI is killed (SIGKILL) after the relay took the create and while
 *   it waits on the consent override: the next run (`handover outbox`)
 *   sends the rest, and every device holds each message once.
 * - A new referral with the case code of a thread whose consent was
 *   withdrawn is sent with a warning.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaseService } from '../../client/referral/cases/case-service';
import { HandoverClient } from '../../client/sdk';
import { FileStorage } from '../../client/sdk/node';
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { toB64u } from '../../shared/encoding';
import { HostileRelay, socketEventName } from '../support/hostile-relay';
import { TestNetwork, type TestOrg } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { type RelayFixture, enrolClient, eventually, postJson, startTestRelay } from '../support/relay';
import { loadNodeCrypto } from '../../shared/crypto/node';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/handover.js');
const PASSPHRASE = 'passphrase of the ngo device';
const TZ = 'Asia/Almaty';
const REASON = 'Survivor unreachable; IOM must arrange emergency travel documents';
const DAY = 24 * 3600_000;
jest.setTimeout(180_000);

let dir: string;
let redis: TestRedis;
let fx: RelayFixture;
let proxy: HostileRelay;
let network: TestNetwork;
const clients: HandoverClient[] = [];
const services: CaseService[] = [];
let refer: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-refer-'));
  redis = await startRedis();
  network = new TestNetwork(await loadNodeCrypto(), Date.now());
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'silent' });
  proxy = await HostileRelay.start(fx.url);
});
afterAll(async () => {
  refer?.kill('SIGKILL');
  for (const s of services) s.dispose();
  for (const c of clients) await c.close();
  await proxy?.close();
  await fx?.close();
  await redis?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function enrolOnDisk(org: TestOrg, name: string, folder: string): Promise<void> {
  await postJson(fx.url, ROUTES.orgs, { certificate: org.certificate });
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto: fx.crypto,
    storage: await new FileStorage(folder).init(),
    passphrase: PASSPHRASE,
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: org.orgId,
    deviceId: `${org.orgId}:${name}`,
    label: `Staff ${name}`,
    rootPublicKey: toB64u(network.root.publicKey),
    serverUrl: proxy.url,
  });
  const now = Date.now();
  const certificate = issueDeviceCertificate(fx.crypto, {
    request: enrolmentRequest,
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 30 * DAY,
  });
  await client.importCertificates(org.certificate, certificate);
  await client.register();
  await client.close();
}

const cliArgs = (args: string[]) => [BIN, '--profile', path.join(dir, 'ngo'), '--server', proxy.url, ...args];
const cliEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'test', TZ, HANDOVER_PASSPHRASE: PASSPHRASE, ...extra });

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only view of CLI output
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(args), { cwd: dir, env: cliEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, json });
    });
  });
}

/** The example referral as a person would write it: coverage for the shelter only (IOM needs the override), times in ISO 8601. */
function referralFile(name: string, edit: (referral: Record<string, any>) => void = () => undefined): string { // eslint-disable-line @typescript-eslint/no-explicit-any -- a JSON file being written
  const referral = JSON.parse(readFileSync(path.join(ROOT, 'examples/referral.json'), 'utf8'));
  referral.consent.coveredOrgIds = ['shelter-ist'];
  referral.consent.givenAt = new Date(Date.now() - DAY).toISOString().slice(0, 16) + '+00:00';
  referral.consent.expiresAt = '2027-06-30T18:00+05:00';
  edit(referral);
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(referral));
  return file;
}

/** What a device holds of a thread: each event's type and id, and the supplements. */
async function held(client: HandoverClient, threadId: string): Promise<{ events: string[]; supplements: number }> {
  const messages = await client.threadMessages(threadId);
  const events = messages.flatMap((m) => {
    const p = m.payload as { type?: string; eventId?: string };
    return typeof p.type === 'string' ? [`${p.type} ${p.eventId}`] : [];
  });
  return { events, supplements: messages.filter((m) => (m.payload as { kind?: string }).kind === 'referral.supplement').length };
}

it('refer reads ISO times, holds the consent bound, survives a kill after the create, and warns about an earlier withdrawal', async () => {
  const ngoOrg = network.addOrg('ngo-taraz', 'ngo');
  const shelterOrg = network.addOrg('shelter-ist', 'shelter');
  const iomOrg = network.addOrg('iom-ist', 'iom');
  await enrolOnDisk(ngoOrg, 'dana', path.join(dir, 'ngo'));
  const shelter = await enrolClient(fx, shelterOrg, 'amina');
  const iom = await enrolClient(fx, iomOrg, 'emre');
  clients.push(shelter, iom);
  const shelterCases = new CaseService({ transport: shelter });
  const iomCases = new CaseService({ transport: iom });
  services.push(shelterCases, iomCases);

  // Input people type: a date without a time is refused with what to write; a consent past a year, in local time.
  const dateOnly = await cli(['refer', referralFile('date-only.json', (r) => (r.consent.expiresAt = '2027-06-30'))]);
  expect(dateOnly.code).toBe(2);
  expect(dateOnly.stderr).toContain('consent.expiresAt "2027-06-30" has no time and zone; write e.g. 2027-06-30T12:00+03:00');
  const tooLong = await cli(['refer', referralFile('too-long.json', (r) => (r.consent.expiresAt = '2028-06-30T18:00+05:00'))]);
  expect(tooLong.code).toBe(2);
  expect(tooLong.stderr).toMatch(/error INVALID_EVENT: the consent runs until Fri, Jun 30, 2028, 18:00 GMT\+5, more than 365 days after it was given/);
  expect(tooLong.stderr).toContain('HANDOVER_MAX_CONSENT_DAYS');
  const badSetting = await cli(['refer', referralFile('any.json')], { HANDOVER_MAX_CONSENT_DAYS: 'forever' });
  expect(badSetting.stderr).toContain('HANDOVER_MAX_CONSENT_DAYS must be a whole number of days');
  expect(await shelter.threadIds()).toEqual([]);

  // The relay takes the create; the consent override waits for an answer that never comes, and the process is killed.
  let sends = 0;
  let dropAttachments = 0;
  let heldBack = false;
  const unhook = proxy.onFrame((frame, direction) => {
    if (direction !== 'to-relay') return undefined;
    if (typeof frame !== 'string') {
      if (dropAttachments === 0) return undefined;
      dropAttachments--;
      return 'drop';
    }
    if (socketEventName(frame) !== 'envelope:send' || ++sends === 1) return undefined;
    dropAttachments += Number(/^45(\d+)-/.exec(frame)?.[1] ?? 0);
    heldBack = true;
    return 'drop';
  });
  refer = spawn(process.execPath, cliArgs(['refer', referralFile('referral.json'), '--override-reason', REASON]), { cwd: dir, env: cliEnv() });
  const exited = new Promise<number | null>((resolve) => refer!.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  await eventually(async () => heldBack, 30_000, 'the second message held back');
  refer.kill('SIGKILL');
  expect(await exited).toBe(-1);
  unhook();
  await eventually(async () => (await shelter.threadIds()).length === 1, 10_000, 'the create at the shelter');
  const [threadId] = await shelter.threadIds();
  expect((await held(shelter, threadId!)).events.map((e) => e.split(' ')[0])).toEqual(['referral.create']);

  // The next run finishes it: exactly what was missing, once.
  const finished = await cli(['outbox', '--json']);
  expect(finished.code).toBe(0);
  expect(finished.json).toMatchObject({ finished: [{ threadId, rebuilt: false }], pending: [], abandoned: [] });
  await eventually(async () => (await held(shelter, threadId!)).events.length === 2 && (await held(iom, threadId!)).events.length === 2, 15_000, 'the rest');
  await shelter.idle();
  await iom.idle();
  for (const [client, cases, supplements] of [[shelter, shelterCases, 1], [iom, iomCases, 0]] as const) {
    const h = await held(client, threadId!);
    expect(h.events.map((e) => e.split(' ')[0]).sort()).toEqual(['consent.override', 'referral.create']);
    expect(new Set(h.events).size).toBe(2);
    expect(h.supplements).toBe(supplements);
    const t = await cases.thread(threadId!);
    expect(t.timeline.map((e) => e.type)).toEqual(['referral.create', 'consent.override']);
    expect(t.dropped).toEqual([]);
    expect(t.rejected).toEqual([]);
  }
  expect((await shelterCases.thread(threadId!)).referral?.healthNeeds).toBeDefined();
  expect((await shelterCases.thread(threadId!)).referral?.consent.expiresAt).toBe(Date.parse('2027-06-30T13:00Z'));
  const nothing = await cli(['outbox']);
  expect(nothing.code).toBe(0);
  expect(nothing.stdout).toContain('Nothing pending: every referral went out completely.');
  expect((await held(shelter, threadId!)).events).toHaveLength(2);

  // Consent withdrawn on that thread; the same survivor referred again: sent, with a warning in local time.
  await shelterCases.withdrawConsent(threadId!, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Amina' } });
  const synced = await cli(['inbox']);
  expect(synced.code).toBe(0);
  const again = await cli(['refer', referralFile('again.json'), '--override-reason', REASON]);
  expect(again.code).toBe(0);
  expect(again.stderr).toMatch(new RegExp(`WARNING: the survivor's consent was withdrawn on an earlier case with this case code \\(thread ${threadId}, withdrawn .* GMT\\+5\\)`));
  expect(again.stdout).toContain('Referral sent. Thread ');
  expect(again.stdout).toContain('consent valid until Wed, Jun 30, 2027, 18:00 GMT+5');
});
