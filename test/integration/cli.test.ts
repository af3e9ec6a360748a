/**
 * The `handover` CLI end to end, as people would use it: a network
 * coordinator, three org admins and three staff members, each with their own
 * profile folder, against a real relay on a real redis-server. The NGO refers
 * the survivor from examples/referral.json; the shelter and IOM act; consent
 * is withdrawn and every party purges.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testConfig } from '../../server/config';
import { createLogger } from '../../server/logger';
import { type Relay, startRelay } from '../../server/relay';
import { startRedis, type TestRedis } from '../support/redis';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/handover.js');
jest.setTimeout(240_000);

let dir: string;
let redis: TestRedis;
let relay: Relay;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only view of CLI output
}

function cli(profile: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--profile', path.join(dir, profile), ...(relay ? ['--server', relay.url] : []), ...args],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          NODE_ENV: 'test',
          HANDOVER_KDF: 'insecure-test',
          HANDOVER_PASSPHRASE: `passphrase of ${profile}`,
          ...env,
        },
        timeout: 60_000,
      },
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
  if (process.env.DEBUG_CLI) process.stderr.write(`cli ${profile} ${args.join(' ')}\n`);
  const started = Date.now();
  const r = await cli(profile, args);
  if (process.env.DEBUG_CLI) process.stderr.write(`  ${Date.now() - started} ms\n`);
  if (r.code !== 0) throw new Error(`handover ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-cli-'));
  redis = await startRedis();
});
afterAll(async () => {
  const t = Date.now();
  const note = (what: string) => process.env.DEBUG_CLI && process.stderr.write(`${what} after ${Date.now() - t} ms\n`);
  await relay?.close();
  note('relay closed');
  await redis?.destroy();
  note('redis destroyed');
  rmSync(dir, { recursive: true, force: true });
});

const ORGS = [
  { orgId: 'ngo-taraz', name: 'Safe Path Taraz', type: 'ngo', country: 'KZ', staff: 'ngo-taraz-dana' },
  { orgId: 'iom-ist', name: 'IOM Istanbul', type: 'iom', country: 'TR', staff: 'iom-ist-emre' },
  { orgId: 'shelter-ist', name: 'Umut Shelter', type: 'shelter', country: 'TR', staff: 'shelter-ist-amina' },
] as const;

it('sets up a network and works a referral from refer to purge', async () => {
  // Coordinator: the root key, offline; the relay is configured with its public key.
  const root = await ok('coordinator', ['network', 'init', '--json']);
  const rootKey: string = root.json.publicKey;
  relay = await startRelay(testConfig({ rootPublicKey: rootKey, redisUrl: redis.url, logLevel: 'silent' }), { logger: createLogger(process.env.DEBUG_CLI ? 'debug' : 'silent', process.env.DEBUG_CLI ? require('node:fs').createWriteStream('/tmp/cli-relay.log') : undefined) });

  for (const org of ORGS) {
    const admin = `${org.orgId}-admin`;
    const orgKey = await ok(admin, ['org', 'init', '--org-id', org.orgId, '--json']);
    await ok('coordinator', ['network', 'issue-org', '--org-id', org.orgId, '--name', org.name, '--type', org.type, '--country', org.country, '--public-key', orgKey.json.publicKey, '--out', `${org.orgId}.json`]);
    await ok(admin, ['org', 'import-certificate', `${org.orgId}.json`]);
    await ok(org.staff, ['device', 'init', '--org-id', org.orgId, '--device-id', org.staff, '--label', `Staff of ${org.name}`, '--root-key', rootKey, '--out', `${org.staff}-request.json`]);
    await ok(admin, ['org', 'sign-device', `${org.staff}-request.json`, '--out', `${org.staff}-cert.json`]);
    await ok(org.staff, ['device', 'register', '--certificate', `${org.staff}-cert.json`, '--org-certificate', `${org.orgId}.json`]);
  }
  const [ngo, iom, shelter] = ORGS.map((o) => o.staff) as [string, string, string];

  const dirView = await ok(shelter, ['directory', '--json']);
  expect(dirView.json.orgs.map((o: { orgId: string }) => o.orgId).sort()).toEqual(['iom-ist', 'ngo-taraz', 'shelter-ist']);

  // The NGO refers; the consent withholds health needs from IOM.
  const referred = await ok(ngo, ['refer', path.join(ROOT, 'examples/referral.json'), '--json']);
  const threadId: string = referred.json.threadId;
  expect(referred.json.recipients.find((r: { orgId: string }) => r.orgId === 'iom-ist').withheld).toEqual(['healthNeeds']);

  const inbox = await ok(shelter, ['inbox', '--json']);
  expect(inbox.json.threads).toEqual([expect.objectContaining({ threadId, status: 'sent', priority: 'urgent', overdue: false })]);
  const shelterView = await ok(shelter, ['show', threadId, '--json']);
  expect(shelterView.json.referral.identity).toMatchObject({ firstName: 'Aigerim', secondName: 'Nurlanovna' });
  const iomView = await ok(iom, ['show', threadId, '--json']);
  expect(iomView.json.referral.identity.firstName).toBe('Aigerim');
  expect(iomView.json.referral.healthNeeds).toBeUndefined();

  await ok(shelter, ['ack', threadId, '--note', 'reviewing']);
  await ok(shelter, ['accept', threadId, '--bed-reserved']);
  await ok(shelter, ['schedule', threadId, '--at', '2026-12-01T10:00+03:00', '--location', 'Reception']);
  await ok(shelter, ['arrived', threadId]);
  await ok(iom, ['return-step', threadId, '--step', 'return-requested', '--status', 'done']);

  // Wrong party and wrong moment: refused locally with a code, exit 2, nothing sent.
  const iomAccept = await cli(iom, ['accept', threadId, '--json']);
  expect(iomAccept.code).toBe(2);
  expect(iomAccept.json.error.code).toBe('WRONG_PARTY');
  const again = await cli(shelter, ['accept', threadId]);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/^error (INVALID_EVENT|WRONG_PARTY):/m);

  const timeline = await ok(ngo, ['show', threadId, '--json']);
  expect(timeline.json.status).toBe('arrived');
  expect(timeline.json.timeline.map((e: { type: string }) => e.type)).toEqual([
    'referral.create',
    'referral.acknowledge',
    'referral.accept',
    'intake.schedule',
    'intake.arrived',
    'return.step',
  ]);
  const human = await ok(ngo, ['show', threadId]);
  expect(human.stdout).toContain('intake.arrived');

  await ok(ngo, ['export', '--out', 'cases.csv']);
  const csv = readFileSync(path.join(dir, 'cases.csv'), 'utf8');
  expect(csv.split('\n')[0]).toContain('cas_Status');
  expect(csv).toContain('TRZ-2026-0147');

  // Consent withdrawn: every party purges on its next sync and answers with a signed receipt.
  await ok(ngo, ['withdraw-consent', threadId, '--given-by', 'survivor', '--method', 'verbal', '--recorded-by', 'Dana Seitkali']);
  await ok(shelter, ['inbox']);
  await ok(iom, ['inbox']);
  const after = await ok(ngo, ['show', threadId, '--json']);
  expect(after.json.consentWithdrawal.complete).toBe(true);
  expect(after.json.referral).toBeNull();
  const shelterAfter = await ok(shelter, ['show', threadId, '--json']);
  expect(JSON.stringify(shelterAfter.json)).not.toContain('Aigerim');
});

it('explains failures with a code and a hint', async () => {
  const wrong = await cli('ngo-taraz-dana', ['inbox'], { HANDOVER_PASSPHRASE: 'not the passphrase' });
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toContain('error WRONG_PASSPHRASE');
  const down = await cli('ngo-taraz-dana', ['--server', 'http://127.0.0.1:9', 'inbox']);
  expect(down.code).toBe(2);
  expect(down.stderr).toMatch(/error UNAVAILABLE[\s\S]*Is the relay running/);
  const missing = await cli('nobody', ['inbox']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('KEYSTORE_CORRUPT');
});
