/**
 * Connections cut mid-delivery, many times: raw receivers drop their TCP
 * connection on every 25th delivery (alternately before processing it and
 * after processing but before the ack), senders drop theirs right after
 * emitting every 40th envelope (0, 5 or 10 ms later: before the relay's
 * answer, sometimes before the envelope even left), and an SDK
 * receiver has its connection cut every 700 ms (up to 40 times) while it
 * works through the burst. End state: every acknowledged envelope processed exactly once by
 * every recipient device (SDK: one `message` event per id), in per-sender
 * order, and every inbox empty.
 */
import type { HandoverClient } from '../../../client/sdk/client';
import type { FailedMessage } from '../../../client/sdk/messages';
import { ROUTES } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { verifyBundle } from '../../../shared/device-keys';
import { toB64u } from '../../../shared/encoding';
import type { DeviceBundle } from '../../../shared/schemas';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { enrolClient, getJson } from '../../support/relay';
import { burstNetwork, Ledger, registerAll, signInAll } from '../support/burst';
import { recordFigures } from '../support/figures';
import { cutConnection, type PeerSocket, Receiver, Sender } from '../support/peers';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';
import { sleep, waitFor } from '../support/wait';

const SENDERS = 3;
const PER_SENDER = 300;
const RECEIVER_CUT_EVERY = 25;
const SENDER_CUT_EVERY = 40;
const SDK_CUT_INTERVAL_MS = 700;
const SDK_MAX_CUTS = 40;

let redis: TestRedis;
let relay: RelayProcess | undefined;
const peers: Array<{ stop(): void }> = [];
let sdkClient: HandoverClient | undefined;

afterAll(async () => {
  for (const p of peers) p.stop();
  await sdkClient?.close().catch(() => undefined);
  await relay?.kill();
  await redis?.destroy();
});

it('loses and duplicates nothing while connections are cut before acks, over and over', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  // The faults here are in the network, not in storage: everysec keeps the run short.
  redis = await startRedis({ appendfsync: 'everysec' });
  relay = await spawnRelay({ REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS });
  const { url } = relay;
  const fx = { url, crypto, network };

  const net = burstNetwork(network, 'cut', SENDERS, 2);
  await registerAll(url, [...net.senders, ...net.receivers]);
  const tokens = await signInAll(fx, [...net.senders, ...net.receivers]);
  // A third shelter device runs the SDK; the raw senders seal to its registered bundle.
  const sdk = await enrolClient(fx, net.shelter, 'cut-sdk');
  sdkClient = sdk;
  const bundles = (await getJson(url, ROUTES.bundles(net.shelter.orgId), tokens.get(net.senders[0]!.keys.deviceId))).json as { bundles: DeviceBundle[] };
  const sdkBundle = bundles.bundles.find((b) => b.certificate.deviceId === sdk.deviceId)!;
  const { oneTimePrekey: _unused, ...lastResort } = sdkBundle;
  const sdkKeys = verifyBundle(network.anchor, net.shelter.certificate, lastResort, { now: Date.now() });

  const ledger = new Ledger();
  const recipients = [...net.receivers.map((d) => network.recipientKeys(d, false)), sdkKeys];
  const sealed = ledger.seal(crypto, network, net.senders, recipients, PER_SENDER, [net.shelter.orgId]);
  const total = SENDERS * PER_SENDER;
  await sleep(200); // sealing blocked the event loop: let idle keep-alive sockets close first

  const sdkProcessed: string[] = [];
  const sdkFailed: FailedMessage[] = [];
  sdk.on('message', (m) => sdkProcessed.push(m.messageId));
  sdk.on('failed', (f) => sdkFailed.push(f));

  const receivers = net.receivers.map((d) => new Receiver({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId, crypto));
  for (const r of receivers) {
    let n = 0;
    r.cutPolicy = () => {
      n++;
      if (n % RECEIVER_CUT_EVERY !== 0) return undefined;
      return (n / RECEIVER_CUT_EVERY) % 2 === 0 ? 'before-processing' : 'before-ack';
    };
  }
  const senders = net.senders.map((d) => new Sender({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId));
  for (const s of senders) {
    let n = 0;
    s.cutAfterEmit = () => (++n % SENDER_CUT_EVERY === 0 ? ((n / SENDER_CUT_EVERY) % 3) * 5 : undefined);
  }
  peers.push(...receivers, ...senders);
  for (const r of receivers) r.start();
  await Promise.all(receivers.map((r) => r.ready()));

  let sdkCuts = 0;
  let burstDone = false;
  const sdkCutter = setInterval(() => {
    const socket = (sdk as unknown as { socket?: PeerSocket }).socket;
    if (!burstDone && sdkCuts < SDK_MAX_CUTS && socket?.connected) {
      sdkCuts++;
      cutConnection(socket);
    }
  }, SDK_CUT_INTERVAL_MS);

  const started = Date.now();
  await Promise.all(senders.map((s) => s.start().run(sealed.get(s.deviceId)!, (id) => ledger.ack(id))));
  const sdkView = { deviceId: sdk.deviceId, processed: sdkProcessed, rawDeliveries: 0, corrupt: 0 };
  const all = [...receivers, sdkView];
  // Keep cutting the SDK until it has worked through at least half of the burst.
  await waitFor(() => new Set(sdkProcessed).size >= total / 2, 60_000, 50);
  burstDone = true;
  clearInterval(sdkCutter);
  await waitFor(() => ledger.deliveredFor(all) === ledger.expectedFor(all), 90_000, 100);
  await sleep(500);
  const client = redis.client();
  const inboxIds = [...net.receivers.map((d) => d.keys.deviceId), sdk.deviceId];
  const inboxesEmpty = await waitFor(async () => (await Promise.all(inboxIds.map((id) => client.xlen(`ho:inbox:{${id}}`)))).every((n) => n === 0), 20_000, 100);

  sdkView.rawDeliveries = sdkProcessed.length;
  const { figures, problems } = ledger.verify(all, total);
  const receiverCuts = receivers.reduce((n, r) => n + r.cuts, 0);
  const senderCuts = senders.reduce((n, s) => n + s.sendCuts, 0);
  recordFigures('faults', 'connectionsCutBeforeAck', {
    ...figures,
    recipientDevices: { raw: receivers.length, sdk: 1 },
    cuts: { total: receiverCuts + senderCuts + sdkCuts, receiversBeforeAck: receiverCuts, sendersBeforeAnswer: senderCuts, sdkReceiver: sdkCuts },
    sdkFailedToOpen: sdkFailed.length,
    sendAttempts: senders.reduce((n, s) => n + s.attempts.length, 0),
    answeredReplayAlreadyAccepted: senders.reduce((n, s) => n + s.attempts.filter((a) => a.outcome === 'replay-accepted').length, 0),
    inboxesEmptyAtEnd: inboxesEmpty,
    burstSeconds: Math.round((Date.now() - started) / 100) / 10,
  });

  expect(senders.flatMap((s) => s.fatal)).toEqual([]);
  expect(sdkFailed).toEqual([]);
  expect(problems).toEqual([]);
  expect(figures.envelopesAcknowledged).toBe(total);
  expect(figures.recipientDeliveriesDelivered).toBe(total * 3);
  expect(figures.lost).toBe(0);
  expect(figures.duplicatesAfterDedupe).toBe(0);
  expect(figures.orderViolations).toBe(0);
  expect(receiverCuts + senderCuts + sdkCuts).toBeGreaterThanOrEqual(100);
  expect(inboxesEmpty).toBe(true);
});
