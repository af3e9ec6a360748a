/**
 * RelayApi on its own, against a small local HTTP server that answers what
 * each test tells it to: what goes out (paths, JSON bodies, the session
 * token only where a route needs it), and how every answer is treated as
 * hostile — checked against its schema, refusals decoded into typed errors
 * (unknown codes become INTERNAL), non-JSON answers and an unreachable
 * relay told apart.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROUTES } from '../../../shared/api';
import { type HandoverError, isHandoverError } from '../../../shared/errors';
import { RelayApi } from '../../../client/sdk/relay-api';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

interface Answer {
  status?: number;
  /** A JSON body, or raw text with its content type. */
  json?: unknown;
  text?: string;
  contentType?: string;
}

let server: http.Server;
let baseUrl: string;
let answer: (seen: Seen) => Answer;
let requests: Seen[];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      const a = answer(seen);
      const body = a.text ?? JSON.stringify(a.json);
      res.writeHead(a.status ?? 200, { 'content-type': a.text !== undefined ? (a.contentType ?? 'text/plain') : 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  requests = [];
  answer = () => ({ json: {} });
});

const b64u = (bytes: number) => randomBytes(bytes).toString('base64url');
const TOKEN = 'T'.repeat(43);

function signedIn(): RelayApi {
  const api = new RelayApi(baseUrl);
  api.setToken(TOKEN);
  return api;
}

async function refusal(work: Promise<unknown>): Promise<HandoverError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHandoverError(err)) throw new Error(`expected a HandoverError, got ${String(err)}`);
  return err;
}

describe('requests', () => {
  it('sends the session token on authenticated routes only, and JSON bodies with their content type', async () => {
    const api = signedIn();
    answer = () => ({ json: { orgs: [] } });
    await api.directory();
    answer = () => ({ json: { challengeId: b64u(16), challenge: b64u(32), expiresAt: 1 } });
    await api.challenge('ngo-a:laptop');
    expect(requests).toEqual([
      { method: 'GET', url: ROUTES.orgs, authorization: `Bearer ${TOKEN}`, contentType: undefined, body: '' },
      { method: 'POST', url: ROUTES.challenge, authorization: undefined, contentType: 'application/json', body: JSON.stringify({ deviceId: 'ngo-a:laptop' }) },
    ]);
  });

  it('an authenticated call without a session is refused as UNAUTHENTICATED before anything is sent', async () => {
    const api = new RelayApi(baseUrl);
    expect(api.hasToken).toBe(false);
    expect((await refusal(api.revocations())).code).toBe('UNAUTHENTICATED');
    api.setToken(TOKEN);
    api.setToken(undefined);
    expect((await refusal(api.prekeyStatus())).code).toBe('UNAUTHENTICATED');
    expect(requests).toEqual([]);
  });

  it('an org id is encoded into the bundles path, so it cannot name another route', async () => {
    answer = () => ({ status: 404, json: { error: { code: 'NOT_FOUND', message: 'no such org' } } });
    await refusal(signedIn().bundles('../devices/me?x=1'));
    expect(requests.map((r) => r.url)).toEqual(['/v1/orgs/..%2Fdevices%2Fme%3Fx%3D1/bundles']);
  });
});

