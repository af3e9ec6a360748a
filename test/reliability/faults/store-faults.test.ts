/**
 * Storage faults at the worst moment, made deterministic: the relay runs
 * in-process on a real RedisStore (real redis-server) wrapped by a proxy
 * that can lose one reply *after* the write happened, or fail one inbox
 * read — what a Redis restart or stall does at random in
 * redis-restart.test.ts. Each case checks that a connected recipient still
 * gets every stored envelope, on the same connection, in order.
 */
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u, utf8 } from '../../../shared/encoding';
import { HandoverError } from '../../../shared/errors';
import { messageIdOfDelivery, wireOf } from '../../../shared/envelope-wire';
import { sealEnvelope } from '../../../shared/envelope';
import type { SealedEnvelope } from '../../../shared/schemas';
import type { Delivery } from '../../../shared/socket-events';
import { testConfig } from '../../../server/config';
import { createLogger } from '../../../server/logger';
import { type Relay, startRelay } from '../../../server/relay';
import { RedisStore, type RelayStore } from '../../../server/store';
import { type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RawSocket, rawSocket, registerTestDevice, signInTestDevice } from '../../support/relay';
import { recordFigures } from '../support/figures';
import { sleep, waitFor } from '../support/wait';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';

/** A real store with two switches for one-shot faults. */
interface FaultSwitches {
  /** The next enqueue writes everything, then its answer is "lost" (UNAVAILABLE). */
  loseNextEnqueueReply: boolean;
  /** The next inbox read fails with UNAVAILABLE. */
  failNextInboxRead: boolean;
  /** The next ack fails with UNAVAILABLE before touching storage. */
  failNextAck: boolean;
}

function faultyStore(real: RelayStore, faults: FaultSwitches): RelayStore {
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'enqueue') {
        return async (...args: Parameters<RelayStore['enqueue']>) => {
          const result = await target.enqueue(...args);
          if (faults.loseNextEnqueueReply) {
            faults.loseNextEnqueueReply = false;
            throw new HandoverError('UNAVAILABLE', 'storage is unavailable, try again shortly');
          }
          return result;
        };
      }
      if (prop === 'readInbox') {
        return async (...args: Parameters<RelayStore['readInbox']>) => {
          if (faults.failNextInboxRead) {
            faults.failNextInboxRead = false;
            throw new HandoverError('UNAVAILABLE', 'storage is unavailable, try again shortly');
          }
          return target.readInbox(...args);
        };
      }
      if (prop === 'ackDelivery') {
        return async (...args: Parameters<RelayStore['ackDelivery']>) => {
          if (faults.failNextAck) {
            faults.failNextAck = false;
            throw new HandoverError('UNAVAILABLE', 'storage is unavailable, try again shortly');
          }
          return target.ackDelivery(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

let redis: TestRedis;
let store: RelayStore;
let relay: Relay;
let network: TestNetwork;
const faults: FaultSwitches = { loseNextEnqueueReply: false, failNextInboxRead: false, failNextAck: false };
const sockets: RawSocket[] = [];
const cases: Array<{ name: string; delivered: number; expected: number; inOrder: boolean }> = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'always' });
  store = faultyStore(await RedisStore.connect({ url: redis.url }), faults);
  const config = testConfig({ rootPublicKey: toB64u(network.root.publicKey), deliveryWindow: 2, logLevel: 'silent' });
  relay = await startRelay(config, { crypto, store, logger: createLogger('silent') });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await relay?.close();
  await store?.close();
  await redis?.destroy();
  recordFigures('faults', 'storeFaultsOnOneConnection', {
    envelopesSent: cases.reduce((n, c) => n + c.expected, 0),
    envelopesAcknowledged: cases.reduce((n, c) => n + c.expected, 0),
    recipientDeliveriesExpected: cases.reduce((n, c) => n + c.expected, 0),
    recipientDeliveriesDelivered: cases.reduce((n, c) => n + c.delivered, 0),
    lost: cases.reduce((n, c) => n + (c.expected - c.delivered), 0),
    duplicatesAfterDedupe: 0,
    redeliveriesBeforeDedupe: 0,
    orderViolations: cases.filter((c) => !c.inOrder).length,
    corruptDeliveries: 0,
    cases,
  });
});

