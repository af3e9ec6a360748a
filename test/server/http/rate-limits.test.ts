/**
 * Rate limits over HTTP: key bundles per (requesting device, target org),
 * requests per client address (honouring exactly TRUST_PROXY_HOPS proxies),
 * and limits shared by several relay processes through Redis. A refusal is
 * 429 RATE_LIMITED with a Retry-After header; probes are never limited.
 */
import { ROUTES } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { TestClock } from '../../support/clock';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import type { RelayConfig } from '../../../server/config';
import { api, bearer, enrol, expectError, expectOk, signIn } from './helpers';

let network: TestNetwork;
const relays: RelayFixture[] = [];
/**
 * Every relay here runs on this clock. Limits count in fixed one-minute
 * windows; a test that counts hits starts a fresh window first, so its
 * count cannot straddle two.
 */
const clock = new TestClock();

beforeAll(async () => {
  network = new TestNetwork(await loadCrypto(), Date.now());
});
afterAll(async () => {
  for (const r of relays) await r.close();
});

async function relay(rateLimits: Partial<RelayConfig['rateLimits']>, extra: Partial<RelayConfig> = {}, redisUrl?: string): Promise<RelayFixture> {
  const fx = await startTestRelay(network, {
    ...(redisUrl ? { redisUrl } : {}),
    now: clock.now,
    config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000, ...rateLimits }, ...extra },
  });
  relays.push(fx);
  return fx;
}

function expectRateLimited(res: Parameters<typeof expectError>[0]): void {
  const error = expectError(res, 429, 'RATE_LIMITED');
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(error.details?.retryAfterMs).toEqual(expect.any(Number));
}

describe('key bundles per (requester, org)', () => {
  it('the 4th fetch of one org in a minute is refused; other orgs and other requesters still work', async () => {
    const fx = await relay({ bundlesPerMinute: 3 });
    const target = network.addDevice(network.addOrg('rl-target'), 'rl-target-1', { oneTimePrekeys: 10 });
    const other = network.addDevice(network.addOrg('rl-other'), 'rl-other-1');
    const requester = network.addDevice(network.addOrg('rl-requester'), 'rl-requester-1');
    const second = network.addDevice(network.addOrg('rl-second'), 'rl-second-1');
    for (const d of [target, other, requester, second]) await enrol(fx, d);
    const token = await signIn(fx, requester);
    const secondToken = await signIn(fx, second);
    const targetToken = await signIn(fx, target);
    const bundles = (t: string, orgId: string) => api(fx).get(ROUTES.bundles(orgId)).set(bearer(t));

    clock.startNextWindow();
    for (let i = 0; i < 3; i++) expectOk(await bundles(token, 'rl-target'));
    const refused = await bundles(token, 'rl-target');
    expectRateLimited(refused);
    expect(refused.body.error.message).toContain('rl-target');
    // The refused fetch popped nothing.
    expect(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(targetToken)))).toMatchObject({ oneTimePrekeys: 7 });

    expectOk(await bundles(token, 'rl-other'));
    expectOk(await bundles(secondToken, 'rl-target'));
    expectRateLimited(await bundles(token, 'rl-target'));
  });
});

describe('requests per client address', () => {
  it('the 6th request in a minute is refused on every route; probes still answer', async () => {
    const fx = await relay({ ipPerMinute: 5 });
    clock.startNextWindow();
    for (let i = 0; i < 3; i++) expectOk(await api(fx).get(ROUTES.network));
    // Every route counts, refused requests and unknown routes included.
    expectError(await api(fx).post(ROUTES.challenge).send({}), 400, 'BAD_REQUEST');
    expectError(await api(fx).get('/v1/nope'), 404, 'NOT_FOUND');
    expectRateLimited(await api(fx).get(ROUTES.network));
    expectRateLimited(await api(fx).post(ROUTES.challenge).send({ deviceId: 'anyone' }));
    expectRateLimited(await api(fx).get('/v1/nope'));
    expect(expectOk(await api(fx).get(ROUTES.health))).toEqual({ ok: true });
    expect(expectOk(await api(fx).get(ROUTES.ready))).toMatchObject({ ok: true });
    expect((await api(fx).get(ROUTES.metrics)).status).toBe(200);
  });

  it('TRUST_PROXY_HOPS=0: X-Forwarded-For is ignored, so rotating it does not escape the limit', async () => {
    const fx = await relay({ ipPerMinute: 3 }, { trustProxyHops: 0 });
    clock.startNextWindow();
    for (let i = 0; i < 3; i++) expectOk(await api(fx).get(ROUTES.network).set('x-forwarded-for', `203.0.113.${i}`));
    expectRateLimited(await api(fx).get(ROUTES.network).set('x-forwarded-for', '203.0.113.99'));
  });

  it('TRUST_PROXY_HOPS=1: the address the proxy appended counts; entries a client made up before it do not', async () => {
    const fx = await relay({ ipPerMinute: 3 }, { trustProxyHops: 1 });
    clock.startNextWindow();
    // The client forges different leftmost entries; the proxy appends the real address last.
    for (let i = 0; i < 3; i++) expectOk(await api(fx).get(ROUTES.network).set('x-forwarded-for', `198.51.100.${i}, 203.0.113.7`));
    expectRateLimited(await api(fx).get(ROUTES.network).set('x-forwarded-for', '198.51.100.50, 203.0.113.7'));
    // Another client behind the same proxy has its own budget.
    expectOk(await api(fx).get(ROUTES.network).set('x-forwarded-for', '203.0.113.8'));
  });
});

describe('several relay processes on one Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  // Inside this block, so it runs before test/support/redis.ts's file-level cleanup kills the server.
  afterAll(async () => {
    for (const r of relays.splice(0)) await r.close();
    await redis.destroy();
  });

  it('share one budget per address and one per (requester, org)', async () => {
    const a = await relay({ ipPerMinute: 8, bundlesPerMinute: 2 }, {}, redis.url);
    const b = await relay({ ipPerMinute: 8, bundlesPerMinute: 2 }, {}, redis.url);
    clock.startNextWindow();
    // Registration through A, sign-in through B (one directory): requests 1-4.
    const target = network.addDevice(network.addOrg('rl-shared-target'), 'rl-shared-target-1');
    expectOk(await api(a).post(ROUTES.orgs).send({ certificate: target.org.certificate }), 201);
    expectOk(
      await api(a)
        .post(ROUTES.devices)
        .send({ certificate: target.certificate, signedPrekey: target.signedPrekey, pqPrekey: target.pqPrekey, oneTimePrekeys: target.oneTimePrekeys }),
      201,
    );
    const token = await signIn(b, target);
    // Requests 5-7: one bundle fetch on each process uses up the pair's budget of 2.
    expectOk(await api(a).get(ROUTES.bundles('rl-shared-target')).set(bearer(token)));
    expectOk(await api(b).get(ROUTES.bundles('rl-shared-target')).set(bearer(token)));
    const bundleRefusal = await api(a).get(ROUTES.bundles('rl-shared-target')).set(bearer(token));
    expectRateLimited(bundleRefusal);
    expect(bundleRefusal.body.error.message).toContain('rl-shared-target');
    // Request 8 is the last this address may make, on either process.
    expectOk(await api(b).get(ROUTES.network));
    expectRateLimited(await api(a).get(ROUTES.network));
    expectRateLimited(await api(b).get(ROUTES.network));
  });
});
