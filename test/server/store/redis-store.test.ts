/**
 * The store contract against a real redis-server, plus what only Redis can
 * show: durability across a crash, fail-fast outages, the key layout.
 *
 * The contract runs on a one-node Redis Cluster owning every slot: a plain
 * client works, and any script or multi-key command whose keys do not share
 * one hash tag fails with CROSSSLOT, so passing proves the layout is
 * cluster-ready.
 */
import { createStore } from '../../../server/store';
import { RedisStore, type RedisStoreOptions } from '../../../server/store/redis-store';
import type { RelayStore } from '../../../server/store/types';
import { isHandoverError } from '../../../shared/errors';
import { type TestRedis, startRedis, uniquePrefix } from '../../support/redis';
import { ALL_BYTES, FakeClock, T0, describeStoreContract, envelope } from './contract';

const MINUTE = 60_000;
const DAY_MS = 24 * 60 * MINUTE;

let cluster: TestRedis;

beforeAll(async () => {
  cluster = await startRedis({ cluster: true });
});

afterAll(async () => {
  await cluster?.destroy();
});

describeStoreContract('redis', () => {
  const opened: RelayStore[] = [];
  const connect = async (options: RedisStoreOptions): Promise<RelayStore> => {
    const store = await RedisStore.connect(options);
    opened.push(store);
    return store;
  };
  return {
    async open(options) {
      const shared = { ...options, url: cluster.url, keyPrefix: uniquePrefix() };
      return { store: await connect(shared), twin: () => connect(shared) };
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    },
  };
});

/** Resolves with the error code a call fails with, or 'resolved'. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => (isHandoverError(err) ? err.code : `not a HandoverError: ${String(err)}`),
  );
}

/** Waits until the store's client has reconnected (bounded by attempts, not time). */
async function untilAvailable(store: RelayStore): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if ((await codeOf(store.ping())) === 'resolved') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('store did not reconnect');
}

