/**
 * The delivery pump against a real (embedded) store whose inbox reads can be
 * held half-way, as a Redis read is between its XRANGE and its answer.
 */
import { DeliveryPump, type PendingItem } from '../../../server/socket/delivery';
import { MemoryStore } from '../../../server/store/memory-store';
import type { InboxSkip } from '../../../server/store/types';
import { envelope, T0 } from '../store/contract';

/** Reads the inbox at once (like XRANGE), then waits for `release` before filtering by `skip` and answering. */
class HeldReads extends MemoryStore {
  hold: Promise<void> | undefined;
  reads = 0;
  override async readInbox(deviceId: string, limit: number, skip?: InboxSkip) {
    this.reads++;
    const seen = await super.readInbox(deviceId, limit + (skip?.size ?? 0));
    if (this.hold) await this.hold;
    return seen.filter((item) => !skip?.has(item.messageId)).slice(0, limit);
  }
}

function setup(window = { count: 10, bytes: 1e9 }) {
  const store = new HeldReads({ now: () => T0 });
  const sent: string[] = [];
  const pump = new DeliveryPump('dev-a', store, { emit: (item: PendingItem) => sent.push(item.messageId) }, window);
  return { store, sent, pump };
}

test('an envelope acked while an inbox read is under way is not sent again by that read', async () => {
  const { store, sent, pump } = setup();
  await store.enqueue(envelope('msg-1', ['dev-a']));
  expect(await pump.replay()).toBe(1);
  await store.enqueue(envelope('msg-2', ['dev-a']));

  let release!: () => void;
  store.hold = new Promise((r) => (release = r));
  const reading = pump.replay(); // sees msg-1 (in flight) and msg-2
  await new Promise((r) => setImmediate(r));
  expect(await store.ackDelivery('dev-a', 'msg-1')).toBe(true);
  expect(pump.acked('msg-1')).toBe('dev-sender');
  release();
  store.hold = undefined;
  await reading;

  expect(sent).toEqual(['msg-1', 'msg-2']);
});

test('envelopes in flight are skipped by the read, and the window is filled with the next ones', async () => {
  const { store, sent, pump } = setup({ count: 3, bytes: 1e9 });
  for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) await store.enqueue(envelope(id, ['dev-a']));
  expect(await pump.replay()).toBe(3);
  expect(sent).toEqual(['m1', 'm2', 'm3']);
  // Full window: nothing more until acks.
  expect(await pump.replay()).toBe(0);
  await store.ackDelivery('dev-a', 'm2');
  pump.acked('m2');
  await pump.replay();
  expect(sent).toEqual(['m1', 'm2', 'm3', 'm4']);
});

test('a failed ack makes the envelope come again once, after a read', async () => {
  const { store, sent, pump } = setup();
  await store.enqueue(envelope('only', ['dev-a']));
  await pump.replay();
  pump.ackFailed('only');
  await pump.replay();
  expect(sent).toEqual(['only', 'only']);
  pump.close();
});

test('a live envelope that meets a failing inbox read is reported, read again by the pump itself, and delivered in order', async () => {
  class FailingReads extends MemoryStore {
    failures = 0;
    override async readInbox(deviceId: string, limit: number, skip?: InboxSkip) {
      if (this.failures > 0) {
        this.failures--;
        throw new Error('storage down');
      }
      return super.readInbox(deviceId, limit, skip);
    }
  }
  const store = new FailingReads({ now: () => T0 });
  const sent: string[] = [];
  const reported: unknown[] = [];
  const pump = new DeliveryPump('dev-a', store, { emit: (item: PendingItem) => sent.push(item.messageId), readFailed: (err) => reported.push(err) }, { count: 10, bytes: 1e9 });
  await store.enqueue(envelope('m1', ['dev-a']));
  store.failures = 1;
  await expect(pump.replay()).rejects.toThrow('storage down');
  // A live envelope arrives while the inbox is "dirty": the pump reads again instead of sending it ahead of m1.
  const m2 = envelope('m2', ['dev-a']);
  await store.enqueue(m2);
  store.failures = 1;
  pump.offer({ messageId: 'm2', senderDeviceId: 'dev-sender', blob: new Uint8Array(10) });
  for (let i = 0; i < 100 && sent.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  expect(reported.map((e) => (e as Error).message)).toEqual(['storage down']);
  expect(sent).toEqual(['m1', 'm2']);
});
