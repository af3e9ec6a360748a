/**
 * A certificate's life on a real relay and redis-server, on one injected
 * clock shared by the relay, the admins and the devices (moved forward by
 * months instead of waited for): expiry warnings 30 days ahead for the
 * device's own certificate, its org's and its partners'; a device renewed
 * by its org admin without a phone call and registered again (the relay
 * takes the newer certificate, and the device works after the old one
 * expired); an org renewed by the coordinator for the same key, picked up
 * silently by every device; and a device whose clock runs 10 minutes fast
 * told so when the relay refuses its message.
 */
import { loadNodeCrypto } from '../../shared/crypto/node';
import { type Crypto, PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { toB64u } from '../../shared/encoding';
import { type HandoverError, isHandoverError } from '../../shared/errors';
import { fingerprint } from '../../shared/fingerprint';
import type { OrgCertificate } from '../../shared/schemas';
import { testConfig } from '../../server/config';
import { createLogger } from '../../server/logger';
import { type Relay, startRelay } from '../../server/relay';
import { AdminKeys } from '../../client/sdk/admin';
import { certificateStandings, deviceDependencies, needingAction } from '../../client/sdk/certificate-status';
import { HandoverClient } from '../../client/sdk/client';
import { explainClockError, relayClockOffset } from '../../client/sdk/clock';
import { RelayApi } from '../../client/sdk/relay-api';
import { deviceRenewalRequest } from '../../client/sdk/renewal';
import { MemoryStorage } from '../../client/sdk/storage';
import { Vault } from '../../client/sdk/vault';
import { startRedis, type TestRedis } from '../support/redis';

const DAY = 24 * 60 * 60 * 1000;
const MINUTE = 60_000;
const PASS = 'correct horse battery staple';
jest.setTimeout(60_000);

let crypto: Crypto;
let redis: TestRedis;
let relay: Relay;
/** How far everyone's clock has been moved forward. */
let travelled = 0;
const now = (): number => Date.now() + travelled;

let root: AdminKeys;
const admins = new Map<string, AdminKeys>();
const orgCerts = new Map<string, OrgCertificate>();
const storages = new Map<string, MemoryStorage>();
const clients: HandoverClient[] = [];

async function adminKeys(): Promise<AdminKeys> {
  return new AdminKeys(crypto, await Vault.create(crypto, new MemoryStorage(), PASS, PWHASH_TEST_ONLY), now);
}

async function certifyOrg(orgId: string, orgType: OrgCertificate['orgType']): Promise<void> {
  const admin = await adminKeys();
  const key = await admin.createOrgKey(orgId);
  const cert = await root.issueOrg({ orgId, name: `Org ${orgId}`, orgType, country: 'TR', services: [], publicKey: key.publicKey, days: 365, confirmedFingerprint: key.fingerprint });
  await admin.importOrgCertificate(cert);
  await new RelayApi(relay.url).registerOrg(cert);
  admins.set(orgId, admin);
  orgCerts.set(orgId, cert);
}

async function enrol(orgId: string, name: string, rootPublicKey: string): Promise<HandoverClient> {
  const storage = new MemoryStorage();
  const deviceId = `${orgId}:${name}`;
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto,
    storage,
    passphrase: PASS,
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId,
    deviceId,
    label: `Staff ${name}`,
    rootPublicKey,
    serverUrl: relay.url,
    now,
    ackTimeoutMs: 3000,
  });
  const admin = admins.get(orgId)!;
  const cert = await admin.signDevice(enrolmentRequest, 'caseworker', 180, fingerprint(crypto, 'device', deviceId, client.signPublicKey));
  await client.importCertificates(orgCerts.get(orgId), cert);
  await client.register();
  storages.set(deviceId, storage);
  clients.push(client);
  return client;
}

function standings(client: HandoverClient) {
  return certificateStandings(deviceDependencies(client), now()).map((s) => [s.role, s.id, s.daysLeft, s.state]);
}

async function refusal(work: Promise<unknown>): Promise<HandoverError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHandoverError(err)) throw new Error(`expected a HandoverError, got ${String(err)}`);
  return err;
}

let amina: HandoverClient;
let dana: HandoverClient;

beforeAll(async () => {
  crypto = await loadNodeCrypto();
  redis = await startRedis();
  root = await adminKeys();
  const rootInfo = await root.createRoot();
  relay = await startRelay(testConfig({ rootPublicKey: rootInfo.publicKey, redisUrl: redis.url, logLevel: 'silent' }), { crypto, logger: createLogger('silent'), now });
  await certifyOrg('shelter-ist', 'shelter');
  await certifyOrg('ngo-taraz', 'ngo');
  amina = await enrol('shelter-ist', 'amina', rootInfo.publicKey);
  dana = await enrol('ngo-taraz', 'dana', rootInfo.publicKey);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await relay?.close();
  await redis?.destroy();
});

