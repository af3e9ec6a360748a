/**
 * Redis killed (SIGKILL) in the middle of a burst and restarted from its
 * AOF (appendfsync always) while the relay process keeps running. Sends
 * during the outage must be answered quickly with UNAVAILABLE (no hang, no
 * crash); the relay must recover by itself; senders retry the same message
 * id; nothing is lost or duplicated. An SDK sender and receiver run through
 * the same outage next to the raw peers.
 */
import type { HandoverClient } from '../../../client/sdk/client';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { isHandoverError } from '../../../shared/errors';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { enrolClient } from '../../support/relay';
import { burstNetwork, explainInRedis, Ledger, percentiles, registerAll, signInAll } from '../support/burst';
import { recordFigures } from '../support/figures';
import { Receiver, Sender } from '../support/peers';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';
import { sleep, waitFor } from '../support/wait';

const SENDERS = 4;
const PER_SENDER = 300;
const OUTAGE_MS = 2000;
/** The relay's Redis command timeout (server/store/redis-store.ts): the longest any answer may take. */
const STORE_COMMAND_TIMEOUT_MS = 5000;

let redis: TestRedis;
let relay: RelayProcess | undefined;
const peers: Array<{ stop(): void }> = [];
const clients: HandoverClient[] = [];

afterAll(async () => {
  for (const p of peers) p.stop();
  for (const c of clients) await c.close().catch(() => undefined);
  await relay?.kill();
  await redis?.destroy();
});

async function probe(url: string, path: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(new URL(path, url));
  const json = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, ...(json.error?.code ? { code: json.error.code } : {}) };
}

