/**
 * The expiry sweeper on a real (embedded) store and a fake clock: time is
 * moved, never waited for. And the one expiry-notice format, read back the
 * way the socket layer reads it on connect.
 */
import { decodeKeptNotice, encodeDeliveredNotice, encodeExpiryNotice, readKeptNotices, type SentExpiryNotice } from '../../../server/expiry/notice';
import { ExpirySweeper, type SweepLog } from '../../../server/expiry/sweeper';
import { MemoryStore } from '../../../server/store/memory-store';
import { toB64u } from '../../../shared/encoding';
import { HandoverError } from '../../../shared/errors';
import { envelope, FakeClock, T0 } from '../store/contract';

const HOUR = 3_600_000;
/** A well-formed message id (16 bytes, base64url) for message `n`. */
const MSG = (n: number) => toB64u(Uint8Array.from({ length: 16 }, (_, i) => (i < 4 ? (n >> (8 * i)) & 0xff : 7)));

/** A sweeper over a store on the same fake clock as the sweeper. */
function setup<S extends MemoryStore>(makeStore: (now: () => number) => S) {
  const clock = new FakeClock();
  const store = makeStore(clock.now);
  const told: Array<{ sender: string; notice: SentExpiryNotice }> = [];
  const warnings: string[] = [];
  let counted = 0;
  const logger: SweepLog = { info: () => undefined, warn: (_fields, message) => warnings.push(message) };
  const sweeper = new ExpirySweeper({
    store,
    now: clock.now,
    notifySender: (sender, notice) => told.push({ sender, notice }),
    countExpired: (copies) => (counted += copies),
    logger,
  });
  return { store, clock, sweeper, told, warnings, counted: () => counted };
}
const memory = (now: () => number) => new MemoryStore({ now });

describe('expiry sweeper', () => {
  it('tells the sender, live and through a kept notice, which recipients never stored an envelope', async () => {
    const { store, clock, sweeper, told, counted } = setup(memory);
    await store.enqueue(envelope(MSG(1), ['dev-a', 'dev-b', 'dev-c'], { expiresAt: T0 + HOUR }));
    await store.ackDelivery('dev-b', MSG(1));

    clock.advance(HOUR - 1);
    expect(await sweeper.sweep()).toBe(0); // not expired yet
    expect(told).toEqual([]);
    clock.advance(1);
    expect(await sweeper.sweep()).toBe(2);

    expect(counted()).toBe(2);
    expect(told).toHaveLength(1);
    const [{ sender, notice }] = told as [{ sender: string; notice: SentExpiryNotice }];
    expect(sender).toBe('dev-sender');
    expect(notice).toEqual({ messageId: MSG(1), recipientDeviceIds: ['dev-a', 'dev-c'], at: T0 + HOUR, noticeId: expect.any(String) });

    // The sender was offline: on its next connect it reads the same notice back.
    expect(await readKeptNotices(store, 'dev-sender', 10)).toEqual([{ event: 'envelope:expired', notice }]);
    // Each expiry is told once.
    expect(await sweeper.sweep()).toBe(0);
    expect(told).toHaveLength(1);
  });

  it('sends one notice per message, and takes more than one batch in a sweep', async () => {
    const { store, clock, sweeper, told } = setup(memory);
    for (let n = 0; n < 501; n++) await store.enqueue(envelope(MSG(n), ['dev-a'], { expiresAt: T0 + HOUR }));
    clock.advance(2 * HOUR);
    expect(await sweeper.sweep()).toBe(501);
    expect(told.map((t) => t.notice.messageId).sort()).toEqual(Array.from({ length: 501 }, (_, n) => MSG(n)).sort());
    expect(told.every((t) => t.notice.at === T0 + 2 * HOUR && t.notice.recipientDeviceIds.join() === 'dev-a')).toBe(true);
  });

  it('still tells a connected sender live when the notice cannot be kept', async () => {
    class NoNotices extends MemoryStore {
      override async putNotice(): Promise<string> {
        throw new HandoverError('UNAVAILABLE', 'storage down');
      }
    }
    const { store, sweeper, told, warnings, clock } = setup((now) => new NoNotices({ now }));
    await store.enqueue(envelope(MSG(1), ['dev-a'], { expiresAt: T0 + HOUR }));
    clock.advance(HOUR);
    expect(await sweeper.sweep()).toBe(1);
    expect(told).toEqual([{ sender: 'dev-sender', notice: { messageId: MSG(1), recipientDeviceIds: ['dev-a'], at: T0 + HOUR } }]);
    expect(warnings).toEqual(['could not keep an expiry notice; sending it live only']);
  });

  it('a tick while a sweep is under way does nothing, and a failed sweep is logged, not thrown', async () => {
    class HeldStore extends MemoryStore {
      takes = 0;
      hold: Promise<void> | undefined;
      fail = false;
      override async takeExpired(now: number, limit: number) {
        this.takes++;
        if (this.hold) await this.hold;
        if (this.fail) throw new HandoverError('UNAVAILABLE', 'storage down');
        return super.takeExpired(now, limit);
      }
    }
    const { store, sweeper, warnings } = setup((now) => new HeldStore({ now }));
    let release!: () => void;
    store.hold = new Promise((r) => (release = r));
    const first = sweeper.tick();
    await sweeper.tick();
    expect(store.takes).toBe(1);
    release();
    await first;

    store.hold = undefined;
    store.fail = true;
    await expect(sweeper.tick()).resolves.toBeUndefined();
    expect(warnings).toEqual(['expiry sweep failed']);
    // The failed sweep does not block the next one.
    store.fail = false;
    await sweeper.tick();
    expect(store.takes).toBe(3);
  });
});

