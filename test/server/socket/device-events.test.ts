/**
 * The socket layer's rules without a socket: backpressure (SendGate), the
 * four device events (DeviceEvents) and fan-out between processes (FanOut),
 * each on a real embedded store, real pumps and a real envelope service.
 */
import { trustAnchor } from '../../../shared/certificates';
import type { Delivery } from '../../../shared/socket-events';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { isHandoverError } from '../../../shared/errors';
import { testConfig } from '../../../server/config';
import { createMetrics } from '../../../server/metrics';
import { EnvelopeService } from '../../../server/services/envelopes';
import { RelayTrust } from '../../../server/services/trust';
import { DeliveryPump, type PendingItem } from '../../../server/socket/delivery';
import { DeviceEvents, type DeviceEventDeps } from '../../../server/socket/device-events';
import { FanOut, type ProcessBus } from '../../../server/socket/fan-out';
import { SendGate } from '../../../server/socket/send-gate';
import { MemoryStore } from '../../../server/store/memory-store';
import { inlineVerifier } from '../../../server/verify/pool';
import { envelope, T0 } from '../store/contract';

const MSG = (n: number) => toB64u(Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? n : 9)));

async function codeOf(work: Promise<unknown>): Promise<string> {
  return work.then(
    () => 'resolved',
    (err: unknown) => (isHandoverError(err) ? err.code : String(err)),
  );
}

describe('SendGate', () => {
  it('admits sends up to the count and byte limits, a lone send whatever its size, and frees on release', () => {
    const gate = new SendGate({ maxConcurrentSends: 2, maxSendBufferBytes: 100 });
    const huge = gate.tryEnter(1_000);
    expect(huge).toBeDefined();
    expect(gate.tryEnter(1)).toBeUndefined(); // over the bytes once another send is under way
    huge?.();
    huge?.(); // a second release changes nothing
    expect(gate.inFlight()).toBe(0);
    const a = gate.tryEnter(10);
    const b = gate.tryEnter(10);
    expect(gate.tryEnter(0)).toBeUndefined(); // over the count
    a?.();
    b?.();
    expect(gate.inFlight()).toBe(0);
  });
});

async function setup(options: { accepting?: boolean; gate?: SendGate } = {}) {
  const crypto = await loadCrypto();
  const store = new MemoryStore({ now: () => T0 });
  const config = testConfig();
  const trust = new RelayTrust(trustAnchor(crypto, crypto.signKeyPair().publicKey), store, () => T0);
  const envelopes = new EnvelopeService(inlineVerifier(crypto), trust, store, config, () => T0);
  const metrics = createMetrics(false);
  const sent: string[] = [];
  const pump = new DeliveryPump('dev-a', store, { emit: (item: PendingItem) => sent.push(item.messageId) }, { count: 10, bytes: 1e9 });
  const fanOut = new FanOut({ publish: () => undefined, subscribe: () => undefined });
  const delivered: Array<{ sender: string; messageId: string; recipientDeviceId: string }> = [];
  const gate = options.gate ?? new SendGate(config);
  const deps: DeviceEventDeps = {
    config,
    store,
    envelopes,
    metrics,
    gate,
    fanOut,
    isAccepting: () => options.accepting ?? true,
    now: () => T0,
    notifyDelivered: (sender, notice) => delivered.push({ sender, messageId: notice.messageId, recipientDeviceId: notice.recipientDeviceId }),
  };
  return { store, metrics, pump, sent, delivered, gate, events: new DeviceEvents('dev-a', pump, deps) };
}

const counterValue = async (counter: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }, labels: object = {}) =>
  (await counter.get()).values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;

describe('DeviceEvents', () => {
  it('refuses a send while the relay shuts down, and one above capacity, before looking at the envelope', async () => {
    const closing = await setup({ accepting: false });
    expect(await codeOf(closing.events.send('not even an envelope'))).toBe('UNAVAILABLE');

    const full = new SendGate({ maxConcurrentSends: 1, maxSendBufferBytes: 1e9 });
    const held = full.tryEnter(0);
    const busy = await setup({ gate: full });
    const refusal = await busy.events.send('not even an envelope').catch((err: unknown) => err);
    expect(isHandoverError(refusal) && refusal.code === 'UNAVAILABLE' && refusal.details?.retryAfterMs).toBe(250);
    expect(await counterValue(busy.metrics.sendsShed)).toBe(1);
    expect(await counterValue(busy.metrics.envelopesRefused, { code: 'BAD_REQUEST' })).toBe(0);
    held?.();
  });

  it('a version 2 frame counts its bytes against the send buffer, as a version 1 ciphertext does', async () => {
    const byBytes = new SendGate({ maxConcurrentSends: 10, maxSendBufferBytes: 1000 });
    const held = byBytes.tryEnter(600);
    const busy = await setup({ gate: byBytes });
    // Another send over the byte budget is shed before anything is read, frame or object alike.
    expect(await codeOf(busy.events.send(new Uint8Array(500)))).toBe('UNAVAILABLE');
    expect(await codeOf(busy.events.send({ ciphertext: new Uint8Array(500) }))).toBe('UNAVAILABLE');
    expect(await counterValue(busy.metrics.sendsShed)).toBe(2);
    // Within the budget, a malformed frame is read and refused, and frees its place.
    expect(await codeOf(busy.events.send(new Uint8Array(100)))).toBe('BAD_REQUEST');
    expect(byBytes.inFlight()).toBe(1);
    held?.();
  });

  it('counts a refused envelope by its code and frees its place in the gate', async () => {
    const { events, metrics, gate } = await setup();
    expect(await codeOf(events.send({ ciphertext: new Uint8Array(8) }))).toBe('BAD_REQUEST');
    expect(await counterValue(metrics.envelopesRefused, { code: 'BAD_REQUEST' })).toBe(1);
    expect(gate.inFlight()).toBe(0);
  });

  it('an ack frees the envelope and tells its sender once; a malformed ack is refused', async () => {
    const { store, pump, sent, delivered, events } = await setup();
    await store.enqueue(envelope(MSG(1), ['dev-a']));
    expect(await events.sync()).toEqual({ pending: 1 });
    expect(sent).toEqual([MSG(1)]);
    await events.ack({ messageId: MSG(1) });
    await events.ack({ messageId: MSG(1) });
    expect(delivered).toEqual([{ sender: 'dev-sender', messageId: MSG(1), recipientDeviceId: 'dev-a' }]);
    expect(await store.inboxLength('dev-a')).toBe(0);
    expect(await codeOf(events.ack({ messageId: MSG(1), extra: 1 }))).toBe('BAD_REQUEST');
    expect(pump.acked(MSG(1))).toBeUndefined();
  });

  it('a notice ack forgets the kept notice', async () => {
    const { store, events } = await setup();
    const noticeId = await store.putNotice('dev-a', '{"kept":true}');
    await events.noticeAck({ noticeId });
    expect(await store.readNotices('dev-a', 10)).toEqual([]);
    expect(await codeOf(events.noticeAck({ noticeId: 'not-an-id' }))).toBe('BAD_REQUEST');
  });
});

