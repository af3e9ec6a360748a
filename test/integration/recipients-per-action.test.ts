/**
 * Recipients are resolved once per action, not per message (issue 12): a
 * referral with a coordinator whose consent withholds a group (so the
 * create goes with a supplement) fetches each org's bundles once, and so
 * spends one one-time prekey per recipient device, not one per message.
 * Counted on the wire, through a proxy in front of the relay.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService, ReferralBody } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk';
import { loadCrypto } from '../../shared/crypto/sodium';
import { TestNetwork } from '../support/network';
import { HostileRelay } from '../support/hostile-relay';
import { type RelayFixture, enrolClient, eventually, startTestRelay } from '../support/relay';

let fx: RelayFixture;
let proxy: HostileRelay;
const clients: HandoverClient[] = [];
beforeAll(async () => {
  fx = await startTestRelay(new TestNetwork(await loadCrypto(), Date.now()), { logLevel: 'silent' });
  proxy = await HostileRelay.start(fx.url);
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await proxy.close();
  await fx.close();
});

it('a referral with a supplement fetches each org’s bundles once and spends one one-time prekey per device', async () => {
  const net = fx.network;
  const ngo = await enrolClient({ url: proxy.url, crypto: fx.crypto, network: net }, net.addOrg('ngo-taraz', 'ngo'), 'dana');
  const shelter = await enrolClient(fx, net.addOrg('shelter-ist', 'shelter'), 'amina');
  const iom = await enrolClient(fx, net.addOrg('iom-ist', 'iom'), 'emre');
  clients.push(ngo, shelter, iom);
  const before = await fx.relay.store.countOneTimePrekeys(shelter.deviceId);
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')));
  const cases = new CaseService({ transport: ngo });
  const fetchesBefore = proxy.exchanges.filter((e) => /\/bundles$/.test(e.path)).length;

  const sent = await cases.refer(body); // the example consent withholds health needs from IOM: a supplement goes to the shelter
  expect(sent.recipients.map((r) => [r.orgId, r.withheld])).toEqual([
    ['shelter-ist', []],
    ['iom-ist', ['healthNeeds']],
  ]);
  const fetches = proxy.exchanges.filter((e) => /\/bundles$/.test(e.path)).slice(fetchesBefore).map((e) => e.path.split('/')[3]);
  expect(fetches.sort()).toEqual(['iom-ist', 'ngo-taraz', 'shelter-ist']);
  // Two envelopes reached the shelter device, but only the first used a one-time prekey.
  expect(await fx.relay.store.countOneTimePrekeys(shelter.deviceId)).toBe(before - 1);
  const shelterCases = new CaseService({ transport: shelter });
  await eventually(async () => (await shelterCases.thread(sent.threadId)).referral?.healthNeeds !== undefined, 10_000, 'the supplement at the shelter');
  cases.dispose();
  shelterCases.dispose();
});
