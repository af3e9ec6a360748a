/**
 * The store contract: one suite that every RelayStore implementation must
 * pass. Each test opens a fresh, empty store on a fake clock; `twin()` opens
 * a second connection to the same data (for Redis a separate client, i.e.
 * what a second relay process would see).
 */
import { isHandoverError } from '../../../shared/errors';
import type { EnqueueRequest, RelayStore, StoreOptions } from '../../../server/store/types';

export interface OpenedStore {
  store: RelayStore;
  twin(): Promise<RelayStore>;
}

export interface StoreBackend {
  /** Opens an empty store; the backend closes it after the test. */
  open(options: Required<Pick<StoreOptions, 'now'>> & StoreOptions): Promise<OpenedStore>;
  /** Closes everything opened during the test. */
  closeAll(): Promise<void>;
}

/** 2026-11-28T12:00:00Z: a whole number of minutes, so rate windows start exactly here. */
export const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export class FakeClock {
  constructor(public time = T0) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** All 256 byte values, so any text decoding of a blob would show. */
export const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

export function envelope(messageId: string, recipientDeviceIds: string[], overrides: Partial<EnqueueRequest> = {}): EnqueueRequest {
  return { messageId, fingerprint: `fp-${messageId}`, senderDeviceId: 'dev-sender', recipientDeviceIds, blob: bytes(1, 2, 3), expiresAt: T0 + DAY, ...overrides };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const outcome = await promise.then(
    () => 'resolved',
    (err: unknown) => (isHandoverError(err) ? err.code : `not a HandoverError: ${String(err)}`),
  );
  expect(outcome).toBe(code);
}

export function describeStoreContract(name: string, backend: () => StoreBackend): void {
  describe(`${name} store contract`, () => {
    let clock: FakeClock;
    let store: RelayStore;
    let twin: () => Promise<RelayStore>;
    let impl: StoreBackend;

    const reopen = async (options: StoreOptions = {}): Promise<void> => {
      const opened = await impl.open({ ...options, now: clock.now });
      store = opened.store;
      twin = opened.twin;
    };

    beforeEach(async () => {
      impl = backend();
      clock = new FakeClock();
      await reopen();
    });

    afterEach(async () => {
      await impl.closeAll();
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('refuses malformed ids with BAD_REQUEST before touching storage', async () => {
      await expectCode(store.putOrg('org}x', '{}'), 'BAD_REQUEST');
      await expectCode(store.getDevice('dev:1:x'), 'BAD_REQUEST');
      await expectCode(store.getDevice('dev 1'), 'BAD_REQUEST');
      await expectCode(store.readInbox('', 10), 'BAD_REQUEST');
      await expectCode(store.hitRateLimit('ip{1}', MINUTE, 5), 'BAD_REQUEST');
      await expectCode(store.readInbox('dev-a', 0), 'BAD_REQUEST');
      await expectCode(store.putChallenge('chal-1', 'x', 0), 'BAD_REQUEST');
    });

    describe('directory', () => {
      it('stores, replaces and lists org certificates in org-id order', async () => {
        expect(await store.getOrg('org-b')).toBeNull();
        await store.putOrg('org-b', '{"b":1}');
        await store.putOrg('org-a', '{"a":1}');
        await store.putOrg('org-b', '{"b":2}');
        expect(await store.getOrg('org-b')).toBe('{"b":2}');
        expect(await store.listOrgs()).toEqual(['{"a":1}', '{"b":2}']);
      });

      it('stores devices, lists them per org and follows a move to another org', async () => {
        expect(await store.getDevice('dev-1')).toBeNull();
        expect(await store.listOrgDeviceIds('org-a')).toEqual([]);
        await store.putDevice('dev-2', 'org-a', '{"d":2}');
        await store.putDevice('dev-1', 'org-a', '{"d":1}');
        await store.putDevice('dev-3', 'org-b', '{"d":3}');
        expect(await store.getDevice('dev-1')).toEqual({ deviceId: 'dev-1', orgId: 'org-a', certJson: '{"d":1}' });
        expect(await store.listOrgDeviceIds('org-a')).toEqual(['dev-1', 'dev-2']);
        expect(await store.listOrgDevices('org-b')).toEqual([{ deviceId: 'dev-3', orgId: 'org-b', certJson: '{"d":3}' }]);

        await store.putDevice('dev-1', 'org-b', '{"d":"1b"}');
        expect(await store.getDevice('dev-1')).toEqual({ deviceId: 'dev-1', orgId: 'org-b', certJson: '{"d":"1b"}' });
        expect(await store.listOrgDeviceIds('org-a')).toEqual(['dev-2']);
        expect(await store.listOrgDeviceIds('org-b')).toEqual(['dev-1', 'dev-3']);
      });

      it('keeps a device in exactly one org when two connections move it at once', async () => {
        const other = await twin();
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).putDevice('dev-1', i % 3 === 0 ? 'org-a' : 'org-b', `{"i":${i}}`)),
        );
        const record = await store.getDevice('dev-1');
        expect(record).not.toBeNull();
        const inA = (await store.listOrgDeviceIds('org-a')).includes('dev-1');
        const inB = (await store.listOrgDeviceIds('org-b')).includes('dev-1');
        expect([inA, inB]).toEqual([record?.orgId === 'org-a', record?.orgId === 'org-b']);
      });
    });

    describe('org certificate history', () => {
      it('finding 3: keeps every certificate ever put for an org, oldest first, each once, after it was replaced', async () => {
        expect(await store.listOrgHistory('org-a')).toEqual([]);
        await store.putOrg('org-a', '{"serial":1}');
        await store.putOrg('org-b', '{"b":1}');
        await store.putOrg('org-a', '{"serial":2}');
        await store.putOrg('org-a', '{"serial":2}');
        await store.putOrg('org-a', '{"serial":3}');
        expect(await store.getOrg('org-a')).toBe('{"serial":3}');
        expect(await store.listOrgHistory('org-a')).toEqual(['{"serial":1}', '{"serial":2}', '{"serial":3}']);
        expect(await store.listOrgHistory('org-b')).toEqual(['{"b":1}']);
        // A second process sees the same history.
        expect(await (await twin()).listOrgHistory('org-a')).toEqual(['{"serial":1}', '{"serial":2}', '{"serial":3}']);
        await expectCode(store.listOrgHistory('org}a'), 'BAD_REQUEST');
      });

      it('keeps one copy of a certificate put by two connections at once', async () => {
        const other = await twin();
        await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).putOrg('org-a', `{"serial":${i % 2}}`)));
        expect((await store.listOrgHistory('org-a')).sort()).toEqual(['{"serial":0}', '{"serial":1}']);
      });
    });

    describe('revocations', () => {
      it('appends only the next sequence number per issuer', async () => {
        expect(await store.revocationHead('root')).toBe(0);
        expect(await store.appendRevocation('root', 2, 'r2')).toEqual({ status: 'conflict', head: 0 });
        expect(await store.appendRevocation('root', 1, 'r1')).toEqual({ status: 'appended' });
        expect(await store.appendRevocation('root', 1, 'r1-again')).toEqual({ status: 'conflict', head: 1 });
        expect(await store.appendRevocation('root', 3, 'r3')).toEqual({ status: 'conflict', head: 1 });
        expect(await store.appendRevocation('root', 2, 'r2')).toEqual({ status: 'appended' });
        expect(await store.appendRevocation('org-b', 1, 'b1')).toEqual({ status: 'appended' });
        expect(await store.revocationHead('root')).toBe(2);
        expect(await store.revocationHead('org-b')).toBe(1);
        await expectCode(store.appendRevocation('root', 0, 'r0'), 'BAD_REQUEST');
      });

      it('lists every revocation by issuer, then sequence', async () => {
        await store.appendRevocation('root', 1, 'root-1');
        await store.appendRevocation('org-b', 1, 'b-1');
        await store.appendRevocation('root', 2, 'root-2');
        await store.appendRevocation('org-a', 1, 'a-1');
        await store.appendRevocation('org-b', 2, 'b-2');
        expect(await store.listRevocations()).toEqual([
          { issuerId: 'org-a', seq: 1, json: 'a-1' },
          { issuerId: 'org-b', seq: 1, json: 'b-1' },
          { issuerId: 'org-b', seq: 2, json: 'b-2' },
          { issuerId: 'root', seq: 1, json: 'root-1' },
          { issuerId: 'root', seq: 2, json: 'root-2' },
        ]);
      });

      it('lets exactly one of many concurrent appends of the same sequence number win', async () => {
        const other = await twin();
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).appendRevocation('root', 1, `r-${i}`)));
        expect(results.filter((r) => r.status === 'appended')).toHaveLength(1);
        expect(await store.listRevocations()).toHaveLength(1);
      });
    });

    describe('prekeys', () => {
      const items = (...ids: number[]) => ids.map((id) => ({ id, json: `{"id":${id}}` }));

      it('stores and replaces the signed prekeys', async () => {
        expect(await store.getSignedPrekeys('dev-a')).toBeNull();
        await store.setSignedPrekeys('dev-a', '{"spk":1}');
        await store.setSignedPrekeys('dev-a', '{"spk":2}');
        expect(await store.getSignedPrekeys('dev-a')).toBe('{"spk":2}');
        expect(await store.getSignedPrekeys('dev-b')).toBeNull();
      });

      it('hands out one-time prekeys lowest id first, each once', async () => {
        expect(await store.addOneTimePrekeys('dev-a', items(12, 10, 11), 100)).toEqual({ status: 'ok', added: 3, count: 3 });
        expect(await store.countOneTimePrekeys('dev-a')).toBe(3);
        expect(await store.popOneTimePrekey('dev-a')).toEqual({ id: 10, json: '{"id":10}' });
        expect(await store.popOneTimePrekey('dev-a')).toEqual({ id: 11, json: '{"id":11}' });
        expect(await store.popOneTimePrekey('dev-a')).toEqual({ id: 12, json: '{"id":12}' });
        expect(await store.popOneTimePrekey('dev-a')).toBeNull();
        expect(await store.countOneTimePrekeys('dev-a')).toBe(0);
        expect(await store.popOneTimePrekey('dev-b')).toBeNull();
      });

      it('ignores a repeated upload, and never takes back a prekey already handed out', async () => {
        await store.addOneTimePrekeys('dev-a', items(1, 2, 3), 100);
        expect(await store.addOneTimePrekeys('dev-a', items(1, 2, 3), 100)).toEqual({ status: 'ok', added: 0, count: 3 });
        expect((await store.popOneTimePrekey('dev-a'))?.id).toBe(1);
        expect(await store.addOneTimePrekeys('dev-a', items(1, 2, 3, 4), 100)).toEqual({ status: 'ok', added: 1, count: 3 });
        const rest = [await store.popOneTimePrekey('dev-a'), await store.popOneTimePrekey('dev-a'), await store.popOneTimePrekey('dev-a')];
        expect(rest.map((p) => p?.id)).toEqual([2, 3, 4]);
        expect(await store.popOneTimePrekey('dev-a')).toBeNull();
      });

      it('refuses a whole batch that would pass the cap, writing nothing', async () => {
        await store.addOneTimePrekeys('dev-a', items(1, 2), 3);
        expect(await store.addOneTimePrekeys('dev-a', items(3, 4), 3)).toEqual({ status: 'over_cap', count: 2, cap: 3 });
        expect(await store.countOneTimePrekeys('dev-a')).toBe(2);
        // id 3 was not consumed by the refused batch
        expect(await store.addOneTimePrekeys('dev-a', items(3), 3)).toEqual({ status: 'ok', added: 1, count: 3 });
      });

      it('refuses repeated ids within one upload', async () => {
        await expectCode(store.addOneTimePrekeys('dev-a', items(1, 1), 10), 'BAD_REQUEST');
        expect(await store.countOneTimePrekeys('dev-a')).toBe(0);
      });

      it('never hands out a prekey twice under 200 concurrent pops over two connections', async () => {
        const other = await twin();
        const ids = Array.from({ length: 150 }, (_, i) => i);
        await store.addOneTimePrekeys('dev-a', items(...ids), 200);
        const popped = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? store : other).popOneTimePrekey('dev-a')));
        const got = popped.flatMap((p) => (p ? [p.id] : []));
        expect(got).toHaveLength(150);
        expect(new Set(got).size).toBe(150);
        expect([...got].sort((a, b) => a - b)).toEqual(ids);
        expect(await store.countOneTimePrekeys('dev-a')).toBe(0);
      });
    });

    describe('challenges', () => {
      it('returns a challenge once', async () => {
        await store.putChallenge('chal-1', 'nonce-1', MINUTE);
        expect(await store.takeChallenge('chal-1')).toBe('nonce-1');
        expect(await store.takeChallenge('chal-1')).toBeNull();
        expect(await store.takeChallenge('chal-2')).toBeNull();
      });

      it('expires a challenge at its ttl', async () => {
        await store.putChallenge('chal-1', 'nonce-1', MINUTE);
        await store.putChallenge('chal-2', 'nonce-2', MINUTE);
        clock.advance(MINUTE - 1);
        expect(await store.takeChallenge('chal-1')).toBe('nonce-1');
        clock.advance(1);
        expect(await store.takeChallenge('chal-2')).toBeNull();
      });

      it('gives a challenge to exactly one of many concurrent takers', async () => {
        const other = await twin();
        await store.putChallenge('chal-1', 'nonce-1', MINUTE);
        const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).takeChallenge('chal-1')));
        expect(taken.filter((v) => v !== null)).toEqual(['nonce-1']);
      });
    });

    describe('socket tickets', () => {
      it('returns a ticket once, to exactly one of many concurrent takers', async () => {
        const other = await twin();
        await store.putSocketTicket('ticket-1', 'dev-a', MINUTE);
        const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).takeSocketTicket('ticket-1')));
        expect(taken.filter((v) => v !== null)).toEqual(['dev-a']);
        expect(await store.takeSocketTicket('ticket-2')).toBeNull();
      });

      it('expires a ticket at its ttl, and keeps tickets apart from challenges', async () => {
        await store.putSocketTicket('same-id', 'ticket', 30_000);
        await store.putChallenge('same-id', 'challenge', MINUTE);
        expect(await store.takeChallenge('same-id')).toBe('challenge');
        await store.putSocketTicket('ticket-2', 'dev-b', 30_000);
        clock.advance(30_000 - 1);
        expect(await store.takeSocketTicket('same-id')).toBe('ticket');
        clock.advance(1);
        expect(await store.takeSocketTicket('ticket-2')).toBeNull();
        await expectCode(store.putSocketTicket('t{1}', 'x', MINUTE), 'BAD_REQUEST');
        await expectCode(store.putSocketTicket('t-1', 'x', 0), 'BAD_REQUEST');
      });
    });

    describe('sessions', () => {
      it('finds a session by token hash until its ttl', async () => {
        await store.putSession('hash-1', 'dev-a', 10 * MINUTE);
        expect(await store.getSession('hash-1')).toEqual({ deviceId: 'dev-a', expiresAt: T0 + 10 * MINUTE });
        expect(await store.getSession('hash-2')).toBeNull();
        clock.advance(10 * MINUTE);
        expect(await store.getSession('hash-1')).toBeNull();
      });

      it('ends one session, or every session of a device', async () => {
        await store.putSession('hash-1', 'dev-a', MINUTE);
        await store.putSession('hash-2', 'dev-a', MINUTE);
        await store.putSession('hash-3', 'dev-a', MINUTE);
        await store.putSession('hash-4', 'dev-b', MINUTE);
        await store.deleteSession('hash-1');
        expect(await store.getSession('hash-1')).toBeNull();
        expect(await store.deleteDeviceSessions('dev-a')).toBe(2);
        expect(await store.getSession('hash-2')).toBeNull();
        expect(await store.getSession('hash-3')).toBeNull();
        expect(await store.getSession('hash-4')).toEqual({ deviceId: 'dev-b', expiresAt: T0 + MINUTE });
        expect(await store.deleteDeviceSessions('dev-a')).toBe(0);
      });
    });

    describe('rate limits', () => {
      it('allows max hits per window, then says when to retry, then resets', async () => {
        const hit = () => store.hitRateLimit('ip:10.0.0.1', MINUTE, 3);
        expect(await hit()).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
        clock.advance(20_000);
        expect(await hit()).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
        expect(await hit()).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        expect(await hit()).toEqual({ allowed: false, remaining: 0, retryAfterMs: 40_000 });
        clock.advance(40_000);
        expect(await hit()).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
      });

      it('counts each key on its own', async () => {
        expect((await store.hitRateLimit('bundle:dev-a:org-b', MINUTE, 1)).allowed).toBe(true);
        expect((await store.hitRateLimit('bundle:dev-a:org-b', MINUTE, 1)).allowed).toBe(false);
        expect((await store.hitRateLimit('bundle:dev-a:org-c', MINUTE, 1)).allowed).toBe(true);
      });

      it('holds the limit across connections hitting at once', async () => {
        const other = await twin();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).hitRateLimit('ip:::1', MINUTE, 5)));
        expect(results.filter((r) => r.allowed)).toHaveLength(5);
      });
    });

    describe('kept notices', () => {
      it('keeps notices per device in order until each is acked, once', async () => {
        const a = [await store.putNotice('dev-a', '{"n":1}'), await store.putNotice('dev-a', '{"n":2}'), await store.putNotice('dev-a', '{"n":3}')];
        const b = await store.putNotice('dev-b', '{"n":"b"}');
        // Ids are unique per device (Redis stream ids: another device's may be equal).
        expect(new Set(a).size).toBe(3);
        expect((await store.readNotices('dev-a', 10)).map((n) => n.json)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
        expect((await store.readNotices('dev-a', 2)).map((n) => n.noticeId)).toEqual(a.slice(0, 2));
        expect(await store.ackNotice('dev-a', a[1]!)).toBe(true);
        expect(await store.ackNotice('dev-a', a[1]!)).toBe(false);
        expect((await store.readNotices('dev-a', 10)).map((n) => n.json)).toEqual(['{"n":1}', '{"n":3}']);
        // Acks on one device leave the others' notices alone.
        expect((await store.readNotices('dev-b', 10)).map((n) => n.noticeId)).toEqual([b]);
        expect(await store.readNotices('dev-c', 10)).toEqual([]);
      });

      it('keeps at most MAX_NOTICES_PER_DEVICE, dropping the oldest', async () => {
        for (let i = 0; i < 1005; i++) await store.putNotice('dev-a', `{"i":${i}}`);
        const kept = await store.readNotices('dev-a', 1000);
        expect(kept).toHaveLength(1000);
        expect(kept[0]?.json).toBe('{"i":5}');
      });

      it('refuses malformed ids and notices', async () => {
        await expectCode(store.ackNotice('dev-a', 'not-an-id'), 'BAD_REQUEST');
        await expectCode(store.ackNotice('dev-a', '1-2-3'), 'BAD_REQUEST');
        await expectCode(store.putNotice('dev-a', ''), 'BAD_REQUEST');
        await expectCode(store.putNotice('dev-a', 'x'.repeat(64 * 1024 + 1)), 'BAD_REQUEST');
        await expectCode(store.putNotice('bad id', '{}'), 'BAD_REQUEST');
        await expectCode(store.readNotices('dev-a', 0), 'BAD_REQUEST');
      });
    });

    describe('store-and-forward', () => {
      it('stores an envelope for every recipient and returns its exact bytes', async () => {
        expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { blob: ALL_BYTES }))).toEqual({ status: 'stored' });
        for (const deviceId of ['dev-a', 'dev-b']) {
          const [item, ...rest] = await store.readInbox(deviceId, 10);
          expect(rest).toEqual([]);
          expect(item?.messageId).toBe('msg-1');
          expect(item?.senderDeviceId).toBe('dev-sender');
          expect(item?.expiresAt).toBe(T0 + DAY);
          expect(item?.blob).toBeInstanceOf(Uint8Array);
          expect(Array.from(item?.blob ?? [])).toEqual(Array.from(ALL_BYTES));
          expect(await store.inboxLength(deviceId)).toBe(1);
        }
        expect(await store.readInbox('dev-c', 10)).toEqual([]);
      });

      it('passes over skipped ids (in flight to the reader) without counting them towards the limit', async () => {
        for (const id of ['msg-1', 'msg-2', 'msg-3', 'msg-4', 'msg-5']) await store.enqueue(envelope(id, ['dev-a']));
        const ids = async (limit: number, skip: string[]) => (await store.readInbox('dev-a', limit, new Set(skip))).map((i) => i.messageId);
        expect(await ids(2, ['msg-1', 'msg-2'])).toEqual(['msg-3', 'msg-4']);
        expect(await ids(10, ['msg-1', 'msg-3', 'msg-5'])).toEqual(['msg-2', 'msg-4']);
        expect(await ids(10, ['msg-1', 'msg-2', 'msg-3', 'msg-4', 'msg-5'])).toEqual([]);
        expect(await ids(1, ['unknown-id'])).toEqual(['msg-1']);
        // A Map's keys work as the skip set (the delivery pump passes its in-flight map).
        const inflight = new Map([['msg-1', 1], ['msg-2', 2], ['msg-3', 3]]);
        expect((await store.readInbox('dev-a', 10, inflight)).map((i) => i.messageId)).toEqual(['msg-4', 'msg-5']);
      });

      it('keeps arrival order and leaves items until acked', async () => {
        for (const id of ['msg-c', 'msg-a', 'msg-b']) await store.enqueue(envelope(id, ['dev-a']));
        const ids = async (limit: number) => (await store.readInbox('dev-a', limit)).map((i) => i.messageId);
        expect(await ids(10)).toEqual(['msg-c', 'msg-a', 'msg-b']);
        expect(await ids(2)).toEqual(['msg-c', 'msg-a']);
        expect(await store.ackDelivery('dev-a', 'msg-a')).toBe(true);
        expect(await ids(10)).toEqual(['msg-c', 'msg-b']);
        await store.enqueue(envelope('msg-d', ['dev-a']));
        expect(await ids(10)).toEqual(['msg-c', 'msg-b', 'msg-d']);
      });

      it('is idempotent by message id: a second enqueue changes nothing', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
        const again = envelope('msg-1', ['dev-a', 'dev-c'], { blob: bytes(9), senderDeviceId: 'dev-other' });
        expect(await store.enqueue(again)).toEqual({ status: 'duplicate', sameEnvelope: true });
        expect(await store.inboxLength('dev-a')).toBe(1);
        expect(await store.inboxLength('dev-c')).toBe(0);
        const [item] = await store.readInbox('dev-a', 10);
        expect(item?.senderDeviceId).toBe('dev-sender');
        expect(Array.from(item?.blob ?? [])).toEqual([1, 2, 3]);
      });

      it('finding 13: tells a retry of the same envelope from another envelope reusing its message id', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a']));
        expect(await store.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
        expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { fingerprint: 'fp-other', blob: bytes(7) }))).toEqual({ status: 'duplicate', sameEnvelope: false });
        // Nothing of the second one was stored; the first is still the one remembered.
        expect(await store.inboxLength('dev-b')).toBe(0);
        expect(Array.from((await store.readInbox('dev-a', 10))[0]?.blob ?? [])).toEqual([1, 2, 3]);
        expect(await store.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
        // After delivery too: the replay memory keeps the fingerprint.
        await store.ackDelivery('dev-a', 'msg-1');
        expect(await store.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
        expect(await store.enqueue(envelope('msg-1', ['dev-a'], { fingerprint: 'fp-other' }))).toEqual({ status: 'duplicate', sameEnvelope: false });
      });

      it('stores each recipient once even when listed twice', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-a']));
        expect(await store.inboxLength('dev-a')).toBe(1);
        expect(await store.ackDelivery('dev-a', 'msg-1')).toBe(true);
        expect(await store.takeExpired(T0 + 2 * DAY, 10)).toEqual([]);
      });

      it('remembers a message id after delivery, until the retention window ends', async () => {
        await reopen({ retentionMs: 7 * DAY });
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
        await store.ackDelivery('dev-a', 'msg-1');
        await store.ackDelivery('dev-b', 'msg-1');
        expect(await store.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
        expect(await store.inboxLength('dev-a')).toBe(0);
        clock.advance(7 * DAY - 1);
        expect(await store.enqueue(envelope('msg-1', ['dev-a'], { expiresAt: clock.time + DAY }))).toEqual({ status: 'duplicate', sameEnvelope: true });
        clock.advance(1);
        expect(await store.enqueue(envelope('msg-1', ['dev-a'], { expiresAt: clock.time + DAY }))).toEqual({ status: 'stored' });
      });

      it('acks once per recipient and only for a pending envelope', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
        expect(await store.ackDelivery('dev-c', 'msg-1')).toBe(false);
        expect(await store.ackDelivery('dev-a', 'msg-9')).toBe(false);
        expect(await store.ackDelivery('dev-a', 'msg-1')).toBe(true);
        expect(await store.ackDelivery('dev-a', 'msg-1')).toBe(false);
        expect(await store.inboxLength('dev-a')).toBe(0);
        expect((await store.readInbox('dev-b', 10)).map((i) => i.messageId)).toEqual(['msg-1']);
        expect(await store.ackDelivery('dev-b', 'msg-1')).toBe(true);
        expect(await store.readInbox('dev-b', 10)).toEqual([]);
      });

      it('refuses an envelope for a full inbox before writing anything', async () => {
        await reopen({ maxInboxLength: 2 });
        await store.enqueue(envelope('msg-1', ['dev-a']));
        await store.enqueue(envelope('msg-2', ['dev-a']));
        expect(await store.enqueue(envelope('msg-3', ['dev-b', 'dev-a']))).toEqual({ status: 'inbox_full', deviceIds: ['dev-a'] });
        expect(await store.inboxLength('dev-b')).toBe(0);
        expect(await store.inboxLength('dev-a')).toBe(2);
        // The refused id was not remembered: once there is room it goes through.
        await store.ackDelivery('dev-a', 'msg-1');
        expect(await store.enqueue(envelope('msg-3', ['dev-b', 'dev-a']))).toEqual({ status: 'stored' });
        expect(await store.inboxLength('dev-b')).toBe(1);
      });

      it('refuses an envelope without recipients or with a malformed id', async () => {
        await expectCode(store.enqueue(envelope('msg-1', [])), 'BAD_REQUEST');
        await expectCode(store.enqueue(envelope('msg 1', ['dev-a'])), 'BAD_REQUEST');
        await expectCode(store.enqueue(envelope('msg-1', ['dev-a', 'dev{b}'])), 'BAD_REQUEST');
        expect(await store.inboxLength('dev-a')).toBe(0);
      });

      it('deletes a revoked device inbox without touching other recipients', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
        await store.enqueue(envelope('msg-2', ['dev-a']));
        expect(await store.deleteInbox('dev-a')).toBe(2);
        expect(await store.inboxLength('dev-a')).toBe(0);
        expect(await store.ackDelivery('dev-a', 'msg-1')).toBe(false);
        expect((await store.readInbox('dev-b', 10)).map((i) => i.messageId)).toEqual(['msg-1']);
        expect(await store.deleteInbox('dev-c')).toBe(0);
        // Nothing is left pending for dev-a, so it never expires as undelivered.
        expect(await store.takeExpired(T0 + 2 * DAY, 10)).toEqual([{ messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-b' }]);
      });

      it('stores an envelope once when two connections enqueue it at the same time', async () => {
        const other = await twin();
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 ? store : other).enqueue(envelope('msg-1', ['dev-a', 'dev-b', 'dev-c']))),
        );
        expect(results.some((r) => r.status === 'stored')).toBe(true);
        expect(results.every((r) => r.status === 'stored' || r.status === 'duplicate')).toBe(true);
        for (const id of ['dev-a', 'dev-b', 'dev-c']) expect(await store.inboxLength(id)).toBe(1);
      });
    });

    describe('expiry', () => {
      it('reports each undelivered recipient of an expired envelope once, and removes it', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b', 'dev-c'], { expiresAt: T0 + MINUTE }));
        await store.ackDelivery('dev-a', 'msg-1');
        expect(await store.takeExpired(T0 + MINUTE - 1, 10)).toEqual([]);
        expect((await store.readInbox('dev-b', 10)).map((i) => i.messageId)).toEqual(['msg-1']);

        clock.advance(MINUTE);
        expect(await store.readInbox('dev-b', 10)).toEqual([]); // past expiry it is no longer handed out
        const expired = await store.takeExpired(clock.time, 10);
        expect(expired.sort((x, y) => x.recipientDeviceId.localeCompare(y.recipientDeviceId))).toEqual([
          { messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-b' },
          { messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-c' },
        ]);
        expect(await store.takeExpired(clock.time, 10)).toEqual([]);
        expect(await store.inboxLength('dev-b')).toBe(0);
        expect(await store.ackDelivery('dev-b', 'msg-1')).toBe(false);
        // still remembered: an expired envelope cannot be replayed
        expect(await store.enqueue(envelope('msg-1', ['dev-b'], { expiresAt: clock.time + MINUTE }))).toEqual({ status: 'duplicate', sameEnvelope: true });
      });

      it('reports nothing for an envelope every recipient acked', async () => {
        await store.enqueue(envelope('msg-1', ['dev-a'], { expiresAt: T0 + MINUTE }));
        await store.ackDelivery('dev-a', 'msg-1');
        expect(await store.takeExpired(T0 + MINUTE, 10)).toEqual([]);
      });

      it('takes expired envelopes in batches, earliest first', async () => {
        for (let i = 5; i >= 1; i--) await store.enqueue(envelope(`msg-${i}`, ['dev-a'], { expiresAt: T0 + i * MINUTE }));
        const now = T0 + 10 * MINUTE;
        const first = await store.takeExpired(now, 2);
        const second = await store.takeExpired(now, 2);
        const third = await store.takeExpired(now, 2);
        expect([first, second, third].map((batch) => batch.map((i) => i.messageId))).toEqual([['msg-1', 'msg-2'], ['msg-3', 'msg-4'], ['msg-5']]);
        expect(await store.takeExpired(now, 2)).toEqual([]);
      });

      it('keeps nothing past the retention window, whatever expiry the caller asked for', async () => {
        await reopen({ retentionMs: 7 * DAY });
        await store.enqueue(envelope('msg-1', ['dev-a'], { expiresAt: T0 + 100 * DAY }));
        expect((await store.readInbox('dev-a', 1))[0]?.expiresAt).toBe(T0 + 7 * DAY);
        expect(await store.takeExpired(T0 + 7 * DAY, 10)).toEqual([{ messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-a' }]);
      });

      it('gives each expiry to exactly one of two connections taking at once', async () => {
        const other = await twin();
        const messageIds = Array.from({ length: 40 }, (_, i) => `msg-${i}`);
        for (const id of messageIds) await store.enqueue(envelope(id, ['dev-a', 'dev-b'], { expiresAt: T0 + MINUTE }));
        const drain = async (s: RelayStore) => {
          const taken: string[] = [];
          for (;;) {
            const batch = await s.takeExpired(T0 + MINUTE, 3);
            if (batch.length === 0) return taken;
            taken.push(...batch.map((i) => `${i.messageId}/${i.recipientDeviceId}`));
          }
        };
        const [a, b] = await Promise.all([drain(store), drain(other)]);
        const all = [...a, ...b];
        expect(all).toHaveLength(80);
        expect(new Set(all).size).toBe(80);
      });
    });
  });
}
