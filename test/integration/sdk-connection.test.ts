/**
 * Finding 7, SDK side: the client opens every connection — the first and
 * each reconnect — with a fresh single-use socket ticket fetched over HTTP,
 * runs its own reconnect loop (the relay restarted, the relay dropped the
 * socket, the session ended), and stops for good once its device is revoked.
 * Real relay processes in this process, on a real redis-server, so a
 * restarted relay on the same port still knows the device and its session.
 */
import type { HandoverClient } from '../../client/sdk/client';
import type { StoredMessage } from '../../client/sdk/messages';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, postJson, type RelayFixture, startTestRelay } from '../support/relay';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';

let redis: TestRedis;
let network: TestNetwork;
const clients: HandoverClient[] = [];
const relays: RelayFixture[] = [];

beforeAll(async () => {
  network = new TestNetwork(await loadCrypto(), Date.now());
  redis = await startRedis({ appendfsync: 'everysec' });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const r of relays) await r.close();
  await redis.destroy();
});

async function relay(opts: { port?: number; keyPrefix: string; sessionTtlMs?: number }): Promise<RelayFixture> {
  const fx = await startTestRelay(network, {
    redisUrl: redis.url,
    keyPrefix: opts.keyPrefix,
    logLevel: 'warn',
    config: { ...(opts.port ? { port: opts.port } : {}), ...(opts.sessionTtlMs ? { sessionTtlMs: opts.sessionTtlMs } : {}) },
  });
  relays.push(fx);
  return fx;
}

/** Tickets this relay process issued (its own metrics). */
async function ticketsIssued(fx: RelayFixture): Promise<number> {
  const text = await fetch(new URL('/metrics', fx.url)).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith('handover_http_requests_total{') && l.includes(`route="${ROUTES.socketTicket}"`) && l.includes('status="200"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

function watch(client: HandoverClient): { states: string[]; connected: () => boolean } {
  const states: string[] = [];
  client.on('connection', (s) => states.push(s));
  return { states, connected: () => states.at(-1) === 'connected' };
}

let n = 0;
async function pair(fx: RelayFixture) {
  n++;
  const sender = await enrolClient(fx, network.addOrg(`conn-ngo-${n}`, 'ngo'), `conn-sender-${n}`);
  const shelter = network.addOrg(`conn-shelter-${n}`, 'shelter');
  const receiver = await enrolClient(fx, shelter, `conn-receiver-${n}`);
  clients.push(sender, receiver);
  return { sender, receiver, shelterId: shelter.orgId };
}

it('finding 7: the SDK connects with a ticket and reconnects after the relay dropped its socket, with a fresh ticket', async () => {
  const fx = await relay({ keyPrefix: 'conn-drop:' });
  const { sender, receiver, shelterId } = await pair(fx);
  expect(await ticketsIssued(fx)).toBe(2);
  const seen = watch(receiver);
  fx.relay.io.in(`dev:${receiver.deviceId}`).disconnectSockets(true);
  await eventually(() => seen.states.length >= 2 && seen.connected(), 10_000, 'reconnect');
  expect(seen.states).toEqual(['disconnected', 'connected']);
  expect(await ticketsIssued(fx)).toBe(3);
  const got: StoredMessage[] = [];
  receiver.on('message', (m) => got.push(m));
  await sender.send({ threadId: THREAD, orgIds: [shelterId], payload: 'after the drop' });
  await eventually(() => got.length === 1, 10_000, 'delivery after reconnect');
});

it('finding 7: the SDK reconnects after a relay restart (same port), with a ticket from the new process', async () => {
  const first = await relay({ keyPrefix: 'conn-restart:' });
  const { sender, receiver, shelterId } = await pair(first);
  const seen = watch(receiver);
  await first.close();
  await eventually(() => seen.states.includes('disconnected'), 10_000, 'disconnect');
  // Offline for a while: several attempts fail (no relay), then it comes back.
  await new Promise((r) => setTimeout(r, 800));
  const second = await relay({ keyPrefix: 'conn-restart:', port: first.relay.port });
  await eventually(() => seen.connected(), 15_000, 'reconnect to the restarted relay');
  await eventually(async () => (await ticketsIssued(second)) === 2, 15_000, 'both clients back, each with a new ticket');
  const got: StoredMessage[] = [];
  receiver.on('message', (m) => got.push(m));
  await sender.send({ threadId: THREAD, orgIds: [shelterId], payload: 'after the restart' });
  await eventually(() => got.length === 1, 10_000, 'delivery after the restart');
});

it('finding 7: when its session ends, the SDK signs in again and reconnects with a ticket of the new session', async () => {
  const fx = await relay({ keyPrefix: 'conn-session:', sessionTtlMs: 3000 });
  const { receiver } = await pair(fx);
  const seen = watch(receiver);
  // The relay closes the socket at the session's end; the old token gets no ticket.
  await eventually(() => seen.states.length >= 2 && seen.connected(), 15_000, 'reconnect after the session ended');
  expect(seen.states.slice(0, 2)).toEqual(['disconnected', 'connected']);
  expect(await ticketsIssued(fx)).toBeGreaterThanOrEqual(3);
  const res = await receiver.sync();
  expect(res).toBe(0);
});

it('finding 7: once its device is revoked, the SDK stops trying (no more tickets asked for)', async () => {
  const fx = await relay({ keyPrefix: 'conn-revoked:' });
  n++;
  const org = network.addOrg(`conn-rev-${n}`, 'ngo');
  const client = await enrolClient(fx, org, `conn-rev-${n}`);
  clients.push(client);
  const seen = watch(client);
  const device = { org, keys: { deviceId: client.deviceId } };
  const revocation = network.revokeDevice(device as Parameters<TestNetwork['revokeDevice']>[0]);
  expect((await postJson(fx.url, ROUTES.revocations, { revocation })).status).toBe(201);
  await eventually(() => seen.states.includes('disconnected'), 10_000, 'dropped on revocation');
  // It tries once more (ticket refused, sign-in says REVOKED), then stops.
  const attempts = async () => (await fetch(new URL('/metrics', fx.url)).then((r) => r.text())).match(/route="\/v1\/auth\/session",method="POST",status="403"\} (\d+)/)?.[1];
  await eventually(async () => (await attempts()) === '1', 10_000, 'the REVOKED answer to its sign-in');
  const tickets = await ticketsIssued(fx);
  await new Promise((r) => setTimeout(r, 2000)); // a negative check: give a backoff loop time to show itself
  expect(await attempts()).toBe('1');
  expect(await ticketsIssued(fx)).toBe(tickets);
  expect(seen.connected()).toBe(false);
  // The app is told it is final ("revoked"), not just "disconnected" (the web app's bar says so).
  expect(seen.states.at(-1)).toBe('revoked');
});
