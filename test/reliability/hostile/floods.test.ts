/**
 * Floods and slow clients from one address, against a relay process with
 * real (small) limits. Loopback gives every test its own source address:
 * the attacker comes from 127.0.0.3-7, a well-behaved bystander from
 * 127.0.0.2. Each test checks that the limit holds (typed RATE_LIMITED
 * refusals, bounded delivery window) and that the bystander is still served.
 */
import net from 'node:net';
import { utf8 } from '../../../shared/encoding';
import { sealEnvelope } from '../../../shared/envelope';
import { messageIdOfDelivery, wireOf } from '../../../shared/envelope-wire';
import type { SealedEnvelope } from '../../../shared/schemas';
import type { Delivery, WireError } from '../../../shared/socket-events';
import type { TestDevice } from '../../support/network';
import { rawUpgrade, type Refusal, socketTicket, socketWithTicket } from '../../support/relay';
import { registerAll, signInAll } from '../support/burst';
import { recordFigures } from '../support/figures';
import { type FuzzTarget, healthy, rawRequest, startFuzzTarget } from '../support/fuzz-setup';
import { badHttpAnswer, badWireError } from '../support/hostile';
import type { PeerSocket } from '../support/peers';
import { sleep, waitFor } from '../support/wait';

const LIMITS = { connectPerMinute: 40, ipPerMinute: 200, sendPerMinute: 100 };
const BYSTANDER = '127.0.0.2';
/** Fixed one-minute windows: a burst straddling a window edge can get up to twice the limit through. */
const WINDOW_SLACK = 2;
/** DeliveryPump window (server/config.ts deliveryWindow). */
const DELIVERY_WINDOW = 256;

let target: FuzzTarget;
let tokens: Map<string, string>;
let bystanderSender: TestDevice;
let bystanderReceiver: TestDevice;
let slowDevice: TestDevice;
let flooder: TestDevice;
/** Four senders (own orgs) share the slow reader's load: each stays under its own send limit. */
let slowSenders: TestDevice[];
const sockets: PeerSocket[] = [];
const figures: Record<string, unknown> = {};
let rssBefore = 0;

beforeAll(async () => {
  target = await startFuzzTarget('fl', {
    RATE_LIMIT_CONNECT_PER_MINUTE: String(LIMITS.connectPerMinute),
    RATE_LIMIT_IP_PER_MINUTE: String(LIMITS.ipPerMinute),
    RATE_LIMIT_SEND_PER_MINUTE: String(LIMITS.sendPerMinute),
  });
  const { network } = target;
  const ngo = network.addOrg('fl-ngo', 'ngo');
  const shelter = network.addOrg('fl-shelter', 'shelter');
  const slowOrg = network.addOrg('fl-slow', 'shelter');
  bystanderSender = network.addDevice(ngo, 'fl-by-sender');
  bystanderReceiver = network.addDevice(shelter, 'fl-by-receiver');
  slowDevice = network.addDevice(slowOrg, 'fl-slow-reader');
  flooder = network.addDevice(network.addOrg('fl-flood', 'ngo'), 'fl-flooder');
  slowSenders = [0, 1, 2, 3].map((i) => network.addDevice(network.addOrg(`fl-ss${i}`, 'ngo'), `fl-ss${i}`));
  const all = [bystanderSender, bystanderReceiver, slowDevice, flooder, ...slowSenders];
  await registerAll(target.relay.url, all);
  tokens = await signInAll({ url: target.relay.url, crypto: target.crypto, network }, all);
  rssBefore = target.relay.rss();
});
afterAll(async () => {
  for (const s of sockets) s.close();
  recordFigures('hostileInput', 'floodsAndSlowClients', { cases: 0, limits: LIMITS, ...figures });
  await target?.close();
});

/** A ticket for the device, fetched from this address; or the typed refusal. */
async function ticketFor(device: TestDevice | undefined, localAddress: string): Promise<string | undefined | WireError | 'transport'> {
  if (!device) return undefined;
  try {
    return (await socketTicket(target.relay.url, tokens.get(device.keys.deviceId), { localAddress })).ticket;
  } catch (err) {
    return (err as Refusal).data ?? 'transport';
  }
}

/** A connected socket from this address (ticket first), or why not. */
async function connect(device: TestDevice | undefined, localAddress: string): Promise<PeerSocket | WireError | 'transport'> {
  const ticket = await ticketFor(device, localAddress);
  if (typeof ticket === 'object' || ticket === 'transport') return ticket;
  try {
    const socket = await socketWithTicket(target.relay.url, ticket, undefined, { localAddress, timeoutMs: 10_000 });
    sockets.push(socket);
    return socket;
  } catch {
    return 'transport';
  }
}

