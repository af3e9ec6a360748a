/**
 * Property-based fuzzing of every HTTP route of a relay process: mutated
 * valid bodies (fields deleted or of the wrong type, huge strings, invalid
 * base64, deep nesting, `__proto__`/`constructor` keys, oversized lists),
 * arbitrary JSON, and bodies that are not JSON at all (binary, invalid
 * UTF-8, truncated, 60,000-deep nesting, over the size limit), under
 * random content types, encodings, tokens and path parameters.
 *
 * Property: every answer is a 2xx or a typed relay error whose HTTP status
 * matches its code, never INTERNAL; after every route the relay still
 * serves (liveness, readiness, an authenticated canary); the relay logs no
 * error; its resident memory stays bounded.
 */
import fc from 'fast-check';
import { recordFigures } from '../support/figures';
import { errorLines, type FuzzTarget, healthy, rawRequest, startFuzzTarget } from '../support/fuzz-setup';
import { badHttpAnswer, checkProperty, hostileValue, mutated } from '../support/hostile';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS_PER_ROUTE = Number(process.env.FUZZ_HTTP_RUNS ?? 420);
/** Allowed growth of the relay's resident memory over the whole run. */
const RSS_BUDGET_BYTES = 200 * 1024 * 1024;

let target: FuzzTarget;
let cases = 0;
let engineIoRefusals = 0;
const perRoute: Record<string, { cases: number; statuses: Record<string, number> }> = {};
let rssBefore = 0;
let rssAfter = 0;
/** Relay RSS (MiB) after each route's batch: growth should level off, not climb. */
const rssSeries: number[] = [];

beforeAll(async () => {
  target = await startFuzzTarget('fzh');
  // Warm up (JIT, pools) before taking the memory baseline.
  for (let i = 0; i < 200; i++) await rawRequest(target.relay.url, { method: 'GET', path: '/v1/network' });
  rssBefore = target.relay.rss();
});
afterAll(async () => {
  recordFigures('hostileInput', 'httpRoutes', {
    cases,
    seed: SEED,
    runsPerRoute: RUNS_PER_ROUTE,
    routes: perRoute,
    engineIoOwnRefusalsOnSocketIoPath: engineIoRefusals,
    relayRssMiB: { before: mib(rssBefore), after: mib(rssAfter), afterEachBatch: rssSeries },
    relayErrorLogLines: target ? errorLines(target.relay).length : null,
  });
  await target?.close();
});

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

const contentType = fc.constantFrom<string | undefined>(
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  undefined,
);
const contentEncoding = fc.constantFrom<string | undefined>(undefined, undefined, undefined, undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'x-unknown');

/** Bodies that are not (valid) JSON, or are JSON in hostile shapes. */
const rawBody: fc.Arbitrary<Buffer | string> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.integer({ min: 1, max: 60_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  fc.integer({ min: 1, max: 20_000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
  fc.constantFrom('', 'null', 'true', '[]', '"text"', '1e999', '-0', 'NaN', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\uFEFF{}'),
  fc.constant(Buffer.concat([Buffer.from('{"deviceId":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')])),
  fc.constant(`"${'x'.repeat(300 * 1024)}"`), // over the 256 KiB body limit
  fc.constant(JSON.stringify({ certificate: 'x'.repeat(200 * 1024) })), // under it, but absurd
  fc.integer({ min: 1, max: 30_000 }).map((d) => `{"certificate":${'['.repeat(d)}"x"${']'.repeat(d)}}`),
);

function bodyFor(valid: Record<string, unknown> | undefined): fc.Arbitrary<Buffer | string | undefined> {
  const options: Array<fc.WeightedArbitrary<Buffer | string | undefined>> = [
    { weight: 2, arbitrary: hostileValue.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: rawBody },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ];
  if (valid) {
    options.push({ weight: 7, arbitrary: mutated(valid, { maxDepth: 1000 }).map(({ value }) => JSON.stringify(value)) });
    options.push({ weight: 1, arbitrary: mutated(valid, { maxDepth: 1000 }).map(({ value }) => JSON.stringify(value).slice(0, -3)) }); // truncated
  }
  return fc.oneof(...options);
}

const headerSafe = fc.string({ unit: 'binary-ascii', maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));

function authFor(target: () => FuzzTarget): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant('valid') },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerSafe.map((s) => `Bearer ${s}`) },
    { weight: 1, arbitrary: headerSafe },
    { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `Bearer ${'A'.repeat(129)}`, `Bearer ${'A'.repeat(31)}`, `Bearer ${'A'.repeat(43)}`) },
  ).map((a) => (a === 'valid' ? `Bearer ${target().tokens.get(target().devices.d1.keys.deviceId)}` : a));
}

