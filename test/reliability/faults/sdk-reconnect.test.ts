/**
 * Once a known gap in the SDK (docs/RELIABILITY.md, "Findings"): a reconnect
 * refused while Redis restarts left the client offline. Every reconnect now
 * starts with a fresh socket ticket over HTTP (UNAVAILABLE while Redis is
 * down), and HandoverClient's own reconnect loop keeps trying with backoff,
 * honouring retryAfterMs, so it is back online once the relay has recovered.
 */
import type { HandoverClient } from '../../../client/sdk/client';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import { TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { enrolClient } from '../../support/relay';
import { noDeliveries, recordFigures } from '../support/figures';
import { cutConnection, type PeerSocket } from '../support/peers';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';
import { sleep, waitFor } from '../support/wait';

let redis: TestRedis;
let relay: RelayProcess | undefined;
let client: HandoverClient | undefined;
let reconnected: boolean | undefined;

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await relay?.kill();
  await redis?.destroy();
  recordFigures('faults', 'sdkReconnectAfterRefusal', {
    ...noDeliveries(),
    sdkReconnectedWithin10sAfterRecovery: reconnected ?? null,
  });
});

let wentOffline = false;
let relayRecovered = false;
let connected = true;

beforeAll(async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'everysec' });
  relay = await spawnRelay({ REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS });
  client = await enrolClient({ url: relay.url, crypto, network }, network.addOrg('rc-ngo'), 'rc-device');
  client.on('connection', (state) => (connected = state === 'connected'));

  await redis.kill();
  // The network drops the client's connection while Redis is down: its reconnect meets the refusal.
  cutConnection((client as unknown as { socket: PeerSocket }).socket);
  await sleep(1500);
  wentOffline = !connected;
  await redis.restart();
  relayRecovered = await waitFor(async () => (await fetch(new URL('/readyz', relay!.url))).status === 200, 20_000, 100);
});

it('(precondition) the client went offline during the outage and the relay recovered by itself', () => {
  expect(wentOffline).toBe(true);
  expect(relayRecovered).toBe(true);
});

it('an SDK client refused with UNAVAILABLE while Redis restarts reconnects once the relay has recovered', async () => {
  // The SDK's backoff tops out at 5 s: 10 s is plenty for a client that retries.
  reconnected = await waitFor(() => connected, 10_000, 100);
  expect(reconnected).toBe(true);
});
