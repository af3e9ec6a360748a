/**
 * `handover trust status`, `handover trust accept-org-key` and the "could
 * not open" part of `handover inbox`, driven as people would run them, on
 * one story: an org moves to a new key; a message from its device cannot
 * be opened (the new key is not trusted yet) and the inbox says so;
 * `trust status` shows the change with the fingerprint to compare by
 * phone; a wrong fingerprint is refused, the right one accepted, and the
 * waiting message opens at the next sync.
 *
 * A real relay on a real redis-server. The profiles are made with the SDK
 * in this process (a full CLI enrolment is test/integration/cli.test.ts's
 * job) and written to disk where the CLI opens them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROUTES } from '../../../shared/api';
import { issueDeviceCertificate } from '../../../shared/certificates';
import { loadNodeCrypto } from '../../../shared/crypto/node';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { toB64u } from '../../../shared/encoding';
import { fingerprint } from '../../../shared/fingerprint';
import { HandoverClient } from '../../../client/sdk';
import { FileStorage } from '../../../client/sdk/node';
import { TestNetwork, type TestOrg } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RelayFixture, enrolClient, postJson, startTestRelay } from '../../support/relay';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/handover.js');
const PASSPHRASE = 'passphrase of the viewer';
jest.setTimeout(120_000);

let dir: string;
let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only view of CLI output
}

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--profile', path.join(dir, 'viewer'), '--server', fx.url, ...args],
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

async function ok(args: string[]): Promise<CliResult> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`handover ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A registered device of `org` whose profile lives on disk in `folder`, as `device init` + `device register` leave it. */
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
    serverUrl: fx.url,
  });
  const now = Date.now();
  const certificate = issueDeviceCertificate(fx.crypto, {
    request: enrolmentRequest,
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 30 * 24 * 3600_000,
  });
  await client.importCertificates(org.certificate, certificate);
  await client.register();
  await client.close();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-cli-trust-'));
  redis = await startRedis();
  network = new TestNetwork(await loadNodeCrypto(), Date.now());
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'silent' });
});
afterAll(async () => {
  await fx?.close();
  await redis?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

it('a new org key: the inbox shows what could not be opened, trust status shows the change, accept-org-key takes only the right fingerprint', async () => {
  const ngo = network.addOrg('ngo-a', 'ngo');
  const shelter = network.addOrg('shelter-b', 'shelter');
  await postJson(fx.url, ROUTES.orgs, { certificate: shelter.certificate });
  await enrolOnDisk(ngo, 'viewer', path.join(dir, 'viewer'));
  // The viewer has seen the shelter under its first key.
  const before = await ok(['directory', '--json']);
  expect(before.json.orgs.map((o: { orgId: string }) => o.orgId).sort()).toEqual(['ngo-a', 'shelter-b']);
  const quiet = await ok(['trust', 'status']);
  expect(quiet.stdout).toBe('No org key changes are waiting.\n');

  // The shelter moves to a new key; its device, certified under it, writes to the NGO.
  // The relay takes a re-issued certificate only when it was issued later than the one it holds.
  const rekeyed = network.addOrg('shelter-b', 'shelter', { issuedAt: shelter.certificate.issuedAt + 60_000 });
  let sender: HandoverClient | undefined;
  try {
    sender = await enrolClient(fx, rekeyed, 'sender');
    const sent = await sender.send({ threadId: toB64u(fx.crypto.random(16)), orgIds: ['ngo-a'], payload: { note: 'hello' } });

    const inbox = await ok(['inbox', '--json']);
    expect(inbox.json.couldNotOpen).toEqual([
      expect.objectContaining({ messageId: sent.messageId, senderDeviceId: 'shelter-b:sender', code: 'UNTRUSTED_KEY', pending: true }),
    ]);
    const inboxText = await ok(['inbox']);
    expect(inboxText.stdout).toContain('COULD NOT OPEN 1 message(s):');
    expect(inboxText.stdout).toContain(`${sent.messageId} from shelter-b:sender`);
    expect(inboxText.stdout).toContain('UNTRUSTED_KEY (waiting, tried again automatically)');

    const newFingerprint = fingerprint(fx.crypto, 'org', 'shelter-b', rekeyed.keys.publicKey);
    const status = await ok(['trust', 'status', '--json']);
    expect(status.json).toEqual({
      keyChanges: [{ orgId: 'shelter-b', name: 'Org shelter-b', newFingerprint, seenAt: expect.any(String) }],
      unverifiableRevocations: [],
    });
    const statusText = await ok(['trust', 'status']);
    expect(statusText.stdout).toContain('KEY CHANGED: shelter-b (Org shelter-b) presents a new org key since');
    expect(statusText.stdout).toContain(`  ${newFingerprint}\n`);
    expect(statusText.stdout).toContain('then: handover trust accept-org-key shelter-b <the digits they read to you>');

    const oldFingerprint = fingerprint(fx.crypto, 'org', 'shelter-b', shelter.keys.publicKey);
    const wrong = await cli(['trust', 'accept-org-key', 'shelter-b', oldFingerprint, '--json']);
    expect(wrong.code).toBe(2);
    expect(wrong.json.error.code).toBe('UNTRUSTED_KEY');
    expect((await ok(['trust', 'status', '--json'])).json.keyChanges).toHaveLength(1);

    // Read out in groups, typed as separate words.
    const accepted = await ok(['trust', 'accept-org-key', 'shelter-b', ...newFingerprint.split(' '), '--json']);
    expect(accepted.json).toEqual({ orgId: 'shelter-b', accepted: true, fingerprint: newFingerprint });
    expect((await ok(['trust', 'status', '--json'])).json.keyChanges).toEqual([]);

    // The message was left waiting in the relay: it opens now, and is no longer listed.
    expect((await ok(['inbox', '--json'])).json.couldNotOpen).toEqual([]);
  } finally {
    await sender?.close();
  }
});
