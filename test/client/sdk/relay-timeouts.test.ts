/**
 * A stalled relay (issue 15): a server that accepts the TCP connection and
 * never answers, or answers the headers and then never the body, must not
 * hold the SDK for minutes. Every HTTP call and the socket's connect end
 * within the configured wait with UNAVAILABLE, in one wording that names
 * the relay and the wait; cancel() stops calls in flight at once.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { type HandoverError, isHandoverError } from '../../../shared/errors';
import { RelayApi } from '../../../client/sdk/relay-api';
import { SocketConnection } from '../../../client/sdk/connection';

/** Accepts every connection and never writes a byte. */
let stalled: net.Server;
let stalledUrl: string;
const held: net.Socket[] = [];
/** Sends the headers of a JSON answer, then nothing. */
let halfway: http.Server;
let halfwayUrl: string;

beforeAll(async () => {
  stalled = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  stalledUrl = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
  halfway = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"networkId":');
  });
  await new Promise<void>((resolve) => halfway.listen(0, '127.0.0.1', resolve));
  halfwayUrl = `http://127.0.0.1:${(halfway.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of held) s.destroy();
  halfway.closeAllConnections();
  await new Promise<void>((resolve) => stalled.close(() => resolve()));
  await new Promise<void>((resolve) => halfway.close(() => resolve()));
});

async function refusal(p: Promise<unknown>): Promise<HandoverError> {
  try {
    await p;
  } catch (err) {
    if (isHandoverError(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

it('an HTTP call to a relay that never answers fails with UNAVAILABLE after the configured wait, naming the relay and the wait', async () => {
  const api = new RelayApi(stalledUrl, undefined, { timeoutMs: 400 });
  const err = await refusal(api.network());
  expect(err.code).toBe('UNAVAILABLE');
  expect(err.message).toBe(`the relay at ${stalledUrl} did not answer within 0.4 s`);
  expect(err.details).toEqual({ timeoutMs: 400 });
});

it('a relay that sends the headers and then stalls the body is bounded by the same wait', async () => {
  const api = new RelayApi(halfwayUrl, undefined, { timeoutMs: 400 });
  const err = await refusal(api.network());
  expect([err.code, err.message]).toEqual(['UNAVAILABLE', `the relay at ${halfwayUrl} did not answer within 0.4 s`]);
});

it('whole seconds read as whole seconds, and the default wait is 10 s', async () => {
  expect(new RelayApi(stalledUrl).timeoutMs).toBe(10_000);
  const err = await refusal(new RelayApi(stalledUrl, undefined, { timeoutMs: 1000 }).network());
  expect(err.message).toBe(`the relay at ${stalledUrl} did not answer within 1 s`);
});

it('cancel() ends a call in flight at once and refuses the next, without waiting for the timeout', async () => {
  // The wait is longer than the test's own time limit: only cancel() can end this call in time.
  const api = new RelayApi(stalledUrl, undefined, { timeoutMs: 600_000 });
  const pending = refusal(api.network());
  await new Promise((resolve) => setTimeout(resolve, 100));
  api.cancel();
  const err = await pending;
  expect([err.code, err.message]).toEqual(['UNAVAILABLE', `stopped waiting for the relay at ${stalledUrl}`]);
  const next = await refusal(api.network());
  expect(next.message).toBe(`stopped waiting for the relay at ${stalledUrl}`);
});

it('a relay refusing connections is told apart from a silent one', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const err = await refusal(new RelayApi(url, undefined, { timeoutMs: 5_000 }).network());
  expect(err.code).toBe('UNAVAILABLE');
  expect(err.message).toMatch(new RegExp(`^cannot reach the relay at ${url}: .*ECONNREFUSED`));
});

it("the socket's connect to a relay that never answers the handshake fails with UNAVAILABLE within the wait", async () => {
  const connection = new SocketConnection(stalledUrl, { ticket: async () => ({ ticket: 'x'.repeat(43), expiresAt: Date.now() + 60_000 }), signIn: async () => undefined }, undefined, { timeoutMs: 500 });
  try {
    const err = await refusal(connection.start());
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`the relay at ${stalledUrl} did not answer within 0.5 s`);
  } finally {
    connection.close();
  }
});

it('a ticket call that never settles is bounded too (the connect gives up with the same wording)', async () => {
  const connection = new SocketConnection(stalledUrl, { ticket: () => new Promise(() => undefined), signIn: async () => undefined }, undefined, { timeoutMs: 300 });
  try {
    const err = await refusal(connection.start(1_000));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`the relay at ${stalledUrl} did not answer within 0.3 s`);
  } finally {
    connection.close();
  }
});
