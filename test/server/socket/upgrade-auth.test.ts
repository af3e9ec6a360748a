/**
 * Finding 7: the relay authenticates and limits a socket before the
 * WebSocket upgrade. A connection without a good single-use ticket — none,
 * used, expired, forged, a session token in its place, or one of a device
 * revoked since — and one over the per-address limit get a non-101 answer
 * to the upgrade request itself: no WebSocket, no Socket.IO frame read, no
 * socket on the relay. Real relay, real Redis, raw TCP clients.
 */
import { io as ioClient } from 'socket.io-client';
import { ROUTES, SocketTicketResponse } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { TestClock } from '../../support/clock';
import { type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import {
  postJson,
  type RawSocket,
  rawSocket,
  rawUpgrade,
  registerTestDevice,
  type RelayFixture,
  signInTestDevice,
  socketTicket,
  socketWithTicket,
  startTestRelay,
} from '../../support/relay';

let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
/** The relay's clock: moved past a ticket's expiry instead of waiting for it. */
const clock = new TestClock();
const sockets: RawSocket[] = [];
/** Sockets the relay ever let through (its own count, from the connection event). */
let connections = 0;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'everysec' });
  fx = await startTestRelay(network, { redisUrl: redis.url, config: { socketTicketTtlMs: 1000 }, now: clock.now });
  fx.relay.io.on('connection', () => connections++);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await fx.close();
  await redis.destroy();
});

let counter = 0;
async function signedIn(relay: RelayFixture = fx): Promise<{ device: TestDevice; token: string }> {
  const n = ++counter;
  const device = network.addDevice(network.addOrg(`up-org-${n}`), `up-${n}`);
  expect((await registerTestDevice(relay.url, device)).status).toBe(201);
  return { device, token: await signInTestDevice(relay, device) };
}

/** A Socket.IO CONNECT packet in a masked WebSocket text frame, as a client would send right after its upgrade. */
function connectFrame(payload = '40{"token":"x"}'): Buffer {
  const data = Buffer.from(payload);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(data.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | data.length]), mask, masked]);
}

/** The refusal every rejected upgrade must be: a 400 answer with a typed JSON error, and no socket on the relay. */
async function expectRefusedUpgrade(answer: Promise<Awaited<ReturnType<typeof rawUpgrade>>>, code: string): Promise<void> {
  const before = connections;
  const clients = fx.relay.io.engine.clientsCount;
  const res = await answer;
  expect(res.status).toBe(400);
  expect(res.error?.code).toBe(code);
  expect(typeof res.error?.message).toBe('string');
  expect(fx.relay.io.engine.clientsCount).toBe(clients);
  expect(connections).toBe(before);
}

describe('finding 7: the upgrade is authenticated before any frame is read', () => {
  it('finding 7: an upgrade without a ticket is refused at the HTTP upgrade, frames pushed behind it unread', async () => {
    await expectRefusedUpgrade(rawUpgrade(fx.url, { after: connectFrame() }), 'UNAUTHENTICATED');
    // The same through socket.io-client, with a session token in the handshake as before: never connects.
    const { token } = await signedIn();
    const before = connections;
    await expect(socketWithTicket(fx.url, undefined)).rejects.toThrow();
    const legacy = ioClient(fx.url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve) => {
      legacy.once('connect_error', () => resolve());
      legacy.once('connect', () => resolve());
    });
    expect(legacy.connected).toBe(false);
    legacy.close();
    expect(connections).toBe(before);
  });

  it('finding 7: a used ticket is refused at the upgrade', async () => {
    const { token } = await signedIn();
    const { ticket } = await socketTicket(fx.url, token);
    const socket = await socketWithTicket(fx.url, ticket);
    sockets.push(socket);
    expect(socket.connected).toBe(true);
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket, after: connectFrame() }), 'UNAUTHENTICATED');
  });

  it('finding 7: a ticket is single use even when two upgrades race with it', async () => {
    const { token } = await signedIn();
    const { ticket } = await socketTicket(fx.url, token);
    const answers = await Promise.all(Array.from({ length: 6 }, () => rawUpgrade(fx.url, { ticket })));
    expect(answers.map((a) => a.status).sort()).toEqual([101, 400, 400, 400, 400, 400]);
  });

  it('finding 7: an expired ticket is refused at the upgrade', async () => {
    const { token } = await signedIn();
    const { ticket, expiresAt } = await socketTicket(fx.url, token);
    clock.passTime(expiresAt);
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket }), 'UNAUTHENTICATED');
  });

  it('finding 7: forged tickets, a session token in place of a ticket, and a malformed or repeated ticket parameter are refused at the upgrade', async () => {
    const { token } = await signedIn();
    const good = (await socketTicket(fx.url, token)).ticket;
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket: toB64u(fx.crypto.random(32)) }), 'UNAUTHENTICATED');
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket: token }), 'UNAUTHENTICATED');
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket: `${good}x` }), 'UNAUTHENTICATED');
    await expectRefusedUpgrade(rawUpgrade(fx.url, { query: `EIO=4&transport=websocket&ticket=${good}&ticket=${good}` }), 'UNAUTHENTICATED');
    // Refused without being used: the good ticket still opens exactly one socket.
    expect((await rawUpgrade(fx.url, { ticket: good })).status).toBe(101);
  });

  it('finding 7: the ticket of a device revoked since (or of a device whose org was revoked) is refused at the upgrade', async () => {
    const a = await signedIn();
    const ticketA = (await socketTicket(fx.url, a.token)).ticket;
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(a.device) })).status).toBe(201);
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket: ticketA }), 'UNAUTHENTICATED');

    const b = await signedIn();
    const ticketB = (await socketTicket(fx.url, b.token)).ticket;
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeOrg(b.device.org) })).status).toBe(201);
    await expectRefusedUpgrade(rawUpgrade(fx.url, { ticket: ticketB }), 'UNAUTHENTICATED');
    // And the revoked device gets no new ticket.
    await expect(socketTicket(fx.url, b.token)).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
  });

  it('finding 7: an upgrade naming the engine session of a live connection (sid) is refused: no connection is taken over without a ticket', async () => {
    const { token } = await signedIn();
    const victim = await rawSocket(fx.url, token);
    sockets.push(victim);
    const sid = victim.io.engine.id;
    expect(typeof sid).toBe('string');
    const answer = await rawUpgrade(fx.url, { query: `EIO=4&transport=websocket&sid=${encodeURIComponent(sid)}` });
    expect(answer.status).toBe(400);
    expect(victim.connected).toBe(true);
    expect(await victim.timeout(5000).emitWithAck('inbox:sync')).toMatchObject({ ok: true });
  });

  it('finding 7: long-polling is not offered: a polling handshake is refused and opens no session', async () => {
    const { token } = await signedIn();
    const { ticket } = await socketTicket(fx.url, token);
    const clients = fx.relay.io.engine.clientsCount;
    const res = await fetch(new URL(`/socket.io/?EIO=4&transport=polling&ticket=${ticket}`, fx.url));
    expect(res.status).toBe(400);
    expect(fx.relay.io.engine.clientsCount).toBe(clients);
    // The ticket was not used up by it.
    expect((await rawUpgrade(fx.url, { ticket })).status).toBe(101);
  });

  it('finding 7: the identity of a socket comes from its ticket alone, not from anything in the handshake', async () => {
    const a = await signedIn();
    const b = await signedIn();
    const { ticket } = await socketTicket(fx.url, a.token);
    const socket: RawSocket = ioClient(fx.url, {
      transports: ['websocket'],
      query: { ticket },
      auth: { token: b.token, deviceId: b.device.keys.deviceId },
      reconnection: false,
      forceNew: true,
    });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const [server] = await fx.relay.io.in(`dev:${a.device.keys.deviceId}`).fetchSockets();
    expect(server?.data.deviceId).toBe(a.device.keys.deviceId);
    expect(await fx.relay.io.in(`dev:${b.device.keys.deviceId}`).fetchSockets()).toEqual([]);
  });
});