describe('FanOut', () => {
  /** Two processes' fan-outs on one in-memory channel, standing in for the Redis adapter. */
  function twoProcesses() {
    const handlers: Array<(notice: unknown) => void> = [];
    const published: unknown[] = [];
    const bus = (): ProcessBus => {
      const own: { handler?: (notice: unknown) => void } = {};
      return {
        publish: (notice) => {
          published.push(notice);
          for (const handler of handlers) if (handler !== own.handler) handler(notice);
        },
        subscribe: (handler) => {
          own.handler = handler;
          handlers.push(handler);
        },
      };
    };
    return { here: new FanOut(bus()), there: new FanOut(bus()), published };
  }

  const pumpOf = (store: MemoryStore, deviceId: string, got: string[]) =>
    new DeliveryPump(deviceId, store, { emit: (item) => got.push(item.messageId) }, { count: 10, bytes: 1e9 });
  const settle = () => new Promise((r) => setImmediate(r));

  it('offers a live envelope to local pumps, and tells other processes only once cross-process is on', async () => {
    const store = new MemoryStore({ now: () => T0 });
    const { here, there, published } = twoProcesses();
    const local: string[] = [];
    const remote: string[] = [];
    const localPump = pumpOf(store, 'dev-a', local);
    const remotePump = pumpOf(store, 'dev-b', remote);
    await Promise.all([localPump.replay(), remotePump.replay()]); // connected, inboxes read
    here.add('dev-a', localPump);
    there.add('dev-b', remotePump);

    const stored = async (n: number) => {
      const request = envelope(MSG(n), ['dev-a', 'dev-b']);
      await store.enqueue(request);
      // The pumps here emit ids only: the decoded delivery is never looked at.
      return { messageId: MSG(n), storedAt: T0, senderDeviceId: 'dev-sender', recipientDeviceIds: ['dev-a', 'dev-b'], blob: request.blob, delivery: {} as Delivery };
    };
    here.fanOut(await stored(2));
    await settle();
    expect(local).toEqual([MSG(2)]);
    expect(published).toEqual([]);
    expect(remote).toEqual([]);

    here.enableCrossProcess();
    here.fanOut(await stored(3));
    await settle();
    expect(local).toEqual([MSG(2), MSG(3)]);
    expect(published).toEqual([{ recipientDeviceIds: ['dev-a', 'dev-b'], messageId: MSG(3) }]);
    expect(remote).toEqual([MSG(2), MSG(3)]); // read from the inbox, in order
  });

  it('a nudge has the pumps of every process read their inboxes again', async () => {
    const store = new MemoryStore({ now: () => T0 });
    const { here, there, published } = twoProcesses();
    const remote: string[] = [];
    const remotePump = pumpOf(store, 'dev-b', remote);
    await remotePump.replay();
    there.add('dev-b', remotePump);
    await store.enqueue(envelope(MSG(4), ['dev-b'])); // stored, never offered (a lost reply)
    here.enableCrossProcess();
    here.nudge(['dev-b']);
    await settle();
    expect(published).toEqual([{ recipientDeviceIds: ['dev-b'], messageId: '' }]);
    expect(remote).toEqual([MSG(4)]);
  });

  it('an inbox notice from another process counts only its string device ids', async () => {
    const store = new MemoryStore({ now: () => T0 });
    let deliver!: (notice: unknown) => void;
    const fanOut = new FanOut({ publish: () => undefined, subscribe: (handler) => (deliver = handler) });
    const got: string[] = [];
    const pump = pumpOf(store, 'dev-x', got);
    await pump.replay();
    fanOut.add('dev-x', pump);
    await store.enqueue(envelope(MSG(5), ['dev-x']));
    for (const junk of [null, 'x', { recipientDeviceIds: 'dev-x' }, { recipientDeviceIds: [1, null, { id: 'dev-x' }] }]) deliver(junk);
    await settle();
    expect(got).toEqual([]);
    deliver({ recipientDeviceIds: [7, 'dev-x'] });
    await settle();
    expect(got).toEqual([MSG(5)]);
    fanOut.remove('dev-x', pump);
    deliver({ recipientDeviceIds: ['dev-x'] });
  });
});