describe('answers are checked against their schema', () => {
  const VALID: Array<[string, (api: RelayApi) => Promise<unknown>, () => unknown]> = [
    ['GET /v1/network', (api) => api.network(), () => ({
      networkId: b64u(32),
      rootPublicKey: b64u(32),
      development: false,
      limits: { maxEnvelopeBytes: 1, maxRecipients: 1, retentionMs: 1, maxOneTimePrekeys: 1, oneTimePrekeyLowWater: 1, sessionTtlMs: 1 },
    })],
    ['GET /v1/orgs', (api) => api.directory(), () => ({ orgs: [] })],
    ['POST /v1/auth/challenge', (api) => api.challenge('ngo-a:laptop'), () => ({ challengeId: b64u(16), challenge: b64u(32), expiresAt: 1 })],
    ['POST /v1/auth/session', (api) => api.session('ngo-a:laptop', b64u(16), b64u(64)), () => ({ token: TOKEN, expiresAt: 1 })],
    ['POST /v1/auth/socket-ticket', (api) => api.socketTicket(), () => ({ ticket: b64u(32), expiresAt: 1 })],
    ['GET /v1/devices/me/prekeys', (api) => api.prekeyStatus(), () => ({ oneTimePrekeys: 3, signedPrekeyId: null })],
    ['GET /v1/revocations', (api) => api.revocations(), () => ({ revocations: [], issuers: [] })],
  ];

  it.each(VALID)('%s: a well-formed answer is returned as it came', async (_route, call, body) => {
    const sent = body();
    answer = () => ({ json: sent });
    expect(await call(signedIn())).toEqual(sent);
  });

  it.each(VALID)('%s: an answer with an extra field is INTERNAL and names the route', async (route, call, body) => {
    answer = () => ({ json: { ...(body() as object), injected: true } });
    const err = await refusal(call(signedIn()));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe(`unexpected answer from the relay for ${route}`);
  });

  it('GET /v1/orgs/:id/bundles: an answer without the org certificate is INTERNAL', async () => {
    answer = () => ({ json: { bundles: [] } });
    expect((await refusal(signedIn().bundles('ngo-a'))).code).toBe('INTERNAL');
  });

  it('a key field that is not canonical base64url is refused', async () => {
    // 32 bytes: the 43rd character carries 4 bits and 2 unused ones, which must be zero ('B' sets one).
    answer = () => ({ json: { challengeId: b64u(16), challenge: `${b64u(32).slice(0, 42)}B`, expiresAt: 1 } });
    expect((await refusal(signedIn().challenge('ngo-a:laptop'))).code).toBe('INTERNAL');
  });

  it('write routes pass back whatever JSON the relay acknowledged with', async () => {
    answer = () => ({ status: 201, json: { ok: true } });
    expect(await signedIn().uploadOneTimePrekeys([])).toEqual({ ok: true });
  });
});

describe('refusals', () => {
  it("a refusal becomes a HandoverError with the relay's code, message and details", async () => {
    answer = () => ({ status: 429, json: { error: { code: 'RATE_LIMITED', message: 'slow down', details: { retryAfterMs: 1000 } } } });
    const err = await refusal(signedIn().bundles('ngo-a'));
    expect([err.code, err.message, err.details]).toEqual(['RATE_LIMITED', 'slow down', { retryAfterMs: 1000 }]);
  });

  it('a code the relay may not send (unknown, or a client-only code) becomes INTERNAL; the message is kept', async () => {
    for (const code of ['TEAPOT', 'UNTRUSTED_KEY', 42]) {
      answer = () => ({ status: 400, json: { error: { code, message: 'odd' } } });
      const err = await refusal(signedIn().directory());
      expect([err.code, err.message]).toEqual(['INTERNAL', 'odd']);
    }
  });

  it('a refusal without an error object says which HTTP status came back', async () => {
    answer = () => ({ status: 503, json: { busy: true } });
    const err = await refusal(signedIn().directory());
    expect([err.code, err.message]).toEqual(['INTERNAL', 'the relay answered HTTP 503']);
  });

  it('hostile refusal bodies are tamed: long messages cut to 1000 characters, details kept only as an object', async () => {
    answer = () => ({ status: 400, json: { error: { code: 'BAD_REQUEST', message: 'x'.repeat(5000), details: ['not', 'an', 'object'] } } });
    const err = await refusal(signedIn().directory());
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toHaveLength(1000);
    expect(err.details).toBeUndefined();
  });

  it('an error answer that is not JSON (a proxy page) is UNAVAILABLE; a success that is not JSON is INTERNAL', async () => {
    answer = () => ({ status: 502, text: '<html>Bad Gateway</html>', contentType: 'text/html' });
    const gateway = await refusal(signedIn().directory());
    expect([gateway.code, gateway.message]).toEqual(['UNAVAILABLE', 'the relay answered 502 without JSON']);
    answer = () => ({ status: 200, text: 'hello' });
    const garbled = await refusal(signedIn().directory());
    expect([garbled.code, garbled.message]).toEqual(['INTERNAL', 'the relay answered 200 without JSON']);
  });

  it('a relay nobody answers at is UNAVAILABLE and named in the message', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await refusal(new RelayApi(url).network());
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`cannot reach the relay at ${url}`);
  });
});