/** One upgrade from this address, read raw: 'connected' (101), the typed refusal's code, or 'untyped'. */
async function upgradeOutcome(device: TestDevice | undefined, localAddress: string): Promise<string> {
  const ticket = await ticketFor(device, localAddress);
  if (typeof ticket === 'object') {
    expect(badWireError(ticket)).toBeUndefined();
    return ticket.code;
  }
  if (ticket === 'transport') return 'untyped';
  const answer = await rawUpgrade(target.relay.url, { localAddress, ...(ticket ? { ticket } : {}) });
  if (answer.status === 101) return 'connected';
  if (!answer.error) return 'untyped';
  expect(badWireError(answer.error)).toBeUndefined();
  return answer.error.code;
}

function seal(from: TestDevice, to: TestDevice, body = 'x'): SealedEnvelope {
  return sealEnvelope(target.crypto, {
    sender: target.network.senderKeys(from),
    recipients: [target.network.recipientKeys(to, false)],
    threadId: 'AAAAAAAAAAAAAAAAAAAAAA',
    sentAt: Date.now(),
    body: utf8(body),
  });
}

/** The bystander (another address) signs nothing new: it connects, sends one envelope and sees it delivered. */
async function bystanderRoundTrip(): Promise<{ ok: boolean; ms: number; http: number }> {
  const started = Date.now();
  const http = (await rawRequest(target.relay.url, { method: 'GET', path: '/v1/network', localAddress: BYSTANDER })).status;
  const s = await connect(bystanderSender, BYSTANDER);
  const r = await connect(bystanderReceiver, BYSTANDER);
  if (typeof s !== 'object' || 'code' in s || typeof r !== 'object' || 'code' in r) return { ok: false, ms: Date.now() - started, http };
  const env = seal(bystanderSender, bystanderReceiver);
  const delivered = new Promise<boolean>((resolve) => {
    r.on('envelope:deliver', (d: Delivery) => {
      if (messageIdOfDelivery(d) === env.header.messageId) {
        r.emitWithAck('envelope:ack', { messageId: env.header.messageId }).catch(() => undefined);
        resolve(true);
      }
    });
    setTimeout(() => resolve(false), 10_000);
  });
  const res = await s.timeout(10_000).emitWithAck('envelope:send', wireOf(env));
  const ok = res.ok && (await delivered);
  s.close();
  r.close();
  return { ok, ms: Date.now() - started, http };
}

it('a connection flood from one address is cut at the per-address limit, at the upgrade, with typed refusals; others still connect', async () => {
  const attacker = '127.0.0.3';
  const outcomes: Record<string, number> = {};
  const attempts = 300;
  const bystander = bystanderRoundTrip(); // runs while the flood is on
  for (let batch = 0; batch < attempts / 50; batch++) {
    // Half carry a good ticket of the flooder's own session, half none at all.
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => upgradeOutcome((batch + i) % 2 === 0 ? flooder : undefined, attacker)));
    for (const key of results) outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const during = await bystander;
  const after = await bystanderRoundTrip();
  figures.connectionFlood = { attempts, outcomes, bystanderDuringFlood: during, bystanderAfter: after };
  const admitted = (outcomes.connected ?? 0) + (outcomes.UNAUTHENTICATED ?? 0);
  expect(admitted).toBeLessThanOrEqual(LIMITS.connectPerMinute * WINDOW_SLACK);
  expect(outcomes.RATE_LIMITED ?? 0).toBeGreaterThanOrEqual(attempts - LIMITS.connectPerMinute * WINDOW_SLACK);
  expect(outcomes.untyped ?? 0).toBe(0);
  expect(during.ok).toBe(true);
  expect(after.ok).toBe(true);
});

it('an HTTP flood from one address gets typed 429s past the limit; another address is still served', async () => {
  const attacker = '127.0.0.4';
  const statuses: Record<string, number> = {};
  let untyped = 0;
  let bystanderOk = 0;
  for (let batch = 0; batch < 40; batch++) {
    const results = await Promise.all(Array.from({ length: 25 }, () => rawRequest(target.relay.url, { method: 'GET', path: '/v1/orgs/fl-shelter', localAddress: attacker })));
    for (const r of results) {
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (badHttpAnswer(r.status, r.body)) untyped++;
    }
    if ((await rawRequest(target.relay.url, { method: 'GET', path: '/v1/network', localAddress: BYSTANDER })).status === 200) bystanderOk++;
  }
  figures.httpFlood = { requests: 1000, statuses, untyped, bystanderRequestsServed: `${bystanderOk}/40` };
  expect(untyped).toBe(0);
  expect(statuses['429'] ?? 0).toBeGreaterThanOrEqual(1000 - LIMITS.ipPerMinute * WINDOW_SLACK);
  expect(bystanderOk).toBe(40);
});

