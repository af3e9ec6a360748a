/**
 * Case continuity (issue 13), end to end on a real relay and a real
 * redis-server with real SDK clients and case layers: a shelter device
 * enrolled after the referral arrived gets the whole case from its
 * colleague and can act on it; IOM, added to the thread later, gets
 * exactly what the consent lets an IOM office see (the withheld health
 * needs never reach its storage) and can act; a purged thread is never
 * re-shared; a forwarder that alters an original envelope is refused.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService, ReferralBody } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk';
import { MemoryStorage } from '../../client/sdk/storage';
import { historyItem } from '../../client/sdk/history';
import { loadCrypto } from '../../shared/crypto/sodium';
import { fromB64u, toB64u } from '../../shared/encoding';
import { TestNetwork } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { type RelayFixture, enrolClient, eventually, startTestRelay } from '../support/relay';

const HEALTH_MARKER = 'Untreated cut on the left hand';
let redis: TestRedis;
let fx: RelayFixture;
const open: Array<{ client: HandoverClient; cases: CaseService }> = [];

beforeAll(async () => {
  redis = await startRedis();
  fx = await startTestRelay(new TestNetwork(await loadCrypto(), Date.now()), { redisUrl: redis.url, logLevel: 'silent' });
});
afterAll(async () => {
  for (const p of open) {
    p.cases.dispose();
    await p.client.close();
  }
  await fx.close();
  await redis.destroy();
});

async function party(org: ReturnType<TestNetwork['addOrg']>, name: string, storage = new MemoryStorage()) {
  const client = await enrolClient(fx, org, name, { storage });
  const cases = new CaseService({ transport: client });
  await cases.start();
  const p = { client, cases, storage };
  open.push(p);
  return p;
}

function referralToShelterOnly(): ReferralBody {
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(__dirname, '../../examples/referral.json'), 'utf8')));
  body.header.coordinators = []; // IOM joins later
  return body;
}

it('a new shelter device gets the whole case and acts; IOM added later sees what consent allows; purged threads stay purged; forged history is refused', async () => {
  const net = fx.network;
  const shelterOrg = net.addOrg('shelter-ist', 'shelter');
  const iomOrg = net.addOrg('iom-ist', 'iom');
  const ngo = await party(net.addOrg('ngo-taraz', 'ngo'), 'dana');
  const amina = await party(shelterOrg, 'amina');
  const iom = await party(iomOrg, 'emre');

  // The referral arrives at the shelter's only device; the shelter accepts and writes a note.
  const sent = await ngo.cases.refer(referralToShelterOnly());
  const { threadId } = sent;
  await eventually(async () => (await amina.cases.thread(threadId)).status === 'sent', 15_000, 'the referral at the shelter');
  await amina.cases.accept(threadId, { bedReserved: true });
  await amina.cases.note(threadId, 'Room 4 is ready');
  await eventually(async () => (await ngo.cases.thread(threadId)).status === 'accepted', 15_000, 'the accept at the NGO');

  // The night shift's device is enrolled afterwards: it holds nothing of the case yet.
  const bora = await party(shelterOrg, 'bora');
  expect(await bora.client.threadIds()).toEqual([]);
  const progress: Array<{ received: number; total: number }> = [];
  bora.client.on('history', (p) => progress.push(p));
  // Amina's device sees its new colleague on its next sign-in and shares what it holds.
  await amina.client.trust.refresh();
  const shared = await amina.client.shareWithNewColleagues();
  expect(shared.devices).toEqual([bora.client.deviceId]);
  // Every shared message has arrived (they may come in any order; the note is the last one sent).
  await eventually(async () => (await bora.cases.thread(threadId)).timeline.length === 3, 15_000, 'the case on the new device');
  const atBora = await bora.cases.thread(threadId);
  expect(atBora.referralId).toBe(sent.referralId);
  expect(atBora.referral?.healthNeeds?.immediateMedicalNeeds).toContain('Untreated cut'); // the shelter may see them: its supplement came too
  expect(atBora.timeline.map((t) => t.type)).toEqual(['referral.create', 'referral.accept', 'note']);
  expect(atBora.rejected).toEqual([]);
  expect(atBora.dropped).toEqual([]);
  await eventually(() => progress.at(-1)?.received === shared.messages, 5000, 'the transfer progress');
  expect(progress.at(-1)).toMatchObject({ received: shared.messages, total: shared.messages });
  // Shared once: another pass sends nothing.
  expect((await amina.client.shareWithNewColleagues()).devices).toEqual([]);
  // The new device can act on the case at once.
  await bora.cases.scheduleIntake(threadId, { scheduledFor: Date.now() + 3_600_000, location: 'Side entrance' });
  await eventually(async () => (await ngo.cases.thread(threadId)).status === 'intake-scheduled', 15_000, 'the schedule at the NGO');

  // IOM is added later (return requested): it gets the history its consent allows — not the health needs.
  await ngo.cases.addParticipant(threadId, { orgId: 'iom-ist', purpose: 'return' });
  await eventually(async () => (await iom.cases.thread(threadId)).status === 'intake-scheduled', 15_000, 'the case at IOM');
  const atIom = await iom.cases.thread(threadId);
  expect(atIom.referralId).toBe(sent.referralId);
  expect(atIom.referral?.healthNeeds).toBeUndefined();
  expect(atIom.referral?.identity.caseCode).toBe(referralToShelterOnly().identity.caseCode);
  expect(atIom.participants.map((p) => [p.orgId, p.role])).toEqual([
    ['ngo-taraz', 'sender'],
    ['shelter-ist', 'receiving'],
    ['iom-ist', 'coordinator'],
  ]);
  // Nothing of the withheld group anywhere in IOM's storage (decrypted: read back through its own client).
  const iomHeld = JSON.stringify(await iom.client.threadMessages(threadId));
  expect(iomHeld).not.toContain(HEALTH_MARKER);
  // IOM can act at once.
  await iom.cases.returnStep(threadId, { step: 'return-requested', status: 'done', date: Date.now() });
  await eventually(async () => (await ngo.cases.thread(threadId)).returnPath.steps.some((s) => s.step === 'return-requested'), 15_000, 'the return step at the NGO');

  // A forwarder that alters an original envelope is refused by the receiving device; nothing is stored.
  const original = (await amina.client.threadMessages(threadId, { originals: true })).find((m) => m.original)!.original!;
  const ciphertext = fromB64u(original.ciphertext);
  ciphertext[3] = (ciphertext[3] ?? 0) ^ 1;
  const before = (await bora.client.threadMessages(threadId)).length;
  await amina.client.sendAll([{ threadId, orgIds: ['shelter-ist'], payload: historyItem({ ...original, ciphertext: toB64u(ciphertext) }, 'Zm9yZ2VkLXRyYW5zZmVyMQ', 1, 1) }]);
  await eventually(async () => (await bora.client.failedMessages()).some((f) => f.code === 'BAD_SIGNATURE'), 15_000, 'the refusal at the new device');
  expect((await bora.client.threadMessages(threadId)).length).toBe(before);

  // Consent is withdrawn: every device purges. A device enrolled after that gets nothing of the purged case.
  await ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana Seitkali' } });
  await eventually(async () => (await amina.cases.thread(threadId)).purged !== null && (await bora.cases.thread(threadId)).purged !== null, 15_000, 'the purge at the shelter');
  const cem = await party(shelterOrg, 'cem');
  await amina.client.trust.refresh();
  const again = await amina.client.shareWithNewColleagues();
  expect(again.devices).toEqual([cem.client.deviceId]);
  expect(again.messages).toBe(0);
  await new Promise((r) => setTimeout(r, 300));
  expect(await cem.client.threadIds()).toEqual([]);
}, 120_000);
