/**
 * Backup and restore (issue 13) on a real relay and a real redis-server:
 * the shelter's only device is lost after it accepted a referral; its
 * backup is restored onto a fresh profile with new keys under a new device
 * id, enrolled again, the old device revoked; the whole case is there at
 * once, the pinned org keys too, and the restored device acts on it. A
 * wrong recovery passphrase, an altered backup, a keystore given as a
 * backup and the lost device's own id are refused with clear errors; the
 * backup never holds the device's private keys.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService, ReferralBody } from '../../client/referral';
import { readBackup, restoreVault } from '../../client/sdk/backup';
import { HandoverClient } from '../../client/sdk/client';
import { MemoryStorage } from '../../client/sdk/storage';
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { loadCrypto } from '../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { fromB64u, toB64u } from '../../shared/encoding';
import { HandoverError } from '../../shared/errors';
import { TestNetwork, type TestDevice } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { type RelayFixture, enrolClient, eventually, postJson, startTestRelay } from '../support/relay';

const RECOVERY = 'a separate recovery passphrase';
const LOCAL = 'correct horse battery staple';
let redis: TestRedis;
let fx: RelayFixture;
const open: Array<{ client: HandoverClient; cases: CaseService }> = [];

beforeAll(async () => {
  redis = await startRedis();
  fx = await startTestRelay(new TestNetwork(await loadCrypto(), Date.now()), { redisUrl: redis.url, logLevel: 'silent' });
});
afterAll(async () => {
  for (const p of open) {
    p.cases.dispose();
    await p.client.close();
  }
  await fx.close();
  await redis.destroy();
});

async function withCases(client: HandoverClient) {
  const cases = new CaseService({ transport: client });
  await cases.start();
  open.push({ client, cases });
  return cases;
}

function referral(): ReferralBody {
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')));
  body.header.coordinators = [];
  return body;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof HandoverError ? `${err.code}: ${err.message}` : String(err);
  }
  return undefined;
};

it('restores a lost device\'s cases onto a new device with new keys; refuses wrong passphrases, altered files and the old id', async () => {
  const net = fx.network;
  const shelterOrg = net.addOrg('shelter-ist', 'shelter');
  const ngoClient = await enrolClient(fx, net.addOrg('ngo-taraz', 'ngo'), 'dana');
  const ngo = await withCases(ngoClient);
  const aminaStorage = new MemoryStorage();
  const aminaClient = await enrolClient(fx, shelterOrg, 'amina', { storage: aminaStorage });
  const amina = await withCases(aminaClient);

  const { threadId } = await ngo.refer(referral());
  await eventually(async () => (await amina.thread(threadId)).status === 'sent', 15_000, 'the referral at the shelter');
  await amina.accept(threadId, { bedReserved: true });
  await eventually(async () => (await ngo.thread(threadId)).status === 'accepted', 15_000, 'the accept at the NGO');
  const before = await amina.thread(threadId);

  const aminaPinnedNgo = aminaClient.trust.pinned('ngo-taraz')?.publicKey;
  expect(aminaPinnedNgo).toEqual(expect.any(String));
  const { text, summary } = await aminaClient.backup(RECOVERY, PWHASH_TEST_ONLY);
  expect(summary).toMatchObject({ fromDeviceId: 'shelter-ist:amina', orgId: 'shelter-ist' });
  expect(summary.records).toBeGreaterThan(3);

  // The backup never holds the device's private keys (nor the profile passphrase).
  const keysJson = JSON.stringify(await (aminaClient as unknown as { vault: { get(n: string): Promise<unknown> } }).vault.get('device-keys'));
  const signPrivate = (JSON.parse(keysJson) as { sign: { privateKey: string } }).sign.privateKey;
  const opened = JSON.stringify(readBackup(fx.crypto, text, RECOVERY));
  expect(opened).not.toContain(signPrivate);
  expect(opened).not.toContain('"device-keys"');
  expect(opened).not.toContain(LOCAL);
  expect(opened).toContain(threadId);

  // Refusals, each with a clear code and words.
  expect(code(() => readBackup(fx.crypto, text, 'not the recovery passphrase'))).toMatch(/^WRONG_PASSPHRASE: wrong passphrase, or the backup file was altered/);
  const sealed = JSON.parse(text) as { ciphertext: string; kdf: { opsLimit: number } };
  const ct = fromB64u(sealed.ciphertext);
  ct[40] = ct[40]! ^ 1;
  expect(code(() => readBackup(fx.crypto, JSON.stringify({ ...sealed, ciphertext: toB64u(ct) }), RECOVERY))).toMatch(/^WRONG_PASSPHRASE: .*altered/);
  expect(code(() => readBackup(fx.crypto, JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, opsLimit: sealed.kdf.opsLimit + 1 } }), RECOVERY))).toMatch(/^WRONG_PASSPHRASE/);
  expect(code(() => readBackup(fx.crypto, '{"format":"handover-backup"', RECOVERY))).toMatch(/^KEYSTORE_CORRUPT: the backup file is damaged or not a Handover backup/);
  const keystore = await aminaStorage.get('keystore');
  expect(code(() => readBackup(fx.crypto, keystore!, LOCAL))).toMatch(/^KEYSTORE_CORRUPT: this is a Handover keystore, not a backup/);
  await expect(
    HandoverClient.restoreProfile({ crypto: fx.crypto, storage: new MemoryStorage(), passphrase: LOCAL, pwhashLimits: PWHASH_TEST_ONLY, backup: text, recoveryPassphrase: RECOVERY, deviceId: 'amina' }),
  ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('needs a new device id') });
  await expect(
    HandoverClient.restoreProfile({ crypto: fx.crypto, storage: new MemoryStorage(), passphrase: LOCAL, pwhashLimits: PWHASH_TEST_ONLY, backup: text, recoveryPassphrase: RECOVERY, deviceId: 'other-org:amina-2' }),
  ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(restoreVault(fx.crypto, { storage: new MemoryStorage(), passphrase: LOCAL, limits: PWHASH_TEST_ONLY, backup: text, recoveryPassphrase: RECOVERY })).rejects.toMatchObject({
    code: 'BAD_REQUEST',
    message: expect.stringContaining('new device'),
  });
  // A profile that exists is never overwritten by a restore.
  await expect(
    HandoverClient.restoreProfile({ crypto: fx.crypto, storage: aminaStorage, passphrase: LOCAL, pwhashLimits: PWHASH_TEST_ONLY, backup: text, recoveryPassphrase: RECOVERY, deviceId: 'amina-2' }),
  ).rejects.toMatchObject({ code: 'BAD_REQUEST' });

  // The laptop is lost. The org admin revokes it; the backup goes onto a new machine as a new device.
  await aminaClient.close();
  const lost = { org: shelterOrg, keys: { deviceId: 'shelter-ist:amina' } } as unknown as TestDevice;
  expect((await postJson(fx.url, ROUTES.revocations, { revocation: net.revokeDevice(lost) })).status).toBe(201);
  const { client: restored, enrolmentRequest, restored: info } = await HandoverClient.restoreProfile({
    crypto: fx.crypto,
    storage: new MemoryStorage(),
    passphrase: LOCAL,
    pwhashLimits: PWHASH_TEST_ONLY,
    backup: text,
    recoveryPassphrase: RECOVERY,
    deviceId: 'amina-2',
    label: 'Amina, new laptop',
    ackTimeoutMs: 3000,
  });
  expect(info.fromDeviceId).toBe('shelter-ist:amina');
  expect(restored.deviceId).toBe('shelter-ist:amina-2');
  // New keys: nothing of the lost device's key material.
  expect(keysJson).not.toContain(toB64u(restored.signPublicKey));
  // The pinned org keys came back: the NGO's key is still the one first seen.
  expect(restored.trust.pinned('ngo-taraz')?.publicKey).toBe(aminaPinnedNgo);

  // The whole case is on the new device before it is even enrolled.
  const restoredCases = await withCases(restored);
  const after = await restoredCases.thread(threadId);
  expect(after.status).toBe('accepted');
  expect(after.timeline.map((e) => e.type)).toEqual(before.timeline.map((e) => e.type));
  expect(after.referral).toEqual(before.referral);

  // Enrolled again like any new device, it acts on the case; the NGO sees it come from the new device.
  const now = Date.now();
  const certificate = issueDeviceCertificate(fx.crypto, { request: enrolmentRequest, orgCertificate: shelterOrg.certificate, orgPrivateKey: shelterOrg.keys.privateKey, role: 'caseworker', issuedAt: now - 60_000, expiresAt: now + 90 * 86_400_000 });
  await restored.importCertificates(shelterOrg.certificate, certificate);
  await restored.register();
  await restored.connect();
  await restoredCases.scheduleIntake(threadId, { scheduledFor: Date.now() + 86_400_000, location: 'Main entrance' });
  await eventually(async () => (await ngo.thread(threadId)).status === 'intake-scheduled', 15_000, 'the restored device\'s event at the NGO');
  const last = (await ngo.thread(threadId)).timeline.at(-1)!;
  expect(last.author.deviceId).toBe('shelter-ist:amina-2');
});
