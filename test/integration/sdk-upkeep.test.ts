/**
 * SDK upkeep against a real relay on a real redis-server: one-time prekey
 * refill on the relay's low notice, weekly signed prekey rotation (fake
 * clock), and revocation sync that notices a relay rolling the list back.
 */
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { isHandoverError } from '../../shared/errors';
import type { HandoverClient } from '../../client/sdk/client';
import { MemoryStorage } from '../../client/sdk/storage';
import { TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, signInTestDevice, startTestRelay } from '../support/relay';

const DAY = 24 * 3600_000;
let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
const clients: HandoverClient[] = [];

beforeAll(async () => {
  network = new TestNetwork(await loadCrypto(), Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { oneTimePrekeyLowWater: 95, rateLimits: { ipPerMinute: 10_000, sendPerMinute: 10_000, bundlesPerMinute: 1000, connectPerMinute: 1000 } } });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await fx.close();
  await redis.destroy();
});

it('uploads more one-time prekeys when the relay says they run low', async () => {
  const shelter = network.addOrg('shelter-refill', 'shelter');
  const client = await enrolClient(fx, shelter, 'shelter-refill:refill-dev');
  clients.push(client);
  const before = await fx.relay.store.countOneTimePrekeys('shelter-refill:refill-dev');
  // Someone fetches bundles until the relay is below its low-water mark (95 here).
  const fetcher = network.addDevice(network.addOrg('ngo-refill', 'ngo'), 'refill-fetcher');
  await postJson(fx.url, ROUTES.orgs, { certificate: fetcher.org.certificate });
  await postJson(fx.url, ROUTES.devices, { certificate: fetcher.certificate, signedPrekey: fetcher.signedPrekey, pqPrekey: fetcher.pqPrekey, oneTimePrekeys: [] });
  const token = await signInTestDevice(fx, fetcher);
  for (let i = 0; i < 10; i++) await fetch(new URL(ROUTES.bundles('shelter-refill'), fx.url), { headers: { authorization: `Bearer ${token}` } });
  await eventually(async () => (await fx.relay.store.countOneTimePrekeys('shelter-refill:refill-dev')) > before, 10_000, 'refill');
});

it('rotates its signed prekeys after a week', async () => {
  let clock = Date.now();
  const ngo = network.addOrg('ngo-rotate', 'ngo');
  const client = await enrolClient(fx, ngo, 'ngo-rotate:rotate-dev', { connect: false, now: () => clock });
  clients.push(client);
  await client.signIn();
  const first = (await client.api.prekeyStatus()).signedPrekeyId;
  await client.maintainPrekeys();
  expect((await client.api.prekeyStatus()).signedPrekeyId).toBe(first); // not due yet
  clock += 8 * DAY;
  await client.maintainPrekeys();
  expect((await client.api.prekeyStatus()).signedPrekeyId).toBeGreaterThan(first ?? -1);
});

it('refuses a revocation list that a relay rolled back (ROLLBACK)', async () => {
  const ngo = network.addOrg('ngo-rollback', 'ngo');
  const storage = new MemoryStorage();
  const client = await enrolClient(fx, ngo, 'ngo-rollback:rollback-dev', { connect: false, storage });
  clients.push(client);
  const victim = network.addDevice(ngo, 'ngo-rollback:rollback-lost-phone');
  await postJson(fx.url, ROUTES.devices, { certificate: victim.certificate, signedPrekey: victim.signedPrekey, pqPrekey: victim.pqPrekey, oneTimePrekeys: [] });
  expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(victim) })).status).toBe(201);
  await client.signIn(); // syncs: the client now knows revocation #1 of ngo-rollback
  await expect(client.trust.device('ngo-rollback:rollback-lost-phone')).rejects.toMatchObject({ code: expect.stringMatching(/REVOKED|UNTRUSTED_KEY/) });

  // A hostile operator deletes the revocation log in Redis to bring the lost phone back.
  const admin = redis.client();
  for (const key of await admin.keys('*{rev}*')) await admin.del(key);
  const err = await client.trust.syncRevocations().catch((e: unknown) => e);
  expect(isHandoverError(err, 'ROLLBACK')).toBe(true);
});

it('finding 12: one-time prekey private halves the relay handed out are deleted once the retention window has passed', async () => {
  let clock = Date.now();
  const shelter = network.addOrg('shelter-prune', 'shelter');
  const client = await enrolClient(fx, shelter, 'prune-dev', { connect: false, now: () => clock });
  clients.push(client);
  await client.signIn();
  const held = client.oneTimePrekeysHeld;
  // Someone fetches 3 bundles: 3 one-time prekeys leave the relay and are never used.
  const fetcher = network.addDevice(network.addOrg('ngo-prune', 'ngo'), 'prune-fetcher');
  await postJson(fx.url, ROUTES.orgs, { certificate: fetcher.org.certificate });
  await postJson(fx.url, ROUTES.devices, { certificate: fetcher.certificate, signedPrekey: fetcher.signedPrekey, pqPrekey: fetcher.pqPrekey, oneTimePrekeys: [] });
  const token = await signInTestDevice(fx, fetcher);
  for (let i = 0; i < 3; i++) await fetch(new URL(ROUTES.bundles('shelter-prune'), fx.url), { headers: { authorization: `Bearer ${token}` } });

  await client.maintainPrekeys(); // notices the handout, keeps the private halves for now
  expect(client.oneTimePrekeysHeld).toBe(held);
  clock += 31 * DAY; // past the 30-day retention window (plus clock skew)
  await client.maintainPrekeys();
  expect(client.oneTimePrekeysHeld).toBe(held - 3);
});

it('finding 12: a device certificate that has expired is no longer trusted from the cache', async () => {
  let clock = Date.now();
  const ngo = network.addOrg('ngo-cache', 'ngo');
  const client = await enrolClient(fx, ngo, 'cache-dev', { connect: false, now: () => clock });
  clients.push(client);
  const shortLived = network.addDevice(ngo, 'short-lived', { expiresAt: Date.now() + 60_000 });
  await postJson(fx.url, ROUTES.devices, { certificate: shortLived.certificate, signedPrekey: shortLived.signedPrekey, pqPrekey: shortLived.pqPrekey, oneTimePrekeys: [] });
  await client.signIn();
  expect((await client.trust.device(shortLived.keys.deviceId)).certificate.deviceId).toBe(shortLived.keys.deviceId);
  clock += 2 * 60_000;
  expect(client.trust.listDevices('ngo-cache').map((d) => d.certificate.deviceId)).not.toContain(shortLived.keys.deviceId);
  await expect(client.trust.device(shortLived.keys.deviceId)).rejects.toMatchObject({ code: expect.stringMatching(/EXPIRED|UNTRUSTED_KEY/) });
});
