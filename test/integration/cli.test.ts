/**
 * The `handover` CLI end to end, as people would use it: a network
 * coordinator, three org admins and three staff members, each with their own
 * profile folder, against a real relay on a real redis-server. The NGO refers
 * the survivor from examples/referral.json; the shelter and IOM act; consent
 * is withdrawn and every party purges.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
/** The network root public key, as the coordinator hands it to everyone. */
let rootKey: string;

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

/** The device key fingerprint `device init` shows its user (on stderr), as they would read it out by phone. */
function deviceFingerprintFrom(init: CliResult): string {
  const match = /device key fingerprint: ((?:\d{5} ?){12})/.exec(init.stderr);
  if (!match?.[1]) throw new Error(`device init showed no fingerprint:\n${init.stderr}`);
  return match[1].trim();
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
  rootKey = root.json.publicKey;
  relay = await startRelay(testConfig({ rootPublicKey: rootKey, redisUrl: redis.url, logLevel: 'silent' }), { logger: createLogger(process.env.DEBUG_CLI ? 'debug' : 'silent', process.env.DEBUG_CLI ? require('node:fs').createWriteStream('/tmp/cli-relay.log') : undefined) });

  for (const org of ORGS) {
    const admin = `${org.orgId}-admin`;
    const orgKey = await ok(admin, ['org', 'init', '--org-id', org.orgId, '--json']);
    // The coordinator certifies the key only with the fingerprint the org admin reads out.
    await ok('coordinator', ['network', 'issue-org', '--org-id', org.orgId, '--name', org.name, '--type', org.type, '--country', org.country, '--public-key', orgKey.json.publicKey, '--fingerprint', orgKey.json.fingerprint, '--out', `${org.orgId}.json`]);
    await ok(admin, ['org', 'import-certificate', `${org.orgId}.json`]);
    const init = await ok(org.staff, ['device', 'init', '--org-id', org.orgId, '--device-id', org.staff, '--label', `Staff of ${org.name}`, '--root-key', rootKey, '--out', `${org.staff}-request.json`]);
    await ok(admin, ['org', 'sign-device', `${org.staff}-request.json`, '--fingerprint', deviceFingerprintFrom(init), '--out', `${org.staff}-cert.json`]);
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
  expect(human.stdout).toMatch(/delivery: \d+ sent by this device/);

  // What became of what the NGO sent: stored by the relay, delivered to the shelter's and IOM's devices.
  const delivery = await ok(ngo, ['delivery', threadId, '--json']);
  expect(delivery.json.messages.length).toBeGreaterThan(0);
  expect(delivery.json.messages[0].storedAt).toEqual(expect.any(Number));
  expect(delivery.json.messages[0].byOrg.map((o: { orgId: string }) => o.orgId)).toEqual(expect.arrayContaining(['shelter-ist', 'iom-ist']));
  expect(JSON.stringify(delivery.json)).not.toContain('opened');
  // The shelter turns read receipts on; its next `show` tells the NGO, in a signed receipt, what it read.
  expect((await ok(shelter, ['device', 'read-receipts'])).stdout).toContain('Read receipts are off');
  expect((await ok(shelter, ['device', 'read-receipts', 'on'])).stdout).toContain('Read receipts are on');
  await ok(shelter, ['show', threadId]);
  const deliveryText = await ok(ngo, ['delivery', threadId]);
  expect(deliveryText.stdout).toMatch(/stored by the relay .*shelter-ist delivered 1\/1, opened \d{4}-/);
  expect((await cli(shelter, ['device', 'read-receipts', 'maybe'])).code).toBe(2);
  const resend = await ok(ngo, ['resend', threadId]);
  expect(resend.stdout).toContain('Nothing in this thread expired undelivered.');

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
  const down = await cli('ngo-taraz-dana', ['--server', 'http://127.0.0.1:9', 'directory']);
  expect(down.code).toBe(2);
  expect(down.stderr).toMatch(/error UNAVAILABLE[\s\S]*Is the relay running/);
  // A read still shows what the device holds, and says it is offline (test/client/cli/offline-reads.test.ts has the rest).
  const readDown = await cli('ngo-taraz-dana', ['--server', 'http://127.0.0.1:9', 'inbox']);
  expect(readDown.code).toBe(0);
  expect(readDown.stderr).toMatch(/offline: showing what this device holds \(last sync /);
  const missing = await cli('nobody', ['inbox']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain(`error NOT_FOUND: no Handover profile in ${path.join(dir, 'nobody')} (given with --profile)`);
});

/** A fingerprint of the right shape that belongs to no key here. */
const WRONG_FINGERPRINT = '12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890';

it('finding 6: network issue-org shows the org key fingerprint, refuses without it or with a wrong one, and signs nothing', async () => {
  const orgKey = await ok('ngo-late-admin', ['org', 'init', '--org-id', 'ngo-late', '--json']);
  const issue = (extra: string[]) =>
    cli('coordinator', ['network', 'issue-org', '--org-id', 'ngo-late', '--name', 'Late NGO', '--type', 'ngo', '--country', 'KZ', '--public-key', orgKey.json.publicKey, '--out', 'ngo-late.json', ...extra]);

  const without = await issue([]);
  expect(without.code).toBe(2);
  expect(without.stderr).toContain(`org key of ngo-late fingerprint: ${orgKey.json.fingerprint}`);
  expect(without.stderr).toMatch(/error BAD_REQUEST: confirm the key before signing[^\n]*--fingerprint/);
  const wrong = await issue(['--fingerprint', WRONG_FINGERPRINT]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toMatch(/error UNTRUSTED_KEY: [^\n]*nothing was signed/);
  const malformed = await issue(['--fingerprint', '12345']);
  expect(malformed.code).toBe(2);
  expect(malformed.stderr).toContain('error BAD_REQUEST: a fingerprint is 60 digits');
  expect(existsSync(path.join(dir, 'ngo-late.json'))).toBe(false);

  // Typed without spaces, as --fingerprint allows: signed now, with the next serial (the refusals used none up).
  const issued = await issue(['--fingerprint', orgKey.json.fingerprint.replace(/ /g, '')]);
  expect(issued.code).toBe(0);
  expect(JSON.parse(readFileSync(path.join(dir, 'ngo-late.json'), 'utf8'))).toMatchObject({ orgId: 'ngo-late', serial: ORGS.length + 1 });
});

it('finding 6: org sign-device shows the device key fingerprint, refuses without it or with a wrong one, and signs nothing', async () => {
  const init = await ok('ngo-taraz-second', ['device', 'init', '--org-id', 'ngo-taraz', '--device-id', 'second', '--label', 'Second laptop', '--root-key', rootKey, '--out', 'second-request.json']);
  const fingerprint = deviceFingerprintFrom(init);
  const sign = (extra: string[]) => cli('ngo-taraz-admin', ['org', 'sign-device', 'second-request.json', '--out', 'second-cert.json', ...extra]);

  const without = await sign([]);
  expect(without.code).toBe(2);
  expect(without.stderr).toContain(`signing key of device ngo-taraz:second ("Second laptop") fingerprint: ${fingerprint}`);
  expect(without.stderr).toMatch(/error BAD_REQUEST: confirm the key before signing[^\n]*--fingerprint/);
  const wrong = await sign(['--fingerprint', WRONG_FINGERPRINT]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toMatch(/error UNTRUSTED_KEY: [^\n]*nothing was signed/);
  expect(existsSync(path.join(dir, 'second-cert.json'))).toBe(false);

  const signed = await sign(['--fingerprint', fingerprint]);
  expect(signed.code).toBe(0);
  expect(JSON.parse(readFileSync(path.join(dir, 'second-cert.json'), 'utf8'))).toMatchObject({ deviceId: 'ngo-taraz:second', kind: 'device' });
});

it('finding 12: a short HANDOVER_PASSPHRASE is refused when creating a profile', async () => {
  for (const args of [
    ['org', 'init', '--org-id', 'ngo-short'],
    ['network', 'init'],
    ['device', 'init', '--org-id', 'ngo-short', '--device-id', 'laptop', '--label', 'Laptop', '--root-key', 'MInhQla0CdcoAtqQeNLaRj0v_0j8N2CacaJj53AORTg'],
  ]) {
    const short = await cli('short-passphrase', args, { HANDOVER_PASSPHRASE: 'elevenchars' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('error BAD_REQUEST: the passphrase from HANDOVER_PASSPHRASE is too short for a new profile: use at least 12 characters');
  }
  // No keystore was made (the profile folder is still empty); twelve characters are enough.
  const profileFolder = path.join(dir, 'short-passphrase');
  expect(existsSync(profileFolder) ? readdirSync(profileFolder) : []).toEqual([]);
  const created = await cli('short-passphrase', ['org', 'init', '--org-id', 'ngo-short'], { HANDOVER_PASSPHRASE: 'twelve chars' });
  expect(created.code).toBe(0);
});

it('backs up a staff device and restores it on a new machine as a new device, enrolled again; refuses a wrong recovery passphrase and an existing file', async () => {
  const shelter = 'shelter-ist-amina';
  const recovery = { HANDOVER_RECOVERY_PASSPHRASE: 'the shelter recovery words' };
  const threadId: string = (await ok(shelter, ['inbox', '--json'])).json.threads[0].threadId;

  const made = await cli(shelter, ['backup', '--out', 'amina.backup', '--json'], recovery);
  expect(made.code).toBe(0);
  expect(made.json).toMatchObject({ written: 'amina.backup', fromDeviceId: 'shelter-ist:shelter-ist-amina' });
  expect(readFileSync(path.join(dir, 'amina.backup'), 'utf8')).not.toContain('Aigerim');
  const again = await cli(shelter, ['backup', '--out', 'amina.backup'], recovery);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('amina.backup exists');
  const short = await cli(shelter, ['backup', '--out', 'short.backup'], { HANDOVER_RECOVERY_PASSPHRASE: 'too short' });
  expect(short.stderr).toContain('recovery passphrase is too short');
  const same = await cli(shelter, ['backup', '--out', 'same.backup'], { HANDOVER_RECOVERY_PASSPHRASE: `passphrase of ${shelter}` });
  expect(same.stderr).toContain('other than the profile passphrase');

  // The laptop is lost: the backup goes onto a new machine as a new device.
  const wrong = await cli('amina-new-laptop', ['restore', 'amina.backup', '--device-id', 'amina-2'], { HANDOVER_RECOVERY_PASSPHRASE: 'not the recovery words' });
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toMatch(/^error WRONG_PASSPHRASE: wrong passphrase, or the backup file was altered/m);
  const oldId = await cli('amina-new-laptop', ['restore', 'amina.backup', '--device-id', 'shelter-ist-amina'], recovery);
  expect(oldId.stderr).toContain('needs a new device id');
  const restored = await cli('amina-new-laptop', ['restore', 'amina.backup', '--device-id', 'amina-2', '--out', 'amina-2-request.json'], recovery);
  expect(restored.code).toBe(0);
  expect(restored.stderr).toContain('revokes shelter-ist:shelter-ist-amina');
  const fingerprint = /new device key fingerprint: ((?:\d{5} ?){12})/.exec(restored.stderr)![1]!.trim();
  await ok('shelter-ist-admin', ['org', 'revoke-device', '--device-id', 'shelter-ist:shelter-ist-amina', '--reason', 'laptop lost']);
  await ok('shelter-ist-admin', ['org', 'sign-device', 'amina-2-request.json', '--fingerprint', fingerprint, '--out', 'amina-2-cert.json']);
  await ok('amina-new-laptop', ['device', 'register', '--certificate', 'amina-2-cert.json', '--org-certificate', 'shelter-ist.json']);
  const view = await ok('amina-new-laptop', ['show', threadId, '--json']);
  expect(view.json.threadId).toBe(threadId);
  expect(view.json.purged).not.toBeNull(); // the consent was withdrawn before the backup: it stays purged
  expect(JSON.stringify(view.json)).not.toContain('Aigerim');
  const lost = await cli(shelter, ['inbox']);
  expect(lost.code).not.toBe(0); // the lost device can no longer sign in
});
