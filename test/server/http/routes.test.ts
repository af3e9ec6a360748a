/**
 * Every HTTP route of the relay, one by one: what a correct request gets,
 * and how each kind of bad request is refused — wrong shape, oversized body,
 * malformed JSON, wrong content type, missing or bogus session. Refusals are
 * always `{ error: { code, message } }` JSON; never an HTML page, never a
 * stack trace, never a 500 for a client's mistake.
 */
import { gzipSync } from 'node:zlib';
import {
  BundlesResponse,
  ChallengeResponse,
  NetworkInfo,
  OrgDirectory,
  PrekeyStatus,
  RevocationList,
  ROUTES,
  SessionResponse,
} from '../../../shared/api';
import { issueRevocation } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { generateOneTimePrekeys, rotateSignedPrekeys, verifyBundle } from '../../../shared/device-keys';
import { toB64u } from '../../../shared/encoding';
import { type TestDevice, TestNetwork } from '../../support/network';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import {
  api,
  bearer,
  challenge,
  enrol,
  expectError,
  expectNoLeak,
  expectOk,
  OVERSIZED_JSON,
  registerDevice,
  registerOrg,
  signChallenge,
  signIn,
} from './helpers';

let fx: RelayFixture;
let network: TestNetwork;
let alice: TestDevice;
let bora: TestDevice;
let aliceToken: string;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000 } } });
  const ngo = network.addOrg('ngo-routes', 'ngo');
  const shelter = network.addOrg('shelter-routes', 'shelter');
  alice = network.addDevice(ngo, 'ngo-routes:routes-alice', { oneTimePrekeys: 3 });
  bora = network.addDevice(shelter, 'shelter-routes:routes-bora', { oneTimePrekeys: 3 });
  await enrol(fx, alice);
  await enrol(fx, bora);
  aliceToken = await signIn(fx, alice);
});
afterAll(async () => {
  await fx.close();
});

let logsSeen = 0;
afterEach(() => {
  // A client's mistake is never an internal error: nothing may reach the error log.
  const fresh = fx.logs.slice(logsSeen);
  logsSeen = fx.logs.length;
  expect(fresh.filter((line) => line.includes('"unhandled error"'))).toEqual([]);
});

type Method = 'GET' | 'POST' | 'PUT';

function call(method: Method, path: string) {
  const agent = api(fx);
  if (method === 'GET') return agent.get(path);
  if (method === 'POST') return agent.post(path);
  return agent.put(path);
}

/* ------------------------------------------------------------------ success -- */