it('a device whose clock is 10 minutes fast: the relay refuses its message, and the error says your clock is 10 minutes ahead', async () => {
  const deviceId = 'ngo-taraz:dana';
  const fast = await HandoverClient.open({ crypto, storage: storages.get(deviceId)!, passphrase: PASS, now: () => Date.now() + 10 * MINUTE, ackTimeoutMs: 3000 });
  clients.push(fast);
  await fast.connect();
  const raw = await refusal(fast.send({ threadId: toB64u(crypto.random(16)), orgIds: ['shelter-ist'], payload: { hello: 'x' } }));
  expect(raw.code).toBe('BAD_REQUEST');
  expect(raw.message).toMatch(/sentAt/);
  const explained = explainClockError(raw, await relayClockOffset(relay.url, () => Date.now() + 10 * MINUTE)) as HandoverError;
  expect(explained.message).toMatch(/^the relay refused the message because your clock is 10 minutes ahead of the relay's/);
  expect(explained.message).toContain('Nothing was sent.');
  await fast.close();
});

it('warns from 30 days before the device certificate expires; its org and partner orgs are fine yet', async () => {
  await amina.signIn();
  expect(standings(amina)).toEqual([
    ['this-device', 'shelter-ist:amina', 180, 'valid'],
    ['own-org', 'shelter-ist', 365, 'valid'],
    ['partner-org', 'ngo-taraz', 365, 'valid'],
  ]);
  travelled = 149 * DAY;
  await amina.signIn();
  expect(needingAction(certificateStandings(deviceDependencies(amina), now()))).toEqual([]);
  travelled = 151 * DAY;
  await amina.signIn();
  expect(standings(amina)).toEqual([
    ['this-device', 'shelter-ist:amina', 29, 'expiring'],
    ['own-org', 'shelter-ist', 214, 'valid'],
    ['partner-org', 'ngo-taraz', 214, 'valid'],
  ]);
});

it('device renew: the org admin renews without a phone call, the device registers again, and works after the old certificate expired', async () => {
  travelled = 151 * DAY;
  for (const [client, orgId] of [
    [amina, 'shelter-ist'],
    [dana, 'ngo-taraz'],
  ] as const) {
    const renewal = deviceRenewalRequest(client.enrolmentRequest(), client.certificates.device);
    const renewed = await admins.get(orgId)!.signDevice(renewal, undefined, 365);
    await client.importCertificates(client.trust.pinned(orgId), renewed);
    await client.register();
    expect(client.certificates.device?.expiresAt).toBe(renewed.expiresAt);
  }
  await dana.signIn();
  // The relay serves the newer certificate: partners see it.
  expect(dana.trust.listDevices('shelter-ist').map((d) => d.certificate.expiresAt)).toEqual([amina.certificates.device?.expiresAt]);

  travelled = 200 * DAY; // the first certificate has expired; the renewed one carries on
  await amina.signIn();
  expect(standings(amina)[0]).toEqual(['this-device', 'shelter-ist:amina', 316, 'valid']);
  await amina.connect();
  await dana.connect();
  const got = new Promise((resolve) => amina.on('message', resolve));
  await dana.send({ threadId: toB64u(crypto.random(16)), orgIds: ['shelter-ist'], payload: { after: 'renewal' } });
  await expect(got).resolves.toMatchObject({ payload: { after: 'renewal' }, senderDeviceId: 'ngo-taraz:dana' });
  await amina.close();
  await dana.close();
});

it('org renew: 30 days ahead both sides are warned; the coordinator renews for the same key and every device picks it up silently', async () => {
  travelled = 340 * DAY;
  await dana.signIn();
  expect(standings(dana)).toEqual([
    ['this-device', 'ngo-taraz:dana', 176, 'valid'],
    ['own-org', 'ngo-taraz', 25, 'expiring'],
    ['partner-org', 'shelter-ist', 25, 'expiring'],
  ]);

  const ngoAdmin = admins.get('ngo-taraz')!;
  const { certificate } = await root.renewOrg(await ngoAdmin.orgRenewal(), 365);
  await ngoAdmin.importOrgCertificate(certificate);
  await new RelayApi(relay.url).registerOrg(certificate);

  await amina.signIn();
  await dana.signIn();
  expect(amina.trust.pendingKeyChanges()).toEqual([]);
  expect(standings(amina)[2]).toEqual(['partner-org', 'ngo-taraz', 365, 'valid']);
  expect(standings(dana)[1]).toEqual(['own-org', 'ngo-taraz', 365, 'valid']);
  // The relay refuses to go back to the old certificate.
  expect((await refusal(new RelayApi(relay.url).registerOrg(orgCerts.get('ngo-taraz')!))).code).toBe('FORBIDDEN');

  // Past the shelter's org certificate: its partners see it expired, and it is no longer offered.
  travelled = 366 * DAY;
  await dana.signIn();
  expect(standings(dana)[2]).toEqual(['partner-org', 'shelter-ist', -1, 'expired']);
  expect(dana.trust.listOrgs().map((o) => o.orgId)).toEqual(['ngo-taraz']);
});