describe('the socket ticket route', () => {
  it('finding 7: POST /v1/auth/socket-ticket needs a session and answers a fresh 32-byte ticket and its expiry', async () => {
    const { token } = await signedIn();
    const before = clock.now();
    const a = SocketTicketResponse.parse((await postJson(fx.url, ROUTES.socketTicket, {}, token)).json);
    const b = SocketTicketResponse.parse((await postJson(fx.url, ROUTES.socketTicket, {}, token)).json);
    expect(a.ticket).not.toBe(b.ticket);
    expect(Buffer.from(a.ticket, 'base64url')).toHaveLength(32);
    expect(a.expiresAt).toBeGreaterThan(before);
    expect(a.expiresAt).toBeLessThanOrEqual(clock.now() + 1000);
    const refused = await postJson(fx.url, ROUTES.socketTicket, {});
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    expect((await postJson(fx.url, ROUTES.socketTicket, {}, 'x'.repeat(43))).status).toBe(401);
  });

  it('finding 7: a ticket never outlives its session, and the relay keeps only its hash', async () => {
    const shortClock = new TestClock();
    const short = await startTestRelay(network, { redisUrl: redis.url, keyPrefix: 'up-short:', config: { sessionTtlMs: 5000 }, now: shortClock.now });
    try {
      const { token } = await signedIn(short);
      const { ticket, expiresAt } = await socketTicket(short.url, token);
      expect(expiresAt).toBeLessThanOrEqual(shortClock.now() + 5000); // the session's end, not the ticket's own 30 s
      const values = await redis.client().keys('up-short:socket-ticket:*');
      expect(values).toHaveLength(1);
      expect(values[0]).not.toContain(ticket);
      expect(await redis.client().get(values[0]!)).not.toContain(ticket);
      expect(short.logs.join('\n')).not.toContain(ticket);
      shortClock.passTime(expiresAt);
      expect((await rawUpgrade(short.url, { ticket })).status).toBe(400);
    } finally {
      await short.close();
    }
  });
});

describe('finding 7: the per-address connection limit applies at the upgrade', () => {
  it('finding 7: past the limit an upgrade is refused RATE_LIMITED at the upgrade, with or without a good ticket', async () => {
    const limitedClock = new TestClock();
    const limited = await startTestRelay(network, {
      now: limitedClock.now,
      redisUrl: redis.url,
      keyPrefix: 'up-limit:',
      config: { rateLimits: { ipPerMinute: 1000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 3 } },
    });
    try {
      const { token } = await signedIn(limited);
      limitedClock.startNextWindow();
      const tickets = await Promise.all(Array.from({ length: 4 }, async () => (await socketTicket(limited.url, token)).ticket));
      // Three upgrades fit the window (one without a ticket: it counts too).
      expect((await rawUpgrade(limited.url, {})).error?.code).toBe('UNAUTHENTICATED');
      expect((await rawUpgrade(limited.url, { ticket: tickets[0] })).status).toBe(101);
      expect((await rawUpgrade(limited.url, { ticket: tickets[1] })).status).toBe(101);
      const refused = await rawUpgrade(limited.url, { ticket: tickets[2], after: connectFrame() });
      expect(refused.status).toBe(400);
      expect(refused.error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
      expect((await rawUpgrade(limited.url, {})).error?.code).toBe('RATE_LIMITED');
      const metrics = await fetch(`${limited.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/handover_socket_refusals_total\{code="RATE_LIMITED"\} 2\b/);
    } finally {
      await limited.close();
    }
  });
});