describe('successful requests', () => {
  it('GET /v1/network describes the pinned root and the limits', async () => {
    const body = expectOk(await api(fx).get(ROUTES.network));
    const info = NetworkInfo.parse(body);
    expect(info.networkId).toBe(network.anchor.networkId);
    expect(info.rootPublicKey).toBe(toB64u(network.root.publicKey));
    expect(info.development).toBe(false);
    expect(info.limits.sessionTtlMs).toBe(fx.relay.config.sessionTtlMs);
  });

  it('POST /v1/orgs registers an org certificate (201)', async () => {
    const org = network.addOrg('ngo-fresh', 'ngo');
    expect(expectOk(await registerOrg(fx, org.certificate), 201)).toEqual({ orgId: 'ngo-fresh', replaced: false });
  });

  it('GET /v1/orgs lists registered orgs with their active devices', async () => {
    const dir = OrgDirectory.parse(expectOk(await api(fx).get(ROUTES.orgs).set(bearer(aliceToken))));
    const byId = new Map(dir.orgs.map((o) => [o.certificate.orgId, o.devices.map((d) => d.deviceId)]));
    expect(byId.get('ngo-routes')).toEqual(['ngo-routes:routes-alice']);
    expect(byId.get('shelter-routes')).toEqual(['shelter-routes:routes-bora']);
  });

  it('GET /v1/orgs/:orgId returns one directory entry', async () => {
    const body = expectOk(await api(fx).get(ROUTES.org('shelter-routes')).set(bearer(aliceToken)));
    const entry = OrgDirectory.shape.orgs.element.parse(body);
    expect(entry.certificate).toEqual(bora.org.certificate);
    expect(entry.devices).toEqual([bora.certificate]);
  });

  it('GET /v1/orgs/:orgId/bundles returns bundles that verify against the root', async () => {
    const res = BundlesResponse.parse(expectOk(await api(fx).get(ROUTES.bundles('shelter-routes')).set(bearer(aliceToken))));
    expect(res.bundles).toHaveLength(1);
    const keys = verifyBundle(network.anchor, res.org, res.bundles[0], { now: Date.now() });
    expect(keys.deviceId).toBe('shelter-routes:routes-bora');
    expect(keys.oneTimePrekey).toBeDefined();
  });

  it('POST /v1/devices registers a device with its prekeys (201)', async () => {
    const carol = network.addDevice(alice.org, 'ngo-routes:routes-carol', { oneTimePrekeys: 4 });
    expect(expectOk(await registerDevice(fx, carol), 201)).toEqual({ deviceId: 'ngo-routes:routes-carol', oneTimePrekeys: 4 });
  });

  it('POST /v1/auth/challenge and /v1/auth/session sign a device in', async () => {
    const ch = ChallengeResponse.parse(await challenge(fx, 'shelter-routes:routes-bora'));
    expect(ch.expiresAt).toBeGreaterThan(Date.now());
    const signature = signChallenge(fx, bora, { deviceId: 'shelter-routes:routes-bora', challengeId: ch.challengeId, challenge: ch.challenge });
    const res = await api(fx).post(ROUTES.session).send({ deviceId: 'shelter-routes:routes-bora', challengeId: ch.challengeId, signature });
    const session = SessionResponse.parse(expectOk(res));
    expect(session.expiresAt).toBeGreaterThan(Date.now());
    expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(session.token)));
  });

  it('PUT /v1/devices/me/signed-prekeys rotates the signed prekeys', async () => {
    const next = rotateSignedPrekeys(fx.crypto, alice.keys, Date.now());
    expect(expectOk(await api(fx).put(ROUTES.signedPrekeys).set(bearer(aliceToken)).send(next))).toEqual({ ok: true });
    const status = PrekeyStatus.parse(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(aliceToken))));
    expect(status.signedPrekeyId).toBe(next.signedPrekey.id);
  });

  it('POST /v1/devices/me/one-time-prekeys refills and GET /v1/devices/me/prekeys counts them', async () => {
    const before = PrekeyStatus.parse(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(aliceToken))));
    const prekeys = generateOneTimePrekeys(fx.crypto, alice.keys, 5, Date.now());
    const res = expectOk(await api(fx).post(ROUTES.oneTimePrekeys).set(bearer(aliceToken)).send({ prekeys }));
    expect(res).toEqual({ count: before.oneTimePrekeys + 5 });
    const after = PrekeyStatus.parse(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(aliceToken))));
    expect(after.oneTimePrekeys).toBe(before.oneTimePrekeys + 5);
  });

  it('POST /v1/revocations publishes and GET /v1/revocations lists it', async () => {
    const dave = network.addDevice(alice.org, 'ngo-routes:routes-dave');
    expectOk(await registerDevice(fx, dave), 201);
    const revocation = network.revokeDevice(dave, 'lost phone');
    expect(expectOk(await api(fx).post(ROUTES.revocations).send({ revocation }), 201)).toEqual({ issuer: 'ngo-routes', seq: 1 });
    const list = RevocationList.parse(expectOk(await api(fx).get(ROUTES.revocations).set(bearer(aliceToken))));
    expect(list.revocations).toEqual([revocation]);
  });

  it('GET /healthz, /readyz and /metrics answer without a session', async () => {
    expect(expectOk(await api(fx).get(ROUTES.health))).toEqual({ ok: true });
    expect(expectOk(await api(fx).get(ROUTES.ready))).toEqual({ ok: true, store: 'memory' });
    const metrics = await api(fx).get(ROUTES.metrics);
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('# TYPE handover_http_requests_total counter');
  });
});

