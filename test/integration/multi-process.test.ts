/**
 * Two relay processes sharing one Redis (Socket.IO Redis adapter): live
 * delivery across processes, offline delivery through the other process,
 * and a graceful SIGTERM.
 */
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import type { HandoverClient } from '../../client/sdk/client';
import { TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually } from '../support/relay';
import { type RelayProcess, spawnRelay } from '../support/relay-process';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';

let redis: TestRedis;
let a: RelayProcess;
let b: RelayProcess;
let network: TestNetwork;
const clients: HandoverClient[] = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'always' });
  const env = { REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey) };
  [a, b] = await Promise.all([spawnRelay(env), spawnRelay(env)]);
}, 60_000);
afterAll(async () => {
  if (process.env.DEBUG_MP) console.log(a?.output.join("\n"), "\n----\n", b?.output.join("\n"));
  for (const c of clients) await c.close();
  await Promise.all([a?.kill(), b?.kill()]);
  await redis?.destroy();
});

const crypto = () => network.crypto;

it('delivers live from a device on process A to a device on process B', async () => {
  const ngo = network.addOrg('ngo-a', 'ngo');
  const shelter = network.addOrg('shelter-b', 'shelter');
  const sender = await enrolClient({ url: a.url, crypto: crypto(), network }, ngo, 'a-sender');
  const receiver = await enrolClient({ url: b.url, crypto: crypto(), network }, shelter, 'b-receiver');
  clients.push(sender, receiver);
  const got: unknown[] = [];
  receiver.on('message', (m) => got.push(m.payload));
  await sender.send({ threadId: THREAD, orgIds: ['shelter-b'], payload: { n: 1 } });
  await eventually(() => got.length === 1, 10_000, 'cross-process delivery');
  expect(got).toEqual([{ n: 1 }]);
});

it('holds messages sent through A for an offline device that later connects to B', async () => {
  const ngo = network.addOrg('ngo-c', 'ngo');
  const shelter = network.addOrg('shelter-d', 'shelter');
  const sender = await enrolClient({ url: a.url, crypto: crypto(), network }, ngo, 'c-sender');
  const receiver = await enrolClient({ url: b.url, crypto: crypto(), network }, shelter, 'd-receiver', { connect: false });
  clients.push(sender, receiver);
  for (let n = 0; n < 5; n++) await sender.send({ threadId: THREAD, orgIds: ['shelter-d'], payload: { n } });
  const got: number[] = [];
  receiver.on('message', (m) => got.push((m.payload as { n: number }).n));
  await receiver.connect();
  await receiver.sync();
  await eventually(() => got.length === 5, 10_000, 'offline delivery');
  expect(got).toEqual([0, 1, 2, 3, 4]);
});

it('shuts down gracefully on SIGTERM with exit code 0', async () => {
  expect(await b.stop()).toBe(0);
  expect(b.output.join('\n')).toContain('relay stopped');
});