describe('the kept notice formats', () => {
  const notice = { messageId: MSG(1), recipientDeviceIds: ['org-a:dev-a'], at: T0 };
  const delivered = { messageId: MSG(2), recipientDeviceId: 'org-a:dev-a', at: T0 };
  const ID = '1796000000000-1';

  it('reads back what the sweeper and the delivery ack write', () => {
    expect(decodeKeptNotice(encodeExpiryNotice(notice), ID)).toEqual({ event: 'envelope:expired', notice: { ...notice, noticeId: ID } });
    expect(decodeKeptNotice(encodeDeliveredNotice(delivered), ID)).toEqual({ event: 'envelope:delivered', notice: { ...delivered, noticeId: ID } });
  });

  it('is refused with extra fields, missing fields, an unknown kind or no JSON at all', () => {
    expect(decodeKeptNotice(JSON.stringify({ ...notice, plaintext: 'x' }), ID)).toBeUndefined();
    expect(decodeKeptNotice(JSON.stringify({ messageId: MSG(1), at: T0 }), ID)).toBeUndefined();
    expect(decodeKeptNotice(JSON.stringify({ kind: 'delivered', ...delivered, plaintext: 'x' }), ID)).toBeUndefined();
    expect(decodeKeptNotice(JSON.stringify({ kind: 'read', ...delivered }), ID)).toBeUndefined();
    expect(decodeKeptNotice('{not json', ID)).toBeUndefined();
  });

  it('a kept notice of neither kind is dropped instead of sent on', async () => {
    const store = new MemoryStore({ now: () => T0 });
    await store.putNotice('dev-s', JSON.stringify({ something: 'else' }));
    const keptId = await store.putNotice('dev-s', encodeExpiryNotice(notice));
    const deliveredId = await store.putNotice('dev-s', encodeDeliveredNotice(delivered));
    expect(await readKeptNotices(store, 'dev-s', 10)).toEqual([
      { event: 'envelope:expired', notice: { ...notice, noticeId: keptId } },
      { event: 'envelope:delivered', notice: { ...delivered, noticeId: deliveredId } },
    ]);
    expect((await store.readNotices('dev-s', 10)).map((n) => n.noticeId)).toEqual([keptId, deliveredId]);
  });
});