/* ---------------------------------------------------------- bodies refused -- */

interface BodyRoute {
  method: Method;
  path: string;
  authenticated: boolean;
  /** Well-formed JSON of the wrong shape for this route. */
  badShapes: () => unknown[];
}

const prekeyOf = (d: TestDevice) => d.oneTimePrekeys[0];

/** A well-signed root revocation that is never published (the network's own counter stays untouched). */
const rootRevocation = (orgId: string) =>
  issueRevocation(
    fx.crypto,
    { networkId: network.anchor.networkId, issuer: 'root', seq: 1, subject: { type: 'org', orgId }, reason: 'test', revokedAt: Date.now() },
    network.root.privateKey,
  );

const BODY_ROUTES: BodyRoute[] = [
  {
    method: 'POST',
    path: ROUTES.orgs,
    authenticated: false,
    badShapes: () => [{ certificate: { ...alice.org.certificate, orgId: 'has space' } }, { certificate: alice.org.certificate, extra: 1 }],
  },
  {
    method: 'POST',
    path: ROUTES.devices,
    authenticated: false,
    badShapes: () => [
      { certificate: alice.certificate, signedPrekey: alice.signedPrekey, pqPrekey: alice.pqPrekey },
      // More one-time prekeys than one upload may carry.
      { certificate: alice.certificate, signedPrekey: alice.signedPrekey, pqPrekey: alice.pqPrekey, oneTimePrekeys: Array(201).fill(prekeyOf(bora)) },
    ],
  },
  {
    method: 'POST',
    path: ROUTES.challenge,
    authenticated: false,
    badShapes: () => [{ deviceId: '../../etc/passwd' }, { deviceId: 42 }, { deviceId: 'x'.repeat(65) }],
  },
  {
    method: 'POST',
    path: ROUTES.session,
    authenticated: false,
    badShapes: () => [
      { deviceId: 'ngo-routes:routes-alice', challengeId: 'short', signature: 'A'.repeat(86) },
      { deviceId: 'ngo-routes:routes-alice', challengeId: 'A'.repeat(22), signature: 'A'.repeat(85) },
    ],
  },
  {
    method: 'PUT',
    path: ROUTES.signedPrekeys,
    authenticated: true,
    badShapes: () => [{ signedPrekey: alice.signedPrekey }, { signedPrekey: alice.pqPrekey, pqPrekey: alice.signedPrekey }],
  },
  {
    method: 'POST',
    path: ROUTES.oneTimePrekeys,
    authenticated: true,
    badShapes: () => [{ prekeys: [] }, { prekeys: [{ ...prekeyOf(bora), id: -1 }] }, { prekeys: Array(201).fill(prekeyOf(bora)) }],
  },
  {
    method: 'POST',
    path: ROUTES.revocations,
    authenticated: false,
    badShapes: () => [
      { revocation: { v: 1, kind: 'revocation', issuer: 'root', seq: 0 } },
      { revocation: { ...rootRevocation('never-registered'), seq: 0 } },
      { revocation: { ...rootRevocation('never-registered'), subject: { type: 'everything' } } },
    ],
  },
];

const MALFORMED_JSON = ['{', '{"deviceId": }', '[1, 2', "{'deviceId': 'x'}", 'NaN', '{"a":1}}', '"just a string"'];

