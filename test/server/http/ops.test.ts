/**
 * What operators and browsers see: readiness that follows the Redis store
 * (down → 503, back → 200, data kept with appendfsync always), Prometheus
 * metrics labelled by route template only, helmet's security headers on
 * every answer, and CORS only for configured origins.
 */
import { ROUTES } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { eventually, type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, enrol, expectError, expectOk, OVERSIZED_JSON, signIn } from './helpers';

let network: TestNetwork;

beforeAll(async () => {
  network = new TestNetwork(await loadCrypto(), Date.now());
});

describe('readiness follows the Redis store', () => {
  let redis: TestRedis;
  let fx: RelayFixture;
  beforeAll(async () => {
    redis = await startRedis({ appendfsync: 'always' });
    fx = await startTestRelay(network, { redisUrl: redis.url });
  });
  // Inside this block, so it runs before test/support/redis.ts's file-level cleanup kills the server.
  afterAll(async () => {
    await fx.close();
    await redis.destroy();
  });

  it('503 UNAVAILABLE while Redis is down (API included, never a 500), 200 again once it is back, nothing lost', async () => {
    const device = network.addDevice(network.addOrg('ops-durable'), 'ops-durable-1');
    await enrol(fx, device);
    expect(expectOk(await api(fx).get(ROUTES.ready))).toEqual({ ok: true, store: 'redis' });

    await redis.kill(); // a crash: with appendfsync always, every acknowledged write is on disk
    await eventually(async () => (await api(fx).get(ROUTES.ready)).status === 503, 10_000, 'readyz 503');
    const error = expectError(await api(fx).get(ROUTES.ready), 503, 'UNAVAILABLE');
    expect(error.message).toMatch(/store/);
    // Liveness is not readiness: the process itself is fine.
    expect(expectOk(await api(fx).get(ROUTES.health))).toEqual({ ok: true });
    // API calls fail fast and cleanly.
    expectError(await api(fx).post(ROUTES.challenge).send({ deviceId: 'ops-durable-1' }), 503, 'UNAVAILABLE');
    expectError(await api(fx).get(ROUTES.network).set('x-probe', '1'), 503, 'UNAVAILABLE');
    const metrics = (await api(fx).get(ROUTES.metrics)).text;
    expect(Number(/^handover_store_unavailable_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);

    await redis.restart();
    await eventually(async () => (await api(fx).get(ROUTES.ready)).status === 200, 15_000, 'readyz 200');
    // The registration made before the crash survived it.
    const token = await signIn(fx, device);
    expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(token)));
  });
});

describe('metrics, headers and CORS', () => {
  const ALLOWED = 'https://app.handover.example';
  let fx: RelayFixture;
  beforeAll(async () => {
    fx = await startTestRelay(network, { config: { corsOrigins: [ALLOWED, 'http://localhost:5173'] } });
  });
  afterAll(async () => {
    await fx.close();
  });

  it('/metrics is Prometheus text with every handover_ metric, labelled by route template, never by id or path', async () => {
    const device = network.addDevice(network.addOrg('ops-metrics-secret-org'), 'ops-metrics-secret-dev');
    await enrol(fx, device);
    const token = await signIn(fx, device);
    expectOk(await api(fx).get(ROUTES.org('ops-metrics-secret-org')).set(bearer(token)));
    expectError(await api(fx).get('/v1/some-secret-path-42'), 404, 'NOT_FOUND');

    const res = await api(fx).get(ROUTES.metrics);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const types = Object.fromEntries([...res.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(types).toEqual({
      handover_http_requests_total: 'counter',
      handover_envelopes_accepted_total: 'counter',
      handover_envelopes_refused_total: 'counter',
      handover_sends_shed_total: 'counter',
      handover_envelope_ciphertext_bytes: 'histogram',
      handover_envelope_accept_seconds: 'histogram',
      handover_deliveries_total: 'counter',
      handover_acks_total: 'counter',
      handover_envelopes_expired_total: 'counter',
      handover_sockets_connected: 'gauge',
      handover_socket_refusals_total: 'counter',
      handover_store_unavailable_total: 'counter',
    });
    expect(res.text).toContain('handover_http_requests_total{route="/v1/orgs/:orgId",method="GET",status="200"} 1');
    expect(res.text).toContain('handover_http_requests_total{route="/v1/devices",method="POST",status="201"} 1');
    expect(res.text).toMatch(/handover_http_requests_total\{route="unmatched",method="GET",status="404"\} \d+/);
    for (const secret of ['ops-metrics-secret-org', 'ops-metrics-secret-dev', 'some-secret-path-42', token]) expect(res.text).not.toContain(secret);
  });

  it('helmet headers on successes, refusals and unknown routes; no X-Powered-By', async () => {
    const responses = [
      await api(fx).get(ROUTES.network),
      await api(fx).get(ROUTES.health),
      await api(fx).get(ROUTES.orgs),
      await api(fx).get('/nowhere'),
      await api(fx).post(ROUTES.orgs).set('content-type', 'application/json').send(OVERSIZED_JSON),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 401, 404, 413]);
    for (const res of responses) {
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('CORS: a configured origin is allowed (simple and preflight requests); any other is not', async () => {
    const simple = await api(fx).get(ROUTES.network).set('origin', ALLOWED);
    expect(simple.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(simple.headers.vary).toMatch(/origin/i);

    const preflight = await api(fx)
      .options(ROUTES.oneTimePrekeys)
      .set('origin', ALLOWED)
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization, content-type');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET,POST,PUT');
    expect(preflight.headers['access-control-allow-headers']).toBe('content-type,authorization');
    expect(preflight.headers['access-control-max-age']).toBe('600');
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();

    for (const origin of ['https://evil.example', 'null', `${ALLOWED}.evil.example`, 'http://app.handover.example']) {
      const res = await api(fx).get(ROUTES.network).set('origin', origin);
      expect(res.status).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await api(fx).options(ROUTES.orgs).set('origin', origin).set('access-control-request-method', 'GET');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expectError(pre, 404, 'NOT_FOUND');
    }
    // The second configured origin works too.
    expect((await api(fx).get(ROUTES.network).set('origin', 'http://localhost:5173')).headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it('CORS is off unless configured', async () => {
    const plain = await startTestRelay(network);
    try {
      const res = await api(plain).get(ROUTES.network).set('origin', ALLOWED);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});
