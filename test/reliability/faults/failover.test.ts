/**
 * Two relay processes behind two URLs on one Redis (AOF, appendfsync
 * always); relay A is killed with SIGKILL mid-burst. Raw peers hold both
 * URLs and move to B after three failed connects; SDK clients (which take
 * one URL) are reopened by the app on B over the same local storage. End
 * state: every acknowledged envelope processed exactly once by every
 * recipient device, in per-sender order, and every inbox empty.
 */
import { HandoverClient } from '../../../client/sdk/client';
import { MemoryStorage } from '../../../client/sdk/storage';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { isHandoverError } from '../../../shared/errors';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { enrolClient } from '../../support/relay';
import { burstNetwork, Ledger, percentiles, registerAll, signInAll } from '../support/burst';
import { recordFigures } from '../support/figures';
import { Receiver, Sender } from '../support/peers';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';
import { sleep, waitFor } from '../support/wait';

const SENDERS = 4;
const PER_SENDER = 250;
const SDK_MIN_MESSAGES = 40;
const PASSPHRASE = 'correct horse battery staple'; // the one enrolClient uses

let redis: TestRedis;
const relays: RelayProcess[] = [];
const peers: Array<{ stop(): void }> = [];
const sdkClients: HandoverClient[] = [];

afterAll(async () => {
  for (const p of peers) p.stop();
  for (const c of sdkClients) await c.close().catch(() => undefined);
  for (const r of relays) if (r.alive()) await r.kill();
  await redis?.destroy();
});

/** One SDK device whose app reopens it on the surviving relay when its connection drops. */
class SdkDevice {
  client!: HandoverClient;
  reopened = 0;
  private lost = false;
  /** Resolves when the current client's connection drops. */
  dropped!: Promise<void>;
  private onDrop: () => void = () => undefined;
  readonly got = new Map<string, number>();

  constructor(
    readonly deviceId: string,
    readonly storage: MemoryStorage,
    private readonly crypto: Awaited<ReturnType<typeof loadCrypto>>,
  ) {}

  adopt(client: HandoverClient): void {
    this.client = client;
    this.dropped = new Promise((resolve) => (this.onDrop = resolve));
    sdkClients.push(client);
    client.on('message', (m) => this.got.set(m.messageId, (this.got.get(m.messageId) ?? 0) + 1));
    client.on('connection', (state) => {
      if (state === 'disconnected' && this.client === client) {
        this.lost = true;
        this.onDrop();
      }
    });
  }

  get needsFailover(): boolean {
    return this.lost;
  }

  /** What an app does today: close the dead client, open the same profile against the other URL. */
  async failover(url: string): Promise<void> {
    this.lost = false;
    const old = this.client;
    await old.close();
    const client = await HandoverClient.open({ crypto: this.crypto, storage: this.storage, passphrase: PASSPHRASE, serverUrl: url, ackTimeoutMs: 3000, pwhashLimits: PWHASH_TEST_ONLY });
    this.adopt(client);
    await client.connect();
    this.reopened++;
  }
}

