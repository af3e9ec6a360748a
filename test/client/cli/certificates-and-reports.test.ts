/**
 * The CLI's certificate warnings, clock errors, donor report and access
 * log, driven as people run them against a real relay on a real
 * redis-server. The viewer's device certificate ends in 20 days and its
 * partner NGO's org certificate in 25: `inbox` and `show` say so once each
 * (not once per message), `certificates` lists the days left; a
 * certificate from an admin whose clock runs 10 minutes fast is refused as
 * a clock problem; `report` and `access-log` show counts and thread ids,
 * never a case code.
 *
 * Profiles are made with the SDK in this process and written to disk where
 * the CLI opens them (a full CLI enrolment is the README walkthrough's job).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import example from '../../../examples/referral.json';
import { ROUTES } from '../../../shared/api';
import { issueDeviceCertificate, issueOrgCertificate } from '../../../shared/certificates';
import { loadNodeCrypto } from '../../../shared/crypto/node';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { toB64u } from '../../../shared/encoding';
import { CaseService } from '../../../client/referral';
import { AdminKeys, HandoverClient, Vault } from '../../../client/sdk';
import { FileStorage } from '../../../client/sdk/node';
import { DAY, TestNetwork, type TestOrg } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RelayFixture, enrolClient, postJson, startTestRelay } from '../../support/relay';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/handover.js');
const PASSPHRASE = 'passphrase of the viewer';
const MINUTE = 60_000;
jest.setTimeout(120_000);

let dir: string;
let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
let shelter: TestOrg;
let ngo: TestOrg;
const threadIds: string[] = [];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only view of CLI output
}

function cli(profile: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--profile', path.join(dir, profile), '--server', fx.url, ...args],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'test', HANDOVER_PASSPHRASE: PASSPHRASE }, timeout: 60_000 },
      (err, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, json });
      },
    );
  });
}

async function ok(profile: string, args: string[]): Promise<CliResult> {
  const r = await cli(profile, args);
  if (r.code !== 0) throw new Error(`handover ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A new device profile of `org` on disk, as `device init` leaves it; returns its enrolment request. */
async function profileOnDisk(org: TestOrg, name: string) {
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto: fx.crypto,
    storage: await new FileStorage(path.join(dir, name)).init(),
    passphrase: PASSPHRASE,
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: org.orgId,
    deviceId: `${org.orgId}:${name}`,
    label: `Staff ${name}`,
    rootPublicKey: toB64u(network.root.publicKey),
    serverUrl: fx.url,
  });
  return { client, enrolmentRequest };
}

function certify(org: TestOrg, request: Parameters<typeof issueDeviceCertificate>[1]['request'], issuedAt: number, expiresAt: number) {
  return issueDeviceCertificate(fx.crypto, { request, orgCertificate: org.certificate, orgPrivateKey: org.keys.privateKey, role: 'caseworker', issuedAt, expiresAt });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-cli-certs-'));
  redis = await startRedis();
  network = new TestNetwork(await loadNodeCrypto(), Date.now());
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'silent' });
  const now = Date.now();
  shelter = network.addOrg('shelter-ist', 'shelter');
  ngo = network.addOrg('ngo-taraz', 'ngo', { expiresAt: now + 25 * DAY });
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });

  // The viewer: a shelter device whose certificate ends in 20 days.
  const { client, enrolmentRequest } = await profileOnDisk(shelter, 'viewer');
  await client.importCertificates(shelter.certificate, certify(shelter, enrolmentRequest, now - MINUTE, now + 20 * DAY));
  await client.register();
  await client.close();

  // The NGO refers three survivors to the shelter.
  const sender = await enrolClient(fx, ngo, 'dana');
  const cases = new CaseService({ transport: sender });
  for (const i of [1, 2, 3]) {
    const referral = structuredClone(example);
    referral.header.coordinators = [];
    referral.identity.caseCode = `TRZ-2026-090${i}`;
    threadIds.push((await cases.refer(referral)).threadId);
  }
  cases.dispose();
  await sender.close();
});