it('answers UNAVAILABLE during a Redis outage, recovers by itself, and loses or duplicates nothing', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'always' });
  relay = await spawnRelay({ REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS });
  const { url } = relay;
  const fx = { url, crypto, network };

  const net = burstNetwork(network, 'outage', SENDERS, 2);
  await registerAll(url, [...net.senders, ...net.receivers]);
  const tokens = await signInAll(fx, [...net.senders, ...net.receivers]);

  // SDK pair in their own orgs.
  const sdkNgo = network.addOrg('outage-sdk-ngo', 'ngo');
  const sdkShelter = network.addOrg('outage-sdk-shelter', 'shelter');
  const sdkSender = await enrolClient(fx, sdkNgo, 'outage-sdk-sender');
  const sdkReceiver = await enrolClient(fx, sdkShelter, 'outage-sdk-receiver');
  clients.push(sdkSender, sdkReceiver);
  const sdkGot = new Map<string, number>();
  sdkReceiver.on('message', (m) => sdkGot.set(m.messageId, (sdkGot.get(m.messageId) ?? 0) + 1));

  const ledger = new Ledger();
  const recipients = net.receivers.map((d) => network.recipientKeys(d, false));
  const sealed = ledger.seal(crypto, network, net.senders, recipients, PER_SENDER, [net.shelter.orgId]);
  const total = SENDERS * PER_SENDER;
  // Sealing blocks the event loop for seconds: let idle keep-alive sockets close before the next fetch.
  await sleep(200);

  const receivers = net.receivers.map((d) => new Receiver({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId, crypto));
  peers.push(...receivers);
  for (const r of receivers) r.start();
  await Promise.all(receivers.map((r) => r.ready()));
  const senders = net.senders.map((d) => new Sender({ name: d.keys.deviceId, urls: [url], token: tokens.get(d.keys.deviceId)! }, d.keys.deviceId));
  peers.push(...senders);

  const started = Date.now();
  let burstDone = false;
  const burst = Promise.all(senders.map((s) => s.start().run(sealed.get(s.deviceId)!, (id) => ledger.ack(id)))).finally(() => (burstDone = true));

  // The SDK sender keeps sending through the outage; a send that fails is retried by the app as a new message.
  const sdkAcked: string[] = [];
  const sdkFailures: Record<string, number> = {};
  const sdkLoop = (async () => {
    for (let n = 0; !burstDone || sdkAcked.length < 20; n++) {
      try {
        const sent = await sdkSender.send({ threadId: 'QUFBQUFBQUFBQUFBQUFBQQ', orgIds: [sdkShelter.orgId], payload: { n } });
        sdkAcked.push(sent.messageId);
      } catch (err) {
        const code = isHandoverError(err) ? err.code : 'non-typed';
        sdkFailures[code] = (sdkFailures[code] ?? 0) + 1;
        await sleep(100);
      }
    }
  })();

  expect(await waitFor(() => ledger.acked.size >= total * 0.35, 120_000)).toBe(true);
  const pid = relay.pid;
  const killedAt = Date.now();
  await redis.kill();
  await sleep(OUTAGE_MS / 2);
  const duringOutage = { health: await probe(url, '/healthz'), ready: await probe(url, '/readyz'), network: await probe(url, '/v1/orgs') };
  await sleep(OUTAGE_MS / 2);
  const restartAt = Date.now();
  await redis.restart();
  const redisBackAt = Date.now();
  const recovered = await waitFor(async () => (await probe(url, '/readyz')).status === 200, 30_000, 50);
  const readyAgainAt = Date.now();
  await burst;
  await sdkLoop;

  const complete = () => ledger.deliveredFor(receivers) === ledger.expectedFor(receivers) && sdkAcked.every((id) => sdkGot.has(id));
  await waitFor(complete, 60_000, 100);
  await sleep(500);

  const { figures, problems } = ledger.verify(receivers, total);
  const attempts = senders.flatMap((s) => s.attempts);
  const inOutage = attempts.filter((a) => a.at >= killedAt && a.at < redisBackAt);
  const sdkDuplicates = [...sdkGot.values()].filter((n) => n > 1).length;
  const sdkLost = sdkAcked.filter((id) => !sdkGot.has(id)).length;
  const sdkDeliveredUnacked = [...sdkGot.keys()].filter((id) => !sdkAcked.includes(id)).length;
  const client = redis.client();
  // The SDK does not retry a failed ack; the relay delivers such envelopes again by itself.
  await waitFor(async () => (await client.xlen('ho:inbox:{outage-sdk-receiver}')) === 0, 15_000, 100);
  const sdkInboxLeft = await client.xlen('ho:inbox:{outage-sdk-receiver}');
  const rawInboxesLeft = (await Promise.all(net.receivers.map((d) => client.xlen(`ho:inbox:{${d.keys.deviceId}}`)))).reduce((a, b) => a + b, 0);
  recordFigures('faults', 'redisKilledAndRestartedMidBurst', {
    ...figures,
    envelopesSent: figures.envelopesSent + sdkAcked.length,
    envelopesAcknowledged: figures.envelopesAcknowledged + sdkAcked.length,
    recipientDeliveriesExpected: figures.recipientDeliveriesExpected + sdkAcked.length,
    recipientDeliveriesDelivered: figures.recipientDeliveriesDelivered + (sdkAcked.length - sdkLost),
    lost: figures.lost + sdkLost,
    duplicatesAfterDedupe: figures.duplicatesAfterDedupe + sdkDuplicates,
    rawPeers: { senders: SENDERS, envelopes: total, recipientDevices: receivers.length },
    sdk: { acknowledged: sdkAcked.length, lost: sdkLost, duplicates: sdkDuplicates, failedSendsRetriedAsNewMessages: sdkFailures, deliveredAlthoughSendReportedFailure: sdkDeliveredUnacked, envelopesLeftInRelayInbox: sdkInboxLeft },
    outageMs: restartAt - killedAt,
    redisRestartMs: redisBackAt - restartAt,
    relayReadyAgainAfterRedisMs: readyAgainAt - redisBackAt,
    envelopesLeftInRawInboxes: rawInboxesLeft,
    relayProcessSurvived: relay.alive() && relay.pid === pid,
    probesDuringOutage: duringOutage,
    sendAttemptsDuringOutage: inOutage.length,
    outcomesDuringOutage: inOutage.reduce<Record<string, number>>((acc, a) => ((acc[a.outcome] = (acc[a.outcome] ?? 0) + 1), acc), {}),
    answerMsDuringOutage: percentiles(inOutage.map((a) => a.ms)),
    sendAttempts: attempts.length,
    burstSeconds: Math.round((Date.now() - started) / 100) / 10,
  });

  const lostIds = [...ledger.acked].filter((id) => receivers.some((r) => !r.processed.includes(id)));
  for (const id of lostIds.slice(0, 3)) {
    const history = attempts.filter((a) => a.messageId === id).map((a) => ({ ...a, at: a.at - killedAt }));
    console.error('LOST', id, JSON.stringify({ history, redis: await explainInRedis(client, id, net.receivers.map((d) => d.keys.deviceId)), raw: receivers.map((r) => r.rawById.get(id) ?? 0) }));
  }
  expect(relay.alive()).toBe(true);
  expect(relay.pid).toBe(pid);
  expect(recovered).toBe(true);
  expect(duringOutage.health.status).toBe(200);
  expect(duringOutage.ready).toEqual({ status: 503, code: 'UNAVAILABLE' });
  expect(duringOutage.network).toEqual({ status: 503, code: 'UNAVAILABLE' });
  // Every send during the outage got an answer (no silent hang), and quickly.
  expect(inOutage.filter((a) => a.outcome === 'UNAVAILABLE').length).toBeGreaterThan(0);
  expect(inOutage.filter((a) => a.outcome === 'lost')).toEqual([]);
  expect(Math.max(...inOutage.map((a) => a.ms))).toBeLessThan(STORE_COMMAND_TIMEOUT_MS);
  expect(senders.flatMap((s) => s.fatal)).toEqual([]);
  expect(problems).toEqual([]);
  expect(figures.envelopesAcknowledged).toBe(total);
  expect(figures.lost).toBe(0);
  expect(figures.duplicatesAfterDedupe).toBe(0);
  expect(figures.orderViolations).toBe(0);
  expect(sdkAcked.length).toBeGreaterThan(0);
  expect(sdkLost).toBe(0);
  expect(sdkDuplicates).toBe(0);
  expect(sdkInboxLeft).toBe(0);
  expect(rawInboxesLeft).toBe(0);
});