const orgIdParam = fc.oneof(
  { weight: 3, arbitrary: fc.constant('VALID') },
  { weight: 3, arbitrary: fc.string({ maxLength: 80 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.constantFrom('%ZZ', '%', '%00', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', 'a'.repeat(5000), '__proto__', 'constructor', 'root', '%C0%AF', '%E2%80%AE') },
);

interface RouteSpec {
  name: string;
  method: string;
  /** Path, with ORG standing for the org id parameter. */
  path: string;
  body?: keyof FuzzTarget['valid'];
}

const ROUTES: RouteSpec[] = [
  { name: 'GET /v1/network', method: 'GET', path: '/v1/network' },
  { name: 'POST /v1/orgs', method: 'POST', path: '/v1/orgs', body: 'org' },
  { name: 'GET /v1/orgs', method: 'GET', path: '/v1/orgs' },
  { name: 'GET /v1/orgs/:orgId', method: 'GET', path: '/v1/orgs/ORG' },
  { name: 'GET /v1/orgs/:orgId/bundles', method: 'GET', path: '/v1/orgs/ORG/bundles' },
  { name: 'POST /v1/devices', method: 'POST', path: '/v1/devices', body: 'device' },
  { name: 'POST /v1/auth/challenge', method: 'POST', path: '/v1/auth/challenge', body: 'challenge' },
  { name: 'POST /v1/auth/session', method: 'POST', path: '/v1/auth/session', body: 'session' },
  { name: 'POST /v1/auth/socket-ticket', method: 'POST', path: '/v1/auth/socket-ticket' },
  { name: 'PUT /v1/devices/me/signed-prekeys', method: 'PUT', path: '/v1/devices/me/signed-prekeys', body: 'signedPrekeys' },
  { name: 'POST /v1/devices/me/one-time-prekeys', method: 'POST', path: '/v1/devices/me/one-time-prekeys', body: 'oneTimePrekeys' },
  { name: 'GET /v1/devices/me/prekeys', method: 'GET', path: '/v1/devices/me/prekeys' },
  { name: 'GET /v1/revocations', method: 'GET', path: '/v1/revocations' },
  { name: 'POST /v1/revocations', method: 'POST', path: '/v1/revocations', body: 'revocation' },
  { name: 'probes (/healthz, /readyz, /metrics)', method: 'GET', path: 'PROBE' },
  { name: 'unknown routes and methods', method: 'ANY', path: 'UNKNOWN' },
];

const unknownPath = fc.oneof(
  fc.string({ maxLength: 60 }).map((s) => `/v1/${encodeURIComponent(s)}`),
  fc.string({ maxLength: 60 }).map((s) => `/${encodeURIComponent(s)}`),
  fc.constantFrom('/v2/network', '/v1/orgs/a/b/c', '/v1/devices/me', '/v1/devices/other/prekeys', '/socket.io/?EIO=1', '/v1/../v1/network', `/${'a'.repeat(8000)}`),
);

describe.each(ROUTES)('$name', (route) => {
  it('answers every generated request with 2xx or a typed error, and keeps serving', async () => {
    const statuses: Record<string, number> = {};
    let run = 0;
    const arb = fc.record({
      body: bodyFor(route.body ? target.valid[route.body] : undefined),
      contentType,
      contentEncoding,
      auth: authFor(() => target),
      orgId: orgIdParam,
      probe: fc.constantFrom('/healthz', '/readyz', '/metrics'),
      unknown: unknownPath,
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      query: fc.option(fc.string({ maxLength: 40 }).map((q) => `?${encodeURIComponent(q)}=1&token=${encodeURIComponent(q)}`), { nil: '' }),
    });
    await checkProperty(
      arb,
      async (c) => {
        run++;
        cases++;
        const method = route.method === 'ANY' ? c.method : route.method;
        let path = route.path === 'PROBE' ? c.probe : route.path === 'UNKNOWN' ? c.unknown : route.path;
        path = path.replace('ORG', c.orgId === 'VALID' ? target.orgB.orgId : c.orgId) + c.query;
        const headers: Record<string, string> = {};
        if (c.contentType) headers['content-type'] = c.contentType;
        if (c.contentEncoding && c.body !== undefined) headers['content-encoding'] = c.contentEncoding;
        if (c.auth !== undefined) headers.authorization = c.auth;
        const res = await rawRequest(target.relay.url, { method, path, headers, ...(c.body !== undefined ? { body: c.body } : {}) });
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (route.path === 'PROBE' && c.probe === '/metrics' && res.status === 200) return; // Prometheus text, not JSON
        // /socket.io/ belongs to Engine.IO, which answers in its own shape ({ code: <number>, message }).
        if (path.startsWith('/socket.io/') && res.status === 400 && /^\{"code":\d+,"message":"[^"]*"\}$/.test(res.body)) {
          engineIoRefusals++;
          return;
        }
        const bad = badHttpAnswer(res.status, res.body);
        if (bad) throw new Error(`${method} ${path.slice(0, 120)}: ${bad}`);
      },
      { numRuns: RUNS_PER_ROUTE, seed: SEED },
    );
    perRoute[route.name] = { cases: run, statuses };
    rssSeries.push(mib(target.relay.rss()));
    expect(await healthy(target)).toBeUndefined();
  });
});

it('logged no error and kept its memory bounded', async () => {
  expect(await healthy(target)).toBeUndefined();
  expect(errorLines(target.relay)).toEqual([]);
  rssAfter = target.relay.rss();
  expect(rssAfter - rssBefore).toBeLessThan(RSS_BUDGET_BYTES);
  expect(cases).toBeGreaterThanOrEqual(ROUTES.length * RUNS_PER_ROUTE);
});
