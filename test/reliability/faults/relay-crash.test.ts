/**
 * kill -9 of the relay process in the middle of a burst from several
 * senders, twice, each time restarted on the same port over the same store:
 * a private Redis (AOF, appendfsync always), and the embedded store (the
 * default without REDIS_URL: LevelDB in the relay's data folder, fsync'd
 * before every ack). Senders retry the very same envelope until it is
 * acknowledged; one recipient is online throughout, one connects only
 * after the burst. End state: every acknowledged envelope processed exactly
 * once by both recipients, in per-sender order, and every inbox empty.
 */
import path from 'node:path';
import { EmbeddedStore } from '../../../server/store/embedded-store';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { burstNetwork, Ledger, percentiles, registerAll, signInAll } from '../support/burst';
import { recordFigures } from '../support/figures';
import { Receiver, Sender } from '../support/peers';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';
import { sleep, waitFor } from '../support/wait';

const SENDERS = 4;
const PER_SENDER = 600; // 2,400 envelopes, 4,800 recipient deliveries
const KILL_AT = [0.3, 0.65];

let redis: TestRedis | undefined;
let relay: RelayProcess | undefined;
const peers: Array<{ stop(): void }> = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.stop();
  await relay?.kill();
  relay = undefined;
  await redis?.destroy();
  redis = undefined;
});

/** Where the relay keeps its state, and how the test reads inbox lengths at the end. */
interface Backend {
  env(): Promise<Record<string, string>>;
  /** Inbox lengths of these devices once nothing is in flight (the embedded store's relay is stopped first). */
  inboxLengths(deviceIds: string[]): Promise<number[]>;
  figuresName: string;
}

const redisBackend: Backend = {
  figuresName: 'relayKill9MidBurst',
  async env() {
    redis = await startRedis({ appendfsync: 'always' });
    return { REDIS_URL: redis.url };
  },
  async inboxLengths(deviceIds) {
    const client = redis!.client();
    return Promise.all(deviceIds.map((id) => client.xlen(`ho:inbox:{${id}}`)));
  },
};

const embeddedBackend: Backend = {
  figuresName: 'relayKill9MidBurstEmbedded',
  async env() {
    return {};
  },
  async inboxLengths(deviceIds) {
    // One process holds the folder: stop the relay (graceful, so acks in flight land), then read it.
    if (relay?.alive()) await relay.stop();
    const store = await EmbeddedStore.open({ dir: path.join(relay!.dataDir, 'store') });
    try {
      return await Promise.all(deviceIds.map((id) => store.inboxLength(id)));
    } finally {
      await store.close();
    }
  },
};

it.each([
  ['Redis (appendfsync always)', redisBackend],
  ['the embedded store', embeddedBackend],
])('loses and duplicates nothing across two kill -9 of the relay mid-burst, on %s', async (_name, backend) => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  const env = { ...(await backend.env()), HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS };
  relay = await spawnRelay(env);
  const url = relay.url;

  const net = burstNetwork(network, 'crash', SENDERS, 2);
  await registerAll(url, [...net.senders, ...net.receivers]);
  const tokens = await signInAll({ url, crypto, network }, [...net.senders, ...net.receivers]);
  const ledger = new Ledger();
  const recipients = net.receivers.map((d) => network.recipientKeys(d, false));
  const sealed = ledger.seal(crypto, network, net.senders, recipients, PER_SENDER, [net.shelter.orgId]);
  const total = SENDERS * PER_SENDER;

  const receivers = net.receivers.map((d) => new Receiver({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId, crypto));
  const [online, late] = receivers as [Receiver, Receiver];
  peers.push(...receivers);
  online.start();
  await online.ready();

  const senders = net.senders.map((d) => new Sender({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId));
  peers.push(...senders);
  const started = Date.now();
  let lastAckAt = 0;
  const burst = Promise.all(
    senders.map((s) =>
      s.start().run(sealed.get(s.deviceId)!, (id) => {
        ledger.ack(id);
        lastAckAt = Date.now();
      }),
    ),
  );

  const crashes: Array<{ atAcked: number; downMs: number; firstAckAfterRestartMs: number }> = [];
  for (const share of KILL_AT) {
    expect(await waitFor(() => ledger.acked.size >= total * share, 120_000)).toBe(true);
    const atAcked = ledger.acked.size;
    const killedAt = Date.now();
    await relay!.kill();
    await sleep(300);
    relay = await relay!.restart(); // same port, same environment (and data folder)
    const restartedAt = Date.now();
    await waitFor(() => lastAckAt > restartedAt, 60_000);
    crashes.push({ atAcked, downMs: restartedAt - killedAt, firstAckAfterRestartMs: lastAckAt - restartedAt });
  }
  await burst;
  const burstMs = Date.now() - started;

  late.start();
  const everything = () => ledger.deliveredFor(receivers) === ledger.expectedFor(receivers);
  await waitFor(everything, 90_000, 100);
  await sleep(500); // late duplicates would show up here
  const receiverIds = net.receivers.map((d) => d.keys.deviceId);
  const inboxesEmpty = await waitFor(async () => (await backend.inboxLengths(receiverIds)).every((n) => n === 0), 30_000, 100);

  const { figures, problems } = ledger.verify(receivers, total);
  const attempts = senders.flatMap((s) => s.attempts);
  recordFigures('faults', backend.figuresName, {
    ...figures,
    senders: SENDERS,
    recipientDevices: receivers.length,
    kills: crashes.length,
    crashes,
    sendAttempts: attempts.length,
    retriedAttempts: attempts.length - figures.envelopesAcknowledged,
    answeredReplayAlreadyAccepted: attempts.filter((a) => a.outcome === 'replay-accepted').length,
    ackLatencyMs: percentiles(attempts.filter((a) => a.outcome === 'ok').map((a) => a.ms)),
    inboxesEmptyAtEnd: inboxesEmpty,
    burstSeconds: Math.round(burstMs / 100) / 10,
  });

  expect(senders.flatMap((s) => s.fatal)).toEqual([]);
  expect(problems).toEqual([]);
  expect(figures.envelopesAcknowledged).toBe(total);
  expect(figures.recipientDeliveriesDelivered).toBe(total * 2);
  expect(figures.lost).toBe(0);
  expect(figures.duplicatesAfterDedupe).toBe(0);
  expect(figures.orderViolations).toBe(0);
  expect(inboxesEmpty).toBe(true);
  expect(crashes).toHaveLength(2);
});