describe.each(BODY_ROUTES)('$method $path refuses bad bodies', (route) => {
  const withAuth = (test: ReturnType<typeof call>) => (route.authenticated ? test.set(bearer(aliceToken)) : test);

  it('wrong shape → 400 BAD_REQUEST naming the problem', async () => {
    for (const body of [{}, [], { unexpected: true }, ...route.badShapes()]) {
      const error = expectError(await withAuth(call(route.method, route.path)).send(body as object), 400, 'BAD_REQUEST');
      expect(error.message).toMatch(/^invalid /);
    }
  });

  it('oversized body → 413 PAYLOAD_TOO_LARGE, with or without a session', async () => {
    const send = (test: ReturnType<typeof call>) => test.set('content-type', 'application/json').send(OVERSIZED_JSON);
    expectError(await send(withAuth(call(route.method, route.path))), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await send(call(route.method, route.path)), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('malformed JSON → 400 BAD_REQUEST', async () => {
    for (const text of MALFORMED_JSON) {
      const res = await withAuth(call(route.method, route.path)).set('content-type', 'application/json').send(text);
      expectError(res, 400, 'BAD_REQUEST');
    }
  });

  it('a JSON body under another content type is not parsed → 400 BAD_REQUEST', async () => {
    const valid = JSON.stringify(route.badShapes()[0]);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x']) {
      const res = await withAuth(call(route.method, route.path)).set('content-type', type).send(valid);
      expectError(res, 400, 'BAD_REQUEST');
    }
    // No body at all.
    expectError(await withAuth(call(route.method, route.path)), 400, 'BAD_REQUEST');
  });

  it('gzip bodies: a corrupt one → 400 BAD_REQUEST (not an internal error); the size limit applies after inflating', async () => {
    // fetch, not supertest: superagent would JSON-encode a Buffer body.
    const post = (body: Buffer | string) =>
      fetch(new URL(route.path, fx.url), {
        method: route.method,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...(route.authenticated ? bearer(aliceToken) : {}) },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
    const check = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    };
    await check(await post('this is not gzip'), 400, 'BAD_REQUEST');
    // A real gzip body is read like any other (and then schema-checked).
    await check(await post(gzipSync(JSON.stringify({ unexpected: true }))), 400, 'BAD_REQUEST');
    // A small gzip bomb is refused once inflated past the JSON limit.
    const bomb = gzipSync(OVERSIZED_JSON);
    expect(bomb.length).toBeLessThan(4096);
    await check(await post(bomb), 413, 'PAYLOAD_TOO_LARGE');
  });

  if (route.authenticated) {
    it('a well-formed body without a session → 401 UNAUTHENTICATED', async () => {
      const next = generateOneTimePrekeys(fx.crypto, alice.keys, 1, Date.now());
      const body = route.path === ROUTES.signedPrekeys ? rotateSignedPrekeys(fx.crypto, alice.keys, Date.now()) : { prekeys: next };
      expectError(await call(route.method, route.path).send(body), 401, 'UNAUTHENTICATED');
    });
  }
});

/* ------------------------------------------------------------ sessions -- */

const AUTHENTICATED: Array<[Method, string]> = [
  ['GET', ROUTES.orgs],
  ['GET', ROUTES.org('ngo-routes')],
  ['GET', ROUTES.bundles('ngo-routes')],
  ['PUT', ROUTES.signedPrekeys],
  ['POST', ROUTES.oneTimePrekeys],
  ['GET', ROUTES.prekeyStatus],
  ['GET', ROUTES.revocations],
];

describe.each(AUTHENTICATED)('%s %s needs a session', (method, path) => {
  it.each([
    ['no Authorization header', undefined],
    ['an empty bearer', 'Bearer '],
    ['a made-up token', `Bearer ${'A'.repeat(43)}`],
    ['another scheme', `Basic ${Buffer.from('routes-alice:pw').toString('base64')}`],
    ['a token with bad characters', `Bearer ${'A'.repeat(40)}{}'`],
    ['an overlong token', `Bearer ${'A'.repeat(400)}`],
  ])('%s → 401 UNAUTHENTICATED', async (_name, header) => {
    let test = call(method, path);
    if (header !== undefined) test = test.set('authorization', header);
    const error = expectError(await test, 401, 'UNAUTHENTICATED');
    expect(error.message).not.toContain(aliceToken);
  });

  it('refuses a session token sent as a query parameter', async () => {
    expectError(await call(method, `${path}?token=${aliceToken}`), 401, 'UNAUTHENTICATED');
  });
});

describe('GET routes with an org id', () => {
  it.each([ROUTES.org, ROUTES.bundles])('%p: a malformed org id → 400, an unknown one → 404 UNKNOWN_ORG', async (route) => {
    for (const bad of ['a b', 'x', '-leading-dash', 'a'.repeat(65), 'ünïcode']) {
      expectError(await api(fx).get(route(bad)).set(bearer(aliceToken)), 400, 'BAD_REQUEST');
    }
    expectError(await api(fx).get(route('no-such-org')).set(bearer(aliceToken)), 404, 'UNKNOWN_ORG');
    expectError(await api(fx).get(route('root')).set(bearer(aliceToken)), 404, 'UNKNOWN_ORG');
  });

  it('a broken percent-encoding in the path → 400 BAD_REQUEST, not an internal error', async () => {
    for (const path of ['/v1/orgs/%E0%A4%A', '/v1/orgs/%ZZ/bundles']) {
      expectError(await api(fx).get(path).set(bearer(aliceToken)), 400, 'BAD_REQUEST');
    }
  });

  it('an oversized JSON body on a GET is refused too (413)', async () => {
    const res = await api(fx).get(ROUTES.orgs).set(bearer(aliceToken)).set('content-type', 'application/json').send(OVERSIZED_JSON);
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('GET /v1/network ignores a stray small body but still refuses malformed JSON', async () => {
    expectOk(await api(fx).get(ROUTES.network).set('content-type', 'application/json').send('{"a":1}'));
    expectError(await api(fx).get(ROUTES.network).set('content-type', 'application/json').send('{'), 400, 'BAD_REQUEST');
  });
});

describe('probes', () => {
  it('health, readiness and metrics do not read bodies or need sessions', async () => {
    for (const path of [ROUTES.health, ROUTES.ready, ROUTES.metrics]) {
      const res = await api(fx).get(path).set('content-type', 'application/json').send(OVERSIZED_JSON);
      expect(res.status).toBe(200);
    }
  });
});

/* ------------------------------------------------------------- not found -- */

describe('unknown routes', () => {
  it.each([
    ['GET', '/'],
    ['GET', '/index.html'],
    ['GET', '/v1'],
    ['GET', '/v2/network'],
    ['GET', '/v1/nope'],
    ['GET', '/v1/devices'],
    ['GET', '/v1/auth/challenge'],
    ['POST', '/v1/network'],
    ['POST', '/healthz'],
    ['PUT', '/v1/orgs'],
    ['POST', '/v1/devices/me/prekeys'],
    ['GET', '/v1/orgs/ngo-routes/bundles/extra'],
    ['GET', '/../../etc/passwd'],
  ] as Array<[Method, string]>)('%s %s → 404 NOT_FOUND JSON', async (method, path) => {
    const error = expectError(await call(method, path), 404, 'NOT_FOUND');
    expect(error.message).toMatch(/^no route /);
  });

  it('DELETE and PATCH are unknown everywhere', async () => {
    expectError(await api(fx).delete(ROUTES.orgs), 404, 'NOT_FOUND');
    expectError(await api(fx).patch(ROUTES.devices).send({}), 404, 'NOT_FOUND');
  });

  it('a very long unknown path is not echoed back in full', async () => {
    const res = await api(fx).get(`/v1/${'a'.repeat(5000)}`);
    const error = expectError(res, 404, 'NOT_FOUND');
    expect(error.message.length).toBeLessThan(200);
  });

  it('an unknown route with a malformed JSON body is still JSON', async () => {
    const res = await api(fx).post('/v1/unknown').set('content-type', 'application/json').send('{');
    expectError(res, 400, 'BAD_REQUEST');
    expectNoLeak(res);
  });
});
