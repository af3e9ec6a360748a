/**
 * History stays readable after certificates move on: a referral received
 * while its sender org was certified is still applied on the receiving
 * device after that org's certificate expired or the org was revoked (the
 * replay uses the type the root certified, from the pinned certificate),
 * while a new referral to such an org is refused.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService } from '../../client/referral/cases/case-service';
import type { HandoverClient } from '../../client/sdk/client';
import { ROUTES } from '../../shared/api';
import { loadCrypto } from '../../shared/crypto/sodium';
import { ReferralBody } from '../../client/referral/domain/schemas';
import { DAY, TestNetwork } from '../support/network';
import { type RelayFixture, enrolClient, eventually, postJson, startTestRelay } from '../support/relay';

let fx: RelayFixture;
const clients: HandoverClient[] = [];
beforeAll(async () => {
  fx = await startTestRelay(new TestNetwork(await loadCrypto(), Date.now()), { logLevel: 'silent' });
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await fx.close();
});

it('a referral stays applied on the receiving device after the sender org is revoked and its certificate has expired', async () => {
  const network = fx.network;
  let shelterClock = Date.now();
  const ngoOrg = network.addOrg('ngo-taraz', 'ngo', { expiresAt: Date.now() + 30 * DAY });
  const ngoClient = await enrolClient(fx, ngoOrg, 'dana');
  const shelterClient = await enrolClient(fx, network.addOrg('shelter-ist', 'shelter'), 'amina', { now: () => shelterClock });
  clients.push(ngoClient, shelterClient);
  const ngo = new CaseService({ transport: ngoClient, crypto: fx.crypto });
  const shelter = new CaseService({ transport: shelterClient, crypto: fx.crypto, now: () => shelterClock });
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'examples/referral.json'), 'utf8')));
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  const { threadId } = await ngo.refer(body);
  await eventually(async () => (await shelter.thread(threadId)).status === 'sent', 10_000, 'referral received');

  expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeOrg(ngoOrg) })).status).toBe(201);
  shelterClock += 31 * DAY; // the NGO's certificate has also run out
  await shelterClient.trust.refresh().catch(() => undefined);
  const thread = await shelter.thread(threadId);
  expect(thread.rejected).toEqual([]);
  expect(thread.referral?.identity.caseCode).toBe(body.identity.caseCode);
  // A new disclosure to the revoked, expired org is refused.
  await expect(shelter.addParticipant(threadId, { orgId: 'ngo-taraz', purpose: 'services' })).rejects.toMatchObject({ code: expect.stringMatching(/UNTRUSTED_KEY|WRONG_PARTY|INVALID_EVENT/) });
  ngo.dispose();
  shelter.dispose();
});
