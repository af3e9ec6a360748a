/**
 * Issue 11, finding 2, end to end: real relay on a real redis-server, real
 * SDK clients, a CaseService on each. A certified device of another org,
 * which knows the thread id (as the relay knows every id), sends signed
 * `referral.create` events into an accepted thread. The NGO, shelter and
 * IOM devices keep the real referral and the attacker never becomes a
 * participant nor receives anything more of the case.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService } from '../../client/referral/cases/case-service';
import type { HandoverClient } from '../../client/sdk/client';
import { loadCrypto } from '../../shared/crypto/sodium';
import { EventEnvelope, ReferralBody } from '../../client/referral/domain/schemas';
import { TestNetwork } from '../support/network';
import { type TestRedis, startRedis } from '../support/redis';
import { type RelayFixture, enrolClient, eventually, startTestRelay } from '../support/relay';

const ROOT = path.join(__dirname, '..', '..');

interface Party {
  client: HandoverClient;
  cases: CaseService;
}

let redis: TestRedis;
let fx: RelayFixture;
const parties: Party[] = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  redis = await startRedis();
  fx = await startTestRelay(new TestNetwork(crypto, Date.now()), { redisUrl: redis.url, logLevel: 'silent' });
});

afterAll(async () => {
  for (const p of parties) {
    p.cases.dispose();
    await p.client.close();
  }
  await fx.close();
  await redis.destroy();
});

async function party(org: ReturnType<TestNetwork['addOrg']>, name: string): Promise<Party> {
  const client = await enrolClient(fx, org, name);
  const cases = new CaseService({ transport: client, crypto: fx.crypto });
  await cases.start();
  const p = { client, cases };
  parties.push(p);
  return p;
}

function exampleReferral(): ReferralBody {
  return ReferralBody.parse(JSON.parse(readFileSync(path.join(ROOT, 'examples/referral.json'), 'utf8')));
}

const VICTIM_ORGS = ['ngo-taraz', 'shelter-ist', 'iom-ist'];

/** A signed, schema-valid create that names the attacker as sender and the real shelter as receiving org. */
function forgedCreate(attacker: Party, threadId: string, at: number): EventEnvelope {
  const body = exampleReferral();
  body.identity.firstName = 'Planted';
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  return EventEnvelope.parse({
    type: 'referral.create',
    eventId: 'QXR0YWNrZXItZXZlbnQtMQ',
    threadId,
    prev: [],
    author: { deviceId: attacker.client.deviceId, orgId: 'ngo-evil', orgType: 'ngo' },
    at,
    body,
  });
}

async function settled(everyone: Party[]): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await new Promise((r) => setTimeout(r, 100));
    for (const p of everyone) {
      await p.client.idle();
      await p.cases.idle();
    }
  }
}

it("finding 2: an attacker org's certified device that knows the thread id cannot take over the thread (real relay, redis, SDK)", async () => {
  const net = fx.network;
  const shelterOrg = net.addOrg('shelter-ist', 'shelter');
  const ngo = await party(net.addOrg('ngo-taraz', 'ngo'), 'dana');
  const shelterA = await party(shelterOrg, 'amina');
  const shelterB = await party(shelterOrg, 'bora');
  const iom = await party(net.addOrg('iom-ist', 'iom'), 'emre');
  const attacker = await party(net.addOrg('ngo-evil', 'ngo'), 'mallory');
  const victims = [ngo, shelterA, shelterB, iom];
  const everyone = [...victims, attacker];

  // The NGO signed in before the shelter and IOM existed: refer() learns their certificates itself.
  const sent = await ngo.cases.refer(exampleReferral());
  await eventually(async () => (await iom.cases.thread(sent.threadId)).status === 'sent', 15_000, 'the referral at IOM');
  await shelterA.cases.accept(sent.threadId, { bedReserved: true });
  await eventually(async () => {
    const states = await Promise.all(victims.map(async (p) => (await p.cases.thread(sent.threadId)).status));
    return states.every((s) => s === 'accepted');
  }, 15_000, 'the accept everywhere');

  // The attacker knows the thread id and signs two creates into it: one dated at: 1 (its envelope says now),
  // one dated a minute before the real referral (within the clock-skew window of its envelope).
  const threadId = sent.threadId;
  await attacker.client.send({ threadId, orgIds: VICTIM_ORGS, payload: forgedCreate(attacker, threadId, 1) });
  const realAt = (await ngo.cases.thread(threadId)).timeline[0]!.at;
  await attacker.client.send({ threadId, orgIds: VICTIM_ORGS, payload: { ...forgedCreate(attacker, threadId, realAt - 60_000), eventId: 'QXR0YWNrZXItZXZlbnQtMg' } });
  await eventually(async () => {
    const views = await Promise.all(victims.map((p) => p.cases.thread(threadId)));
    return views.every((t) => t.dropped.length + t.rejected.length === 2);
  }, 15_000, 'both forged creates at every victim device');
  await settled(everyone);

  for (const p of victims) {
    const t = await p.cases.thread(threadId);
    expect([p.client.deviceId, t.referralId, t.status]).toEqual([p.client.deviceId, sent.referralId, 'accepted']);
    expect(t.participants.map((x) => [x.orgId, x.role])).toEqual([
      ['ngo-taraz', 'sender'],
      ['shelter-ist', 'receiving'],
      ['iom-ist', 'coordinator'],
    ]);
    expect(t.referral?.identity.firstName).toBe('Aigerim');
    expect(t.dropped).toEqual([expect.objectContaining({ senderDeviceId: 'ngo-evil:mallory', reason: 'time-mismatch', type: 'referral.create' })]);
    expect(t.rejected).toEqual([expect.objectContaining({ type: 'referral.create', reason: 'thread-mismatch', author: expect.objectContaining({ orgId: 'ngo-evil' }) })]);
    // An honest relay copies nothing anywhere else.
    expect(t.securityWarnings).toEqual([]);
    expect((await p.cases.listThreads()).find((x) => x.threadId === threadId)).toMatchObject({ rejected: 1, dropped: 1, securityWarnings: 0 });
  }

  // The case goes on between the real parties only: the attacker gets nothing more.
  await shelterB.cases.scheduleIntake(threadId, { scheduledFor: Date.now() + 3_600_000, location: 'Side door of the consulate' });
  await eventually(async () => (await ngo.cases.thread(threadId)).intakeSchedule?.location === 'Side door of the consulate', 15_000, 'the intake schedule at the NGO');
  await settled(everyone);
  const atAttacker = await attacker.client.threadMessages(threadId);
  expect(atAttacker.every((m) => m.direction === 'out')).toBe(true);
  expect(JSON.stringify(atAttacker)).not.toContain('Side door');
  const attackerView = await attacker.cases.thread(threadId);
  expect(attackerView.participants).toEqual([]);
  expect(attackerView.referral).toBeNull();
}, 120_000);