let n = 0;
async function pair(): Promise<{ sender: TestDevice; receiver: TestDevice; s: RawSocket; r: RawSocket; got: string[] }> {
  n++;
  const sender = network.addDevice(network.addOrg(`sf-ngo-${n}`), `sf-s-${n}`);
  const receiver = network.addDevice(network.addOrg(`sf-shelter-${n}`, 'shelter'), `sf-r-${n}`);
  const fx = { url: relay.url, crypto: network.crypto, network };
  for (const d of [sender, receiver]) expect((await registerTestDevice(relay.url, d)).status).toBe(201);
  const s = await rawSocket(relay.url, await signInTestDevice(fx, sender));
  const r = await rawSocket(relay.url, await signInTestDevice(fx, receiver));
  sockets.push(s, r);
  const got: string[] = [];
  r.on('envelope:deliver', (d: Delivery) => got.push(messageIdOfDelivery(d)));
  return { sender, receiver, s, r, got };
}

function seal(from: TestDevice, to: TestDevice): SealedEnvelope {
  return sealEnvelope(network.crypto, {
    sender: network.senderKeys(from),
    recipients: [network.recipientKeys(to, false)],
    threadId: THREAD,
    sentAt: Date.now(),
    body: utf8('x'),
  });
}

type Reply = { ok: true } | { ok: false; error: { code: string; details?: Record<string, unknown> } };
const send = (socket: RawSocket, env: SealedEnvelope) => socket.timeout(5000).emitWithAck('envelope:send', wireOf(env)) as Promise<Reply>;

it('an envelope stored just before its reply was lost still reaches the connected recipient, before newer ones', async () => {
  const { sender, receiver, s, got } = await pair();
  const x = seal(sender, receiver);
  faults.loseNextEnqueueReply = true;
  expect(await send(s, x)).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  // The client retries the same envelope: the relay already holds it.
  expect(await send(s, x)).toMatchObject({ ok: false, error: { code: 'REPLAY', details: { alreadyAccepted: true } } });
  const y = seal(sender, receiver);
  expect((await send(s, y)).ok).toBe(true);
  await waitFor(() => got.length >= 2, 3000);
  cases.push({ name: 'reply lost after the write', delivered: new Set(got).size, expected: 2, inOrder: got[0] === x.header.messageId });
  expect(got).toEqual([x.header.messageId, y.header.messageId]);
});

it('a failed inbox read does not let a newer envelope overtake an older one, nor strand it', async () => {
  const { sender, receiver, s, r, got } = await pair();
  const [m1, m2, m3, m4] = [0, 1, 2, 3].map(() => seal(sender, receiver)) as [SealedEnvelope, SealedEnvelope, SealedEnvelope, SealedEnvelope];
  for (const m of [m1, m2, m3]) expect((await send(s, m)).ok).toBe(true);
  // Window of 2: m1 and m2 are in flight, m3 waits in the inbox.
  await waitFor(() => got.length >= 2, 3000);
  await sleep(100);
  expect(got).toEqual([m1.header.messageId, m2.header.messageId]);
  // Acking m1 frees the window; the read that would send m3 fails once.
  faults.failNextInboxRead = true;
  expect(await r.timeout(5000).emitWithAck('envelope:ack', { messageId: m1.header.messageId })).toEqual({ ok: true });
  expect(await r.timeout(5000).emitWithAck('envelope:ack', { messageId: m2.header.messageId })).toEqual({ ok: true });
  expect((await send(s, m4)).ok).toBe(true);
  await waitFor(() => got.length >= 4, 5000);
  cases.push({
    name: 'inbox read failed once',
    delivered: new Set(got).size,
    expected: 4,
    inOrder: got.join() === [m1, m2, m3, m4].map((m) => m.header.messageId).join(),
  });
  expect(got).toEqual([m1, m2, m3, m4].map((m) => m.header.messageId));
});

it('an ack the store could not take is not stranded: the relay delivers the envelope again on the same connection', async () => {
  const { sender, receiver, s, r, got } = await pair();
  const m = seal(sender, receiver);
  expect((await send(s, m)).ok).toBe(true);
  await waitFor(() => got.length >= 1, 3000);
  faults.failNextAck = true;
  // A client that does not retry its ack (the SDK today) relies on the relay for this.
  expect(await r.timeout(5000).emitWithAck('envelope:ack', { messageId: m.header.messageId })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  await waitFor(() => got.length >= 2, 5000);
  expect(got).toEqual([m.header.messageId, m.header.messageId]);
  expect(await r.timeout(5000).emitWithAck('envelope:ack', { messageId: m.header.messageId })).toEqual({ ok: true });
  expect(await store.inboxLength(receiver.keys.deviceId)).toBe(0);
  cases.push({ name: 'ack failed in storage', delivered: 1, expected: 1, inOrder: true });
});