describe('redis store on its own server', () => {
  let redis: TestRedis;
  let store: RedisStore;
  let clock: FakeClock;
  const open = (extra: Partial<RedisStoreOptions> = {}) =>
    RedisStore.connect({ url: redis.url, now: clock.now, commandTimeoutMs: 10_000, ...extra });

  beforeEach(async () => {
    redis = await startRedis({ appendfsync: 'always' });
    clock = new FakeClock();
    store = await open();
  });

  afterEach(async () => {
    await store.close();
    await redis.destroy();
  });

  it('is what createStore gives for a Redis URL', async () => {
    const made = await createStore({ redisUrl: redis.url });
    expect(made.kind).toBe('redis');
    await made.close();
  });

  it('keeps every kind of data through a crash of Redis (AOF, appendfsync always)', async () => {
    await store.putOrg('org-a', '{"org":"a"}');
    await store.putDevice('dev-a', 'org-a', '{"dev":"a"}');
    await store.appendRevocation('root', 1, '{"rev":1}');
    await store.setSignedPrekeys('dev-a', '{"spk":1}');
    await store.addOneTimePrekeys('dev-a', [{ id: 1, json: '{"otpk":1}' }, { id: 2, json: '{"otpk":2}' }], 10);
    await store.popOneTimePrekey('dev-a');
    await store.putSession('hash-1', 'dev-a', 10 * MINUTE);
    expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { blob: ALL_BYTES }))).toEqual({ status: 'stored' });
    await store.ackDelivery('dev-b', 'msg-1');

    await redis.kill();
    await redis.restart();
    await untilAvailable(store);

    expect(await store.getOrg('org-a')).toBe('{"org":"a"}');
    expect(await store.getDevice('dev-a')).toEqual({ deviceId: 'dev-a', orgId: 'org-a', certJson: '{"dev":"a"}' });
    expect(await store.revocationHead('root')).toBe(1);
    expect(await store.getSignedPrekeys('dev-a')).toBe('{"spk":1}');
    expect(await store.popOneTimePrekey('dev-a')).toEqual({ id: 2, json: '{"otpk":2}' });
    expect(await store.getSession('hash-1')).toEqual({ deviceId: 'dev-a', expiresAt: T0 + 10 * MINUTE });
    const [item] = await store.readInbox('dev-a', 10);
    expect(Array.from(item?.blob ?? [])).toEqual(Array.from(ALL_BYTES));
    expect(await store.inboxLength('dev-b')).toBe(0);
    expect(await store.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
  });

  it('fails with UNAVAILABLE while Redis is down, and works again once it is back', async () => {
    await store.enqueue(envelope('msg-1', ['dev-a']));
    await redis.kill();

    // A hang here would fail the test by its timeout; the commandTimeout is 10 s, so
    // these must fail at once because the connection is known to be gone.
    expect(await codeOf(store.ping())).toBe('UNAVAILABLE');
    expect(await codeOf(store.enqueue(envelope('msg-2', ['dev-a'])))).toBe('UNAVAILABLE');
    expect(await codeOf(store.readInbox('dev-a', 10))).toBe('UNAVAILABLE');
    expect(await codeOf(store.popOneTimePrekey('dev-a'))).toBe('UNAVAILABLE');
    expect(await codeOf(store.hitRateLimit('ip:1', MINUTE, 3))).toBe('UNAVAILABLE');

    await redis.restart();
    await untilAvailable(store);
    expect((await store.readInbox('dev-a', 10)).map((i) => i.messageId)).toEqual(['msg-1']);
    expect(await store.enqueue(envelope('msg-2', ['dev-a']))).toEqual({ status: 'stored' });
  });

  it('refuses to start with UNAVAILABLE when Redis cannot be reached', async () => {
    await redis.stop();
    expect(await codeOf(open({ connectTimeoutMs: 500 }))).toBe('UNAVAILABLE');
  });

  it('puts the prefix on every key and a hash tag in every key name', async () => {
    await store.close();
    store = await open({ keyPrefix: 'relay7:' });
    await store.putOrg('org-a', '{}');
    await store.putDevice('dev-a', 'org-a', '{}');
    await store.appendRevocation('org-a', 1, '{}');
    await store.setSignedPrekeys('dev-a', '{}');
    await store.addOneTimePrekeys('dev-a', [{ id: 1, json: '{}' }], 10);
    await store.putChallenge('chal-1', 'v', MINUTE);
    await store.putSession('hash-1', 'dev-a', MINUTE);
    await store.hitRateLimit('ip:1', MINUTE, 3);
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));

    const keys = (await redis.client().keys('*')).sort();
    expect(keys.length).toBeGreaterThan(15);
    for (const key of keys) expect(key).toMatch(/^relay7:[^{}]*\{[^{}]+\}[^{}]*$/);
    expect(keys).toEqual(
      expect.arrayContaining(['relay7:inbox:{dev-a}', 'relay7:inbox:{dev-b}', 'relay7:env:{msg-1}', 'relay7:pending:{msg-1}', 'relay7:replay:{dev-b}', 'relay7:{expiry}:due']),
    );
  });

  it('keeps the bytes of an envelope to one device in its inbox, and frees them at the ack', async () => {
    const client = redis.client();
    const blob = new Uint8Array(4096).fill(7);
    await store.enqueue(envelope('msg-1', ['dev-a'], { blob }));

    expect(await client.hstrlen('ho:inbox-body:{dev-a}', 'msg-1')).toBe(4096);
    const entries = await client.xrange('ho:inbox:{dev-a}', '-', '+');
    expect(entries.map(([, fields]) => fields)).toEqual([['m', 'msg-1', 's', 'dev-sender', 'e', String(T0 + DAY_MS)]]);
    expect(await client.keys('ho:env:*')).toEqual([]);

    await store.ackDelivery('dev-a', 'msg-1');
    expect(await client.exists('ho:inbox-body:{dev-a}', 'ho:inbox-index:{dev-a}')).toBe(0);
    expect(await client.zcard('ho:{expiry}:due')).toBe(0);
    expect(await client.hexists('ho:replay:{dev-a}', 'msg-1')).toBe(1); // replay memory stays
  });

  it('keeps the bytes of an envelope to several devices once, and frees them after the last ack', async () => {
    const client = redis.client();
    const blob = new Uint8Array(4096).fill(7);
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b', 'dev-c'], { blob }));

    expect(await client.keys('ho:env:*')).toEqual(['ho:env:{msg-1}']);
    expect(await client.strlen('ho:env:{msg-1}')).toBe(4096);
    expect(await client.keys('ho:inbox-body:*')).toEqual([]);
    const entries = await client.xrange('ho:inbox:{dev-b}', '-', '+');
    expect(entries.map(([, fields]) => fields)).toEqual([['m', 'msg-1', 's', 'dev-sender', 'e', String(T0 + DAY_MS), 'b', 'shared']]);
    expect(Array.from((await store.readInbox('dev-c', 1))[0]?.blob ?? []).length).toBe(4096);
    expect(await client.zcard('ho:{expiry}:due')).toBe(3);

    await store.ackDelivery('dev-a', 'msg-1');
    await store.deleteInbox('dev-b');
    expect(await client.exists('ho:env:{msg-1}')).toBe(1);
    await store.ackDelivery('dev-c', 'msg-1');
    expect(await client.exists('ho:env:{msg-1}', 'ho:pending:{msg-1}')).toBe(0);
    expect(await client.zcard('ho:{expiry}:due')).toBe(0);
    for (const id of ['dev-a', 'dev-b', 'dev-c']) expect(await client.hexists(`ho:replay:{${id}}`, 'msg-1')).toBe(1);
  });

  it('frees the bytes kept once when the last copy expires', async () => {
    const client = redis.client();
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { expiresAt: T0 + MINUTE }));
    await store.ackDelivery('dev-a', 'msg-1');
    expect(await store.takeExpired(T0 + MINUTE, 10)).toEqual([{ messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-b' }]);
    expect(await client.exists('ho:env:{msg-1}', 'ho:pending:{msg-1}')).toBe(0);
  });

  it('enqueues to one recipient in one round trip: one script and the expiry entry', async () => {
    const client = redis.client();
    await store.enqueue(envelope('msg-0', ['dev-a'])); // Redis learns the script
    await client.config('RESETSTAT');
    await store.enqueue(envelope('msg-1', ['dev-a']));
    const stats = await client.info('commandstats');
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('evalsha') + calls('eval')).toBe(1);
    // Commands a script runs count too: its replay-memory ZADD, and the one expiry entry beside it.
    expect(calls('zadd')).toBe(2);
    expect(calls('xadd')).toBe(1);
    expect(calls('xlen')).toBe(1);
  });

  it('finishes an enqueue that an earlier call left half done', async () => {
    const client = redis.client();
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
    // Make it look as if the process died after writing dev-a's inbox only.
    await client.del('ho:inbox:{dev-b}', 'ho:inbox-index:{dev-b}', 'ho:inbox-body:{dev-b}', 'ho:replay:{dev-b}', 'ho:replay-due:{dev-b}');

    expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']))).toEqual({ status: 'stored' });
    expect(await store.inboxLength('dev-a')).toBe(1);
    expect((await store.readInbox('dev-b', 10)).map((i) => i.messageId)).toEqual(['msg-1']);
    expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']))).toEqual({ status: 'duplicate', sameEnvelope: true });
  });

  it('finding 13: only the same envelope finishes a half-done enqueue; another one under its id is refused, and a replay record without a fingerprint never counts as the same', async () => {
    const client = redis.client();
    await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']));
    await client.del('ho:inbox:{dev-b}', 'ho:inbox-index:{dev-b}', 'ho:inbox-body:{dev-b}', 'ho:replay:{dev-b}', 'ho:replay-due:{dev-b}');

    expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { fingerprint: 'fp-other' }))).toEqual({ status: 'duplicate', sameEnvelope: false });
    expect(await store.inboxLength('dev-b')).toBe(0);
    expect(await store.enqueue(envelope('msg-1', ['dev-a', 'dev-b']))).toEqual({ status: 'stored' });
    expect(await store.inboxLength('dev-b')).toBe(1);

    await client.hset('ho:replay:{dev-a}', 'msg-2', String(T0 + DAY_MS));
    expect(await store.enqueue(envelope('msg-2', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: false });
    expect(await store.inboxLength('dev-a')).toBe(1);
  });

  it('forgets lapsed replay records as new envelopes arrive, and lets Redis drop an idle inbox', async () => {
    const client = redis.client();
    await store.enqueue(envelope('msg-1', ['dev-a']));
    await store.ackDelivery('dev-a', 'msg-1');
    const ttl = await client.pttl('ho:replay:{dev-a}');
    expect(ttl).toBeGreaterThan(0);
    clock.advance(31 * DAY_MS); // past the default retention (30 days)
    await store.enqueue(envelope('msg-2', ['dev-a'], { expiresAt: clock.time + DAY_MS }));
    expect(await client.hkeys('ho:replay:{dev-a}')).toEqual(['msg-2']);
    expect(await client.zrange('ho:replay-due:{dev-a}', 0, -1)).toEqual(['msg-2']);
    expect(await client.pttl('ho:inbox:{dev-a}')).toBeGreaterThan(0);
  });

  it('drops an inbox entry whose body Redis already evicted', async () => {
    await store.enqueue(envelope('msg-1', ['dev-a']));
    await store.enqueue(envelope('msg-2', ['dev-a']));
    await redis.client().hdel('ho:inbox-body:{dev-a}', 'msg-1');
    expect((await store.readInbox('dev-a', 10)).map((i) => i.messageId)).toEqual(['msg-2']);
    expect(await store.inboxLength('dev-a')).toBe(1);
  });

  it('schedules an expiry again when an earlier attempt scheduled it too early', async () => {
    const client = redis.client();
    await client.zadd('ho:{expiry}:due', T0 + 1000, 'msg-1/dev-a');
    await store.enqueue(envelope('msg-1', ['dev-a'], { expiresAt: T0 + DAY_MS }));
    expect(await store.takeExpired(T0 + 2000, 10)).toEqual([]);
    expect(await client.zscore('ho:{expiry}:due', 'msg-1/dev-a')).toBe(String(T0 + DAY_MS));
    expect(await store.takeExpired(T0 + DAY_MS, 10)).toEqual([{ messageId: 'msg-1', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-a' }]);
  });

  it('still delivers, acks and expires envelopes a relay from before 2026-12-06 left in the old layout', async () => {
    const client = redis.client();
    const old = async (messageId: string, recipients: string[], exp: number) => {
      await client.hset(`ho:env:{${messageId}}`, 'sender', 'dev-sender', 'exp', String(exp), 'blob', Buffer.from([9, 8, 7]), 'done', '1');
      await client.sadd(`ho:pending:{${messageId}}`, ...recipients);
      for (const id of recipients) {
        const entry = await client.xadd(`ho:inbox:{${id}}`, '*', 'm', messageId);
        await client.hset(`ho:inbox-index:{${id}}`, messageId, entry ?? '');
      }
      await client.zadd('ho:{expiry}:due', exp, messageId);
    };
    await old('msg-old', ['dev-a', 'dev-b'], T0 + MINUTE);
    await old('msg-old2', ['dev-a'], T0 + DAY_MS);
    await store.enqueue(envelope('msg-new', ['dev-a']));

    const items = await store.readInbox('dev-a', 10);
    expect(items.map((i) => [i.messageId, i.senderDeviceId, Array.from(i.blob), i.expiresAt])).toEqual([
      ['msg-old', 'dev-sender', [9, 8, 7], T0 + MINUTE],
      ['msg-old2', 'dev-sender', [9, 8, 7], T0 + DAY_MS],
      ['msg-new', 'dev-sender', [1, 2, 3], T0 + DAY_MS],
    ]);
    expect(await store.ackDelivery('dev-a', 'msg-old')).toBe(true);
    expect(await store.ackDelivery('dev-a', 'msg-old2')).toBe(true);
    expect(await client.exists('ho:env:{msg-old2}', 'ho:pending:{msg-old2}')).toBe(0);

    clock.advance(MINUTE);
    expect(await store.takeExpired(clock.time, 10)).toEqual([{ messageId: 'msg-old', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-b' }]);
    expect(await store.inboxLength('dev-b')).toBe(0);
    expect(await client.exists('ho:env:{msg-old}', 'ho:pending:{msg-old}')).toBe(0);
    expect(await store.takeExpired(T0 + 2 * DAY_MS, 10)).toEqual([{ messageId: 'msg-new', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-a' }]);
  });

  it('lets Redis sweep challenges and sessions after their ttl (PX)', async () => {
    const client = redis.client();
    await store.putChallenge('chal-1', 'v', MINUTE);
    await store.putSession('hash-1', 'dev-a', 2 * MINUTE);
    const challengeTtl = await client.pttl('ho:challenge:{chal-1}');
    const sessionTtl = await client.pttl('ho:session:{hash-1}');
    expect(challengeTtl).toBeGreaterThan(0);
    expect(challengeTtl).toBeLessThanOrEqual(MINUTE);
    expect(sessionTtl).toBeGreaterThan(MINUTE);
    expect(sessionTtl).toBeLessThanOrEqual(2 * MINUTE);
  });
});