afterAll(async () => {
  await fx?.close();
  await redis?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

it('inbox and show warn once per certificate (not per message): the device in 20 days, the partner org in 25', async () => {
  const inbox = await ok('viewer', ['inbox']);
  const warnings = inbox.stdout.split('\n').filter((l) => l.startsWith('! '));
  expect(warnings).toEqual([
    expect.stringMatching(/^! Your device certificate \(shelter-ist:viewer\) expires in 20 days, on \d{4}-\d{2}-\d{2}: run `handover device renew --out renewal.json` and give the file to your org admin\.$/),
    expect.stringMatching(/^! The certificate of partner org ngo-taraz \(Org ngo-taraz\) expires in 25 days, on \d{4}-\d{2}-\d{2}: after that nothing can be sent to it or received from it until its admin renews it\.$/),
  ]);
  expect(inbox.stdout.split('\n').filter((l) => threadIds.some((t) => l.startsWith(t)))).toHaveLength(3);
  const json = await ok('viewer', ['inbox', '--json']);
  expect(json.json.certificateWarnings).toEqual(warnings);

  const show = await ok('viewer', ['show', threadIds[0]!]);
  expect(show.stdout.split('\n').filter((l) => l.startsWith('! '))).toEqual(warnings);
});

it('certificates lists the days left on each, and whether the clock agrees with the relay', async () => {
  const r = await ok('viewer', ['certificates', '--json']);
  expect(r.json.warnDays).toBe(30);
  expect(r.json.fresh).toBe(true);
  expect(Math.abs(r.json.clockOffsetMs)).toBeLessThan(MINUTE);
  expect(r.json.certificates.map((c: { role: string; id: string; daysLeft: number; state: string }) => [c.role, c.id, c.daysLeft, c.state])).toEqual([
    ['this-device', 'shelter-ist:viewer', 20, 'expiring'],
    ['own-org', 'shelter-ist', 365, 'valid'],
    ['partner-org', 'ngo-taraz', 25, 'expiring'],
  ]);
  const text = await ok('viewer', ['certificates']);
  expect(text.stdout).toMatch(/this device\s+shelter-ist:viewer\s+Staff viewer\s+until \d{4}-\d{2}-\d{2}\s+20 days left\s+RENEW SOON/);
  expect(text.stdout).toContain("Clock: agrees with the relay's.");
});

it("certificates on an org admin's profile shows the org certificate", async () => {
  const storage = await new FileStorage(path.join(dir, 'admin')).init();
  const admin = new AdminKeys(fx.crypto, await Vault.create(fx.crypto, storage, PASSPHRASE, PWHASH_TEST_ONLY));
  const key = await admin.createOrgKey('iom-ist');
  const now = Date.now();
  const cert = issueOrgCertificate(
    fx.crypto,
    { networkId: network.anchor.networkId, orgId: 'iom-ist', name: 'IOM Istanbul', orgType: 'iom', country: 'TR', services: [], publicKey: key.publicKey, serial: 99, issuedAt: now, expiresAt: now + 10 * DAY },
    network.root.privateKey,
  );
  await admin.importOrgCertificate(cert);
  const r = await ok('admin', ['certificates']);
  expect(r.stdout).toMatch(/your org\s+iom-ist\s+IOM Istanbul\s+until \S+\s+10 days left\s+RENEW SOON/);
  expect(r.stdout).toContain("! Your org's certificate (iom-ist) expires in 10 days");
});

it('a certificate from an admin whose clock is 10 minutes fast is refused as a clock problem, not a fingerprint problem', async () => {
  const { client, enrolmentRequest } = await profileOnDisk(shelter, 'late');
  await client.close();
  const now = Date.now();
  writeFileSync(path.join(dir, 'late-cert.json'), JSON.stringify(certify(shelter, enrolmentRequest, now + 10 * MINUTE, now + 180 * DAY)));
  writeFileSync(path.join(dir, 'shelter.json'), JSON.stringify(shelter.certificate));
  const r = await cli('late', ['device', 'register', '--certificate', 'late-cert.json', '--org-certificate', 'shelter.json']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(
    "error EXPIRED: the device certificate was issued 10 minutes in the future: the clock of the machine that issued it is about 10 minutes ahead (this device's clock agrees with the relay's).",
  );
  expect(r.stderr).not.toMatch(/fingerprint/i);
});

it('report: counts only, small cells suppressed; --csv; the minimum cell size cannot go below 5', async () => {
  const r = await ok('viewer', ['report', '--json']);
  expect(r.json).toMatchObject({ orgId: 'shelter-ist', referrals: '<5', byRole: { receiving: '<5' }, byPartnerOrgType: { ngo: '<5' }, byState: { sent: '<5' } });
  const text = await ok('viewer', ['report']);
  expect(text.stdout).toMatch(/Referrals:\s+<5/);
  const csv = await ok('viewer', ['report', '--csv']);
  expect(csv.stdout.split('\r\n')[0]).toBe('measure,group,value');
  for (const out of [r.stdout, text.stdout, csv.stdout]) {
    for (const t of threadIds) expect(out).not.toContain(t);
    expect(out).not.toMatch(/TRZ-2026|Aigerim|Nurlanovna|Dana Seitkali/);
  }
  const low = await cli('viewer', ['report', '--min-cell', '3']);
  expect([low.code, low.stderr]).toEqual([2, expect.stringContaining('error BAD_REQUEST: --min-cell cannot be below 5')]);
});

it('access-log: every show, export and report on this device, by thread id; the CSV export is logged too', async () => {
  await ok('viewer', ['show', threadIds[1]!, '--json']);
  await ok('viewer', ['export', '--out', 'viewer-cases.csv']);
  const log = await ok('viewer', ['access-log', '--json']);
  const entries = log.json.entries as Array<{ action: string; threadIds: string[]; deviceId: string }>;
  expect(entries.map((e) => e.action)).toEqual(['show', 'report', 'report', 'report', 'show-referral', 'export']);
  expect(entries[0]!.threadIds).toEqual([threadIds[0]]);
  expect(entries[4]!.threadIds).toEqual([threadIds[1]]);
  expect([...entries[5]!.threadIds].sort()).toEqual([...threadIds].sort());
  expect(new Set(entries.map((e) => e.deviceId))).toEqual(new Set(['shelter-ist:viewer']));

  await ok('viewer', ['access-log', '--out', 'access.csv']);
  const csv = readFileSync(path.join(dir, 'access.csv'), 'utf8');
  expect(csv.split('\r\n')[0]).toBe('time_utc,device_id,device_label,action,thread_id');
  expect(csv).toContain(`,shelter-ist:viewer,Staff viewer,show-referral,${threadIds[1]}`);
  expect(csv).toContain(',access-log-export,');
  expect(csv).not.toMatch(/TRZ-2026/);
});