it('a device flooding envelopes is held to its send limit; another device is not', async () => {
  const envelopes = Array.from({ length: 150 }, () => seal(flooder, bystanderReceiver));
  const s = await connect(flooder, '127.0.0.5');
  if (typeof s !== 'object' || 'code' in s) throw new Error(`flooder could not connect: ${JSON.stringify(s)}`);
  const outcomes: Record<string, number> = {};
  for (const env of envelopes) {
    const res = await s.timeout(10_000).emitWithAck('envelope:send', wireOf(env));
    const key = res.ok ? 'ok' : res.error.code;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (!res.ok) expect(badWireError(res.error)).toBeUndefined();
  }
  const bystander = await bystanderRoundTrip();
  figures.sendFlood = { envelopes: envelopes.length, outcomes, bystander };
  expect(outcomes.ok ?? 0).toBeLessThanOrEqual(LIMITS.sendPerMinute * WINDOW_SLACK);
  expect(outcomes.RATE_LIMITED ?? 0).toBeGreaterThan(0);
  expect(bystander.ok).toBe(true);
  // Drain what the flood left for the bystander's receiver.
  const r = await connect(bystanderReceiver, BYSTANDER);
  if (typeof r === 'object' && !('code' in r)) {
    r.on('envelope:deliver', (d: Delivery) => void r.emitWithAck('envelope:ack', { messageId: messageIdOfDelivery(d) }).catch(() => undefined));
    await waitFor(async () => (await target.redis.client().xlen('ho:inbox:{fl-by-receiver}')) === 0, 10_000, 100);
    r.close();
  }
});

it('a slow reader that never acks holds at most the delivery window; others are served meanwhile', async () => {
  const slow = await connect(slowDevice, '127.0.0.6');
  if (typeof slow !== 'object' || 'code' in slow) throw new Error('slow reader could not connect');
  let received = 0;
  slow.on('envelope:deliver', () => received++);
  // Stop reading from the TCP socket: the relay's writes back up.
  const tcp = (slow.io.engine as unknown as { transport: { ws: { _socket: net.Socket } } }).transport.ws._socket;
  tcp.pause();
  const total = DELIVERY_WINDOW + 44;
  const perSender = total / slowSenders.length;
  let accepted = 0;
  await Promise.all(
    slowSenders.map(async (from) => {
      const sender = await connect(from, BYSTANDER);
      if (typeof sender !== 'object' || 'code' in sender) throw new Error('sender could not connect');
      for (let i = 0; i < perSender; i++) {
        const res = await sender.timeout(10_000).emitWithAck('envelope:send', wireOf(seal(from, slowDevice, `s${i}`)));
        if (!res.ok) throw new Error(`send to the slow reader refused: ${res.error.code}`);
        accepted++;
      }
    }),
  );
  const bystander = await bystanderRoundTrip();
  tcp.resume();
  await waitFor(() => received >= DELIVERY_WINDOW, 10_000);
  await sleep(500);
  const windowHeld = received;
  // Acking frees the window: the rest follows.
  slow.on('envelope:deliver', (d: Delivery) => void slow.emitWithAck('envelope:ack', { messageId: messageIdOfDelivery(d) }).catch(() => undefined));
  await slow.timeout(10_000).emitWithAck('inbox:sync');
  figures.slowReader = { envelopesForIt: accepted, deliveredBeforeAnyAck: windowHeld, deliveryWindow: DELIVERY_WINDOW, bystander };
  expect(windowHeld).toBe(DELIVERY_WINDOW);
  expect(bystander.ok).toBe(true);
}, 180_000);

it('hundreds of idle and byte-by-byte (slowloris) connections do not stop others being served', async () => {
  const attacker = '127.0.0.7';
  const conns: net.Socket[] = [];
  for (let i = 0; i < 300; i++) {
    const c = net.connect({ host: '127.0.0.1', port: target.relay.port, localAddress: attacker });
    c.on('error', () => undefined);
    conns.push(c);
  }
  // Half stay silent; half send a valid request head one byte at a time and never finish it.
  for (const [i, c] of conns.entries()) if (i % 2 === 0) c.write('GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Pad: ');
  const dribble = setInterval(() => {
    for (const [i, c] of conns.entries()) if (i % 2 === 0 && !c.destroyed) c.write('a');
  }, 200);
  await sleep(1000);
  const bystander = await bystanderRoundTrip();
  const open = conns.filter((c) => !c.destroyed).length;
  clearInterval(dribble);
  for (const c of conns) c.destroy();
  figures.slowloris = { connections: conns.length, stillOpenAfter1s: open, bystander };
  expect(bystander.ok).toBe(true);
  expect(bystander.http).toBe(200);
});

it('kept serving with bounded memory', async () => {
  expect(await healthy(target)).toBeUndefined();
  const rssAfter = target.relay.rss();
  figures.relayRssMiB = { before: Math.round(rssBefore / 1048576), after: Math.round(rssAfter / 1048576) };
  expect(rssAfter - rssBefore).toBeLessThan(200 * 1024 * 1024);
});
