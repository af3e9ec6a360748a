/**
 * The SDK against a real relay, on the embedded store and on a real
 * redis-server: enrol, sign in, send to a thread, deliver online and
 * offline, acknowledge, delivered notices, reconnect catch-up in order.
 */
import { loadCrypto } from '../../shared/crypto/sodium';
import type { HandoverClient } from '../../client/sdk/client';
import type { StoredMessage } from '../../client/sdk/messages';
import { TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, type RelayFixture, startTestRelay } from '../support/relay';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';
const thread = (n: number) => `${'T'.repeat(21)}${'AQgw'[n]}`;

describe.each(['memory', 'redis'] as const)('SDK against the relay (%s store)', (kind) => {
  let redis: TestRedis | undefined;
  let fx: RelayFixture;
  let network: TestNetwork;
  const clients: HandoverClient[] = [];

  beforeAll(async () => {
    const crypto = await loadCrypto();
    network = new TestNetwork(crypto, Date.now());
    if (kind === 'redis') redis = await startRedis({ appendfsync: 'everysec' });
    fx = await startTestRelay(network, redis ? { redisUrl: redis.url } : {});
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await fx.close();
    await redis?.destroy();
  });

  const enrol = async (...args: Parameters<typeof enrolClient> extends [unknown, ...infer R] ? R : never) => {
    const c = await enrolClient(fx, ...args);
    clients.push(c);
    return c;
  };

  it('delivers a message to every device of the addressed orgs and the sender\'s other devices, once', async () => {
    const ngo = network.addOrg('ngo-taraz', 'ngo');
    const shelter = network.addOrg('shelter-ist', 'shelter');
    const alice = await enrol(ngo, 'ngo-alice');
    const alice2 = await enrol(ngo, 'ngo-alice-phone');
    const amina = await enrol(shelter, 'shelter-amina');
    const bora = await enrol(shelter, 'shelter-bora');
    const got = new Map<string, StoredMessage[]>();
    for (const c of [alice2, amina, bora]) {
      got.set(c.deviceId, []);
      c.on('message', (m) => got.get(c.deviceId)?.push(m));
    }
    const delivered: string[] = [];
    alice.on('delivered', (n) => delivered.push(n.recipientDeviceId));

    const sent = await alice.send({ threadId: THREAD, orgIds: ['shelter-ist'], payload: { hello: 'Aigerim' } });
    await eventually(() => [...got.values()].every((list) => list.length === 1), 10_000, 'deliveries');
    for (const list of got.values()) {
      expect(list[0]).toMatchObject({ messageId: sent.messageId, threadId: THREAD, senderDeviceId: 'ngo-taraz:ngo-alice', senderOrgId: 'ngo-taraz', payload: { hello: 'Aigerim' } });
    }
    await eventually(() => delivered.length === 3, 10_000, 'delivered notices');
    expect(delivered.sort()).toEqual(['ngo-taraz:ngo-alice-phone', 'shelter-ist:shelter-amina', 'shelter-ist:shelter-bora']);
    // Acknowledged envelopes are gone from the inboxes.
    for (const id of ['ngo-taraz:ngo-alice-phone', 'shelter-ist:shelter-amina', 'shelter-ist:shelter-bora']) expect(await fx.relay.store.inboxLength(id)).toBe(0);
  });

  it('keeps envelopes for an offline device and delivers them in order when it comes back', async () => {
    const ngo = network.addOrg('ngo-almaty', 'ngo');
    const shelter = network.addOrg('shelter-ank', 'shelter');
    const sender = await enrol(ngo, 'almaty-sara');
    const receiver = await enrol(shelter, 'ank-deniz');
    await receiver.close();
    for (let i = 0; i < 12; i++) await sender.send({ threadId: thread(i % 3), orgIds: ['shelter-ank'], payload: { i } });
    expect(await fx.relay.store.inboxLength('shelter-ank:ank-deniz')).toBe(12);

    const seen: number[] = [];
    receiver.on('message', (m) => seen.push((m.payload as { i: number }).i));
    await receiver.connect();
    const pending = await receiver.sync();
    await eventually(() => seen.length === 12, 10_000, 'catch-up');
    expect(seen).toEqual([...Array(12).keys()]);
    expect(pending).toBeGreaterThanOrEqual(0);
    await eventually(async () => (await fx.relay.store.inboxLength('shelter-ank:ank-deniz')) === 0, 5000, 'acks');
    // Stored locally, decrypted, per thread.
    expect((await receiver.threadMessages(thread(0))).map((m) => (m.payload as { i: number }).i)).toEqual([0, 3, 6, 9]);
  });

  it('refetches bundles when an org gains a device between fetch and send (device-set check)', async () => {
    const ngo = network.addOrg('ngo-shymkent', 'ngo');
    const shelter = network.addOrg('shelter-izm', 'shelter');
    const sender = await enrol(ngo, 'shym-oleg');
    await enrol(shelter, 'izm-one');
    // Another device joins the shelter; the sender's next message must reach it too.
    const late = await enrol(shelter, 'izm-two');
    const got: string[] = [];
    late.on('message', (m) => got.push(m.messageId));
    const sent = await sender.send({ threadId: THREAD, orgIds: ['shelter-izm'], payload: 'x' });
    await eventually(() => got.includes(sent.messageId), 10_000, 'delivery to the new device');
  });
});