it('delivers everything through relay B after relay A is killed mid-burst', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'always' });
  const env = { REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS };
  const [a, b] = await Promise.all([spawnRelay(env), spawnRelay(env)]);
  relays.push(a, b);

  // SDK devices: the sender and one receiver on A, another receiver on B.
  const sdkNgo = network.addOrg('fo-sdk-ngo', 'ngo');
  const sdkShelter = network.addOrg('fo-sdk-shelter', 'shelter');
  const sdk = {
    sender: new SdkDevice('fo-sdk-ngo:fo-sdk-sender', new MemoryStorage(), crypto),
    onA: new SdkDevice('fo-sdk-shelter:fo-sdk-r-a', new MemoryStorage(), crypto),
    onB: new SdkDevice('fo-sdk-shelter:fo-sdk-r-b', new MemoryStorage(), crypto),
  };
  sdk.sender.adopt(await enrolClient({ url: a.url, crypto, network }, sdkNgo, sdk.sender.deviceId, { storage: sdk.sender.storage }));
  sdk.onA.adopt(await enrolClient({ url: a.url, crypto, network }, sdkShelter, sdk.onA.deviceId, { storage: sdk.onA.storage }));
  sdk.onB.adopt(await enrolClient({ url: b.url, crypto, network }, sdkShelter, sdk.onB.deviceId, { storage: sdk.onB.storage }));

  // Raw peers: half prefer A, half prefer B; all know both URLs.
  const net = burstNetwork(network, 'fo', SENDERS, 2);
  await registerAll(a.url, [...net.senders, ...net.receivers]);
  const tokens = await signInAll({ url: a.url, crypto, network }, [...net.senders, ...net.receivers]);
  const ledger = new Ledger();
  const recipients = net.receivers.map((d) => network.recipientKeys(d, false));
  const sealed = ledger.seal(crypto, network, net.senders, recipients, PER_SENDER, [net.shelter.orgId]);
  const total = SENDERS * PER_SENDER;
  await sleep(200); // sealing blocked the event loop: let idle keep-alive sockets close first
  const urlsFor = (i: number) => (i % 2 === 0 ? [a.url, b.url] : [b.url, a.url]);
  const receivers = net.receivers.map((d, i) => new Receiver({ name: d.keys.deviceId, urls: urlsFor(i), token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId, crypto));
  const senders = net.senders.map((d, i) => new Sender({ name: d.keys.deviceId, urls: urlsFor(i), token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId));
  peers.push(...receivers, ...senders);
  for (const r of receivers) r.start();
  await Promise.all(receivers.map((r) => r.ready()));

  const started = Date.now();
  let rawDone = false;
  const burst = Promise.all(senders.map((s) => s.start().run(sealed.get(s.deviceId)!, (id) => ledger.ack(id)))).finally(() => (rawDone = true));

  // The SDK sender: a send whose outcome the kill made unknown is abandoned, not counted.
  const sdkAcked: string[] = [];
  let sdkUnknownOutcome = 0;
  const sdkErrors: Record<string, number> = {};
  const sdkLoop = (async () => {
    for (let n = 0; !rawDone || sdkAcked.length < SDK_MIN_MESSAGES; n++) {
      if (sdk.sender.needsFailover) await sdk.sender.failover(b.url);
      const sending = sdk.sender.client.send({ threadId: 'Rk9GT0ZPRk9GT0ZPRk9GTw', orgIds: [sdkShelter.orgId], payload: { n } });
      sending.catch(() => undefined);
      const outcome = await Promise.race([
        sending.then((m) => m.messageId, (err: unknown) => ({ err })),
        sdk.sender.dropped.then(() => 'failover' as const),
      ]);
      if (outcome === 'failover') sdkUnknownOutcome++;
      else if (typeof outcome === 'string') sdkAcked.push(outcome);
      else {
        const code = isHandoverError(outcome.err) ? outcome.err.code : 'non-typed';
        sdkErrors[code] = (sdkErrors[code] ?? 0) + 1;
        await sleep(100);
      }
    }
  })();
  // The app on the receiving device on A reopens it on B when its connection drops.
  const receiverWatch = sdk.onA.dropped.then(() => sdk.onA.failover(b.url));

  expect(await waitFor(() => ledger.acked.size >= total * 0.4 && sdkAcked.length >= 10, 120_000)).toBe(true);
  const atAcked = ledger.acked.size;
  const killedAt = Date.now();
  await a.kill();
  await burst;
  await sdkLoop;
  await receiverWatch;

  const sdkReceivers = [sdk.onA, sdk.onB];
  const complete = () =>
    ledger.deliveredFor(receivers) === ledger.expectedFor(receivers) && sdkReceivers.every((d) => sdkAcked.every((id) => d.got.has(id)));
  await waitFor(complete, 60_000, 100);
  await sleep(500);
  const client = redis.client();
  const inboxIds = [...net.receivers.map((d) => d.keys.deviceId), sdk.onA.deviceId, sdk.onB.deviceId];
  const inboxesEmpty = await waitFor(async () => (await Promise.all(inboxIds.map((id) => client.xlen(`ho:inbox:{${id}}`)))).every((n) => n === 0), 20_000, 100);

  const { figures, problems } = ledger.verify(receivers, total);
  const sdkLost = sdkReceivers.reduce((n, d) => n + sdkAcked.filter((id) => !d.got.has(id)).length, 0);
  const sdkDuplicates = sdkReceivers.reduce((n, d) => n + [...d.got.values()].reduce((k, c) => k + (c - 1), 0), 0);
  const attempts = senders.flatMap((s) => s.attempts);
  const firstAckAfterKill = attempts.filter((x) => x.at >= killedAt && x.outcome === 'ok').sort((x, y) => x.at - y.at)[0];
  const sdkDeliveredUnknown = new Set(sdkReceivers.flatMap((d) => [...d.got.keys()].filter((id) => !sdkAcked.includes(id)))).size;
  recordFigures('faults', 'twoRelaysOneKilled', {
    ...figures,
    envelopesSent: figures.envelopesSent + sdkAcked.length + sdkUnknownOutcome,
    envelopesAcknowledged: figures.envelopesAcknowledged + sdkAcked.length,
    recipientDeliveriesExpected: figures.recipientDeliveriesExpected + sdkAcked.length * 2,
    recipientDeliveriesDelivered: figures.recipientDeliveriesDelivered + sdkAcked.length * 2 - sdkLost,
    lost: figures.lost + sdkLost,
    duplicatesAfterDedupe: figures.duplicatesAfterDedupe + sdkDuplicates,
    rawPeers: { senders: SENDERS, envelopes: total, recipientDevices: receivers.length, failovers: [...senders, ...receivers].reduce((n, p) => n + p.stats.failovers, 0) },
    sdk: {
      acknowledged: sdkAcked.length,
      recipientDevices: 2,
      sendOutcomeUnknownAtKill: sdkUnknownOutcome,
      ofWhichDeliveredAnyway: sdkDeliveredUnknown,
      sendErrorsRetriedAsNewMessages: sdkErrors,
      clientsReopenedOnB: sdk.sender.reopened + sdk.onA.reopened,
      lost: sdkLost,
      duplicates: sdkDuplicates,
    },
    killedAtAcknowledged: atAcked,
    firstAckAfterKillMs: firstAckAfterKill ? firstAckAfterKill.at + firstAckAfterKill.ms - killedAt : null,
    ackLatencyMs: percentiles(attempts.filter((x) => x.outcome === 'ok').map((x) => x.ms)),
    inboxesEmptyAtEnd: inboxesEmpty,
    burstSeconds: Math.round((Date.now() - started) / 100) / 10,
  });

  expect(b.alive()).toBe(true);
  expect(senders.flatMap((s) => s.fatal)).toEqual([]);
  expect(problems).toEqual([]);
  expect(figures.envelopesAcknowledged).toBe(total);
  expect(figures.lost).toBe(0);
  expect(figures.duplicatesAfterDedupe).toBe(0);
  expect(figures.orderViolations).toBe(0);
  expect(sdk.onA.reopened).toBe(1);
  expect(sdkAcked.length).toBeGreaterThanOrEqual(SDK_MIN_MESSAGES);
  expect(sdkLost).toBe(0);
  expect(sdkDuplicates).toBe(0);
  expect(inboxesEmpty).toBe(true);
});
