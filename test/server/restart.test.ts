/**
 * A relay on the embedded store (the default without REDIS_URL), run as the
 * real process: stopped (SIGTERM) and crashed (kill -9), then started again
 * on the same data folder. Orgs, devices, prekeys, sessions and queued
 * envelopes are all still there, and the queued envelopes are delivered.
 */
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import type { HandoverClient } from '../../client/sdk/client';
import type { StoredMessage } from '../../client/sdk/messages';
import { TestNetwork } from '../support/network';
import { enrolClient, eventually, getJson, registerTestDevice, signInTestDevice, socketTicket } from '../support/relay';
import { type RelayProcess, spawnRelay } from '../support/relay-process';

const THREAD = 'RRRRRRRRRRRRRRRRRRRRRA';

let relay: RelayProcess | undefined;
const clients: HandoverClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await relay?.close();
});

it('keeps orgs, devices, prekeys, sessions and queued envelopes across a stop and a kill -9, and delivers them after', async () => {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  relay = await spawnRelay({ HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey) });
  expect(relay.output.join('\n')).toMatch(/"store":"embedded"/);
  const fx = () => ({ url: relay!.url, crypto, network });

  const ngo = network.addOrg('ngo-taraz', 'ngo');
  const shelter = network.addOrg('shelter-ist', 'shelter');
  const sender = await enrolClient(fx(), ngo, 'ngo-dana');
  const receiver = await enrolClient(fx(), shelter, 'shelter-amina', { connect: false });
  clients.push(sender, receiver);
  // A device the test holds the keys of: its session token and prekey count are checked by hand.
  const watcher = network.addDevice(shelter, 'shelter-watch', { oneTimePrekeys: 5 });
  expect((await registerTestDevice(relay.url, watcher)).status).toBe(201);
  const token = await signInTestDevice(fx(), watcher);

  const first = await sender.send({ threadId: THREAD, orgIds: ['shelter-ist'], payload: { n: 1 } });
  // Sending to shelter-ist took one of the watcher's one-time prekeys.
  const prekeysBefore = (await getJson(relay.url, ROUTES.prekeyStatus, token)).json;
  expect(prekeysBefore).toEqual({ oneTimePrekeys: 4, signedPrekeyId: expect.any(Number) });
  await sender.close();

  // Graceful stop, start again on the same folder.
  expect(await relay.stop()).toBe(0);
  relay = await relay.restart();
  // The session from before the restart is still good (the directory needs one).
  const listing = await getJson(relay.url, ROUTES.orgs, token);
  expect(listing.status).toBe(200);
  const directory = listing.json as { orgs: Array<{ certificate: { orgId: string }; devices: Array<{ deviceId: string }> }> };
  expect(directory.orgs.map((o) => o.certificate.orgId)).toEqual(['ngo-taraz', 'shelter-ist']);
  expect(directory.orgs.flatMap((o) => o.devices.map((d) => d.deviceId)).sort()).toEqual(['ngo-taraz:ngo-dana', 'shelter-ist:shelter-amina', 'shelter-ist:shelter-watch']);
  // It still opens a socket; the prekeys are the ones left.
  await expect(socketTicket(relay.url, token)).resolves.toMatchObject({ ticket: expect.any(String) });
  expect((await getJson(relay.url, ROUTES.prekeyStatus, token)).json).toEqual(prekeysBefore);

  await sender.connect();
  const second = await sender.send({ threadId: THREAD, orgIds: ['shelter-ist'], payload: { n: 2 } });
  // A crash this time: what the relay acknowledged must survive it too.
  await relay.kill();
  relay = await relay.restart();

  const got: StoredMessage[] = [];
  receiver.on('message', (m) => got.push(m));
  await receiver.connect();
  await receiver.sync();
  await eventually(() => got.length === 2, 15_000, 'both queued envelopes delivered after the restarts');
  expect(got.map((m) => [m.messageId, m.payload])).toEqual([
    [first.messageId, { n: 1 }],
    [second.messageId, { n: 2 }],
  ]);
}, 90_000);