describe('SDK against a busy relay', () => {
  it('sends again when a busy relay sheds its sends (UNAVAILABLE + retryAfterMs) until every message is accepted, each delivered once', async () => {
    const crypto = await loadCrypto();
    const network = new TestNetwork(crypto, Date.now());
    const fx = await startTestRelay(network, { config: { maxConcurrentSends: 1 } });
    const clients: HandoverClient[] = [];
    try {
      const sender = await enrolClient(fx, network.addOrg('busy-ngo', 'ngo'), 'busy-sender');
      const receiver = await enrolClient(fx, network.addOrg('busy-shelter', 'shelter'), 'busy-receiver');
      clients.push(sender, receiver);
      const got: number[] = [];
      receiver.on('message', (m) => got.push((m.payload as { i: number }).i));
      const sends = await Promise.all(Array.from({ length: 6 }, (_, i) => sender.send({ threadId: THREAD, orgIds: ['busy-shelter'], payload: { i } })));
      expect(new Set(sends.map((s) => s.messageId)).size).toBe(6);
      await eventually(() => got.length === 6, 10_000, 'deliveries');
      expect([...got].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      const metrics = await fetch(`${fx.url}/metrics`).then((r) => r.text());
      const shed = Number(/handover_sends_shed_total (\d+)/.exec(metrics)?.[1]);
      expect(shed).toBeGreaterThan(0);
    } finally {
      for (const c of clients) await c.close();
      await fx.close();
    }
  });
});

describe('SDK and kept expiry notices', () => {
  it('tells a sender that was offline when its message expired, once: the SDK acks the notice', async () => {
    const crypto = await loadCrypto();
    const network = new TestNetwork(crypto, Date.now());
    const fx = await startTestRelay(network, { config: { retentionMs: 1500, expirySweepMs: 100 } });
    const clients: HandoverClient[] = [];
    try {
      const sender = await enrolClient(fx, network.addOrg('exp-ngo', 'ngo'), 'exp-sender');
      const receiver = await enrolClient(fx, network.addOrg('exp-shelter', 'shelter'), 'exp-receiver');
      clients.push(sender, receiver);
      await receiver.close();
      const sent = await sender.send({ threadId: THREAD, orgIds: ['exp-shelter'], payload: 'never read' });
      await sender.close();
      await new Promise((r) => setTimeout(r, 2500)); // expired and swept while both are away

      const expired: Array<{ messageId: string; recipientDeviceIds: string[] }> = [];
      sender.on('expired', (n) => expired.push(n));
      await sender.connect();
      await eventually(() => expired.length === 1, 5000, 'expiry notice');
      expect(expired[0]).toMatchObject({ messageId: sent.messageId, recipientDeviceIds: ['exp-shelter:exp-receiver'] });
      await eventually(async () => (await fx.relay.store.readNotices('exp-ngo:exp-sender', 10)).length === 0, 5000, 'notice acked');
      await sender.close();
      await sender.connect();
      await new Promise((r) => setTimeout(r, 300));
      expect(expired).toHaveLength(1);
    } finally {
      for (const c of clients) await c.close();
      await fx.close();
    }
  });
});
