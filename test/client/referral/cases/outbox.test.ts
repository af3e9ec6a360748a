/**
 * `refer` is all or nothing from the user's view: a referral whose sending
 * stops after the create (a relay that fails, or a process that crashes)
 * says exactly what is pending, and the next run finishes it without
 * duplicating anything; a referral whose create never went out is built
 * again as a new thread; the same referral given again is finished, not
 * sent twice.
 *
 * The fault is played by a transport that lets the first messages of a
 * send through and then fails, in front of the loopback network.
 */
import { CaseService } from '../../../../client/referral/cases/case-service';
import type { CaseTransport } from '../../../../client/referral/cases/transport';
import type { ReferralBody } from '../../../../client/referral/domain/schemas';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { HandoverError, isHandoverError } from '../../../../shared/errors';
import type { LoopbackTransport } from '../../../support/loopback';
import { DAY, Scenario, exampleReferral } from './harness';

const MINUTE = 60_000;
const REASON = 'Survivor unreachable; IOM must arrange emergency travel documents';

/** create + consent.override for IOM + supplement (health needs) for the shelter. */
function referralWithOverride(): ReferralBody {
  const referral = exampleReferral();
  referral.consent.coveredOrgIds = ['shelter-ist'];
  return referral;
}

/** A transport that lets `through` messages of the next send out, then fails (`crash`: a plain error, as a dying process). */
function faulty(inner: LoopbackTransport, fault: { through: number | null; crash?: boolean }): CaseTransport {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'sendAll') {
        return async (inputs: Parameters<CaseTransport['sendAll']>[0]) => {
          if (fault.through === null) return target.sendAll(inputs);
          const through = fault.through;
          fault.through = null; // one failure, then the relay works again
          await target.sendAll(inputs.slice(0, through));
          throw fault.crash ? new Error('process killed') : new HandoverError('UNAVAILABLE', 'the relay did not accept the message; it was not sent');
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CaseTransport;
}

/** What a device holds of a thread, by kind: each event once by its event id, supplements by count. */
function held(transport: LoopbackTransport, threadId: string): { events: string[]; supplements: number; messages: number } {
  const mine = transport.allMessages().filter((m) => m.threadId === threadId);
  const events = mine.flatMap((m) => {
    const p = m.payload as { type?: string; eventId?: string };
    return typeof p.type === 'string' ? [`${p.type} ${p.eventId}`] : [];
  });
  return { events: events.sort(), supplements: mine.filter((m) => (m.payload as { kind?: string }).kind === 'referral.supplement').length, messages: mine.length };
}

/** Every device holds one create, one override and (only where consent allows) one supplement; the thread reads whole. */
async function expectWhole(s: Awaited<ReturnType<typeof Scenario.create>>, threadId: string): Promise<void> {
  for (const p of s.parties) {
    const h = held(p.transport, threadId);
    expect(h.events.map((e) => e.split(' ')[0])).toEqual(['consent.override', 'referral.create']);
    expect(new Set(h.events).size).toBe(2);
    // The sender keeps its own copy of the supplement; IOM never receives it.
    expect(h.supplements).toBe(p.transport.orgId === 'iom-ist' ? 0 : 1);
    const t = await p.cases.thread(threadId);
    expect(t.dropped).toEqual([]);
    expect(t.rejected).toEqual([]);
    expect(t.timeline.map((e) => e.type)).toEqual(['referral.create', 'consent.override']);
    expect(t.overrides).toEqual([expect.objectContaining({ recipient: { orgId: 'iom-ist', orgType: 'iom' }, reason: REASON })]);
  }
  expect((await s.shelterA.cases.thread(threadId)).referral?.healthNeeds).toBeDefined();
  expect((await s.iom.cases.thread(threadId)).referral?.healthNeeds).toBeUndefined();
  for (const p of s.parties) expect(await p.transport.threadIds()).toEqual([threadId]);
}

async function withFaultyNgo(fault: { through: number | null; crash?: boolean }) {
  const s = await Scenario.create();
  const crypto = await loadCrypto();
  const cases = new CaseService({ transport: faulty(s.ngo.transport, fault), crypto, now: () => s.clock });
  return { s, crypto, cases };
}

test('a send that fails after the create says what is pending; the next start() finishes it, with fresh times, nothing twice', async () => {
  const { s, cases } = await withFaultyNgo({ through: 1 });
  s.ngo.cases.dispose();
  const err = await cases.refer(referralWithOverride(), { overrideReason: REASON }).catch((e: unknown) => e);
  expect(isHandoverError(err, 'UNAVAILABLE')).toBe(true);
  const { details, message } = err as HandoverError;
  const threadId = (details as { outbox: { threadId: string } }).outbox.threadId;
  expect(details).toMatchObject({
    outbox: { threadId, createSent: true, sent: ['referral.create'], pending: ['consent.override for iom-ist', 'supplement for shelter-ist'], attempts: 1 },
    cause: { code: 'UNAVAILABLE' },
  });
  expect(message).toContain(`Thread ${threadId}: sent referral.create; pending consent.override for iom-ist, supplement for shelter-ist`);
  expect(message).toContain('handover outbox');
  expect(await cases.pendingReferrals()).toEqual([expect.objectContaining({ threadId, createSent: true, pending: ['consent.override for iom-ist', 'supplement for shelter-ist'] })]);
  // The same, by organisation (what the web outbox names): every org an unsent item goes to.
  expect((await cases.pendingReferrals())[0]?.pendingOrgIds).toEqual(['iom-ist', 'shelter-ist']);

  // The recipients hold the create only meanwhile.
  await s.settle();
  expect(held(s.shelterA.transport, threadId)).toMatchObject({ messages: 1 });

  // Ten minutes later the override's time is stale: sent as it was, every receiver would drop it.
  s.tick(10 * MINUTE);
  await cases.start();
  expect(cases.failures).toEqual([]);
  expect(cases.outboxRun.finished).toEqual([expect.objectContaining({ threadId, rebuilt: false, overrides: [expect.anything()] })]);
  expect(cases.outboxRun.finished[0]?.overrides[0]?.event.at).toBe(s.clock);
  expect(await cases.pendingReferrals()).toEqual([]);
  await s.network.settle([...s.parties.map((p) => p.cases), cases]);
  const ngoParty = s.parties.find((p) => p.transport === s.ngo.transport)!;
  ngoParty.cases = cases;
  await expectWhole(s, threadId);
  // A second start() has nothing left to do.
  await cases.start();
  expect(cases.outboxRun.finished).toEqual([]);
  await s.settle();
  expect(held(s.shelterA.transport, threadId).messages).toBe(3);
});

test('a process killed after the create: a new case service over the same storage finishes the referral', async () => {
  const { s, crypto, cases } = await withFaultyNgo({ through: 1, crash: true });
  s.ngo.cases.dispose();
  await expect(cases.refer(referralWithOverride(), { overrideReason: REASON })).rejects.toThrow();
  cases.dispose(); // the process is gone; its storage stays
  await s.settle();
  s.tick(MINUTE);

  const restarted = new CaseService({ transport: s.ngo.transport, crypto, now: () => s.clock });
  s.ngo.cases = restarted;
  await restarted.start();
  expect(restarted.failures).toEqual([]);
  const [finished] = restarted.outboxRun.finished;
  expect(finished).toMatchObject({ rebuilt: false });
  await s.settle();
  await expectWhole(s, finished!.threadId);
  expect(held(s.ngo.transport, finished!.threadId).messages).toBe(3);
});

test('a create that never went out is built again and sent as a new thread; nothing of the first try exists anywhere', async () => {
  const { s, cases } = await withFaultyNgo({ through: 0 });
  s.ngo.cases.dispose();
  const err = (await cases.refer(referralWithOverride(), { overrideReason: REASON }).catch((e: unknown) => e)) as HandoverError;
  const first = (err.details as { outbox: { threadId: string; createSent: boolean } }).outbox;
  expect(first.createSent).toBe(false);
  expect(err.message).toContain('nothing of it left this device');
  expect(err.message).toContain('do not run refer again');
  await s.settle();
  for (const p of s.parties) expect(await p.transport.threadIds()).toEqual([]);

  s.tick(20 * MINUTE);
  await cases.start();
  const [finished] = cases.outboxRun.finished;
  expect(finished).toMatchObject({ rebuilt: true });
  expect(finished!.threadId).not.toBe(first.threadId);
  s.ngo.cases = cases;
  await s.settle();
  await expectWhole(s, finished!.threadId);
});

test('the same referral given again while pending is finished, not sent as a second thread', async () => {
  const { s, cases } = await withFaultyNgo({ through: 2 });
  s.ngo.cases.dispose();
  const body = referralWithOverride();
  const err = (await cases.refer(body, { overrideReason: REASON }).catch((e: unknown) => e)) as HandoverError;
  const { threadId } = (err.details as { outbox: { threadId: string } }).outbox;
  const again = await cases.refer(body, { overrideReason: REASON });
  expect(again).toMatchObject({ threadId, resumed: true });
  s.ngo.cases = cases;
  await s.settle();
  await expectWhole(s, threadId);
  // Given a third time, after it was finished: still that thread (this service finished it).
  expect(await cases.refer(body, { overrideReason: REASON })).toMatchObject({ threadId, resumed: true });
  await s.settle();
  expect(await s.shelterA.transport.threadIds()).toEqual([threadId]);
});

test.each([
  ['in scope', exampleReferral, {}],
  ['sent with an override, which covered other violations', referralWithOverride, { overrideReason: REASON }],
] as const)('a pending referral that can no longer be sent (the consent expired meanwhile; %s) leaves the outbox with a recorded reason', async (_, make, opts) => {
  const { s, cases } = await withFaultyNgo({ through: 0 });
  s.ngo.cases.dispose();
  const body = make();
  await expect(cases.refer(body, opts)).rejects.toThrow();
  s.clock = body.consent.expiresAt + DAY;
  await cases.start();
  expect(cases.outboxRun).toMatchObject({ finished: [], stillPending: [], abandoned: [expect.objectContaining({ code: 'CONSENT_SCOPE' })] });
  expect(cases.failures).toEqual([expect.objectContaining({ code: 'CONSENT_SCOPE', message: expect.stringContaining('nothing of it left this device') })]);
  expect(await cases.pendingReferrals()).toEqual([]);
  await s.settle();
  for (const p of s.parties) expect(await p.transport.threadIds()).toEqual([]);
});

test('a relay still down on the next run keeps it pending; discard takes it out', async () => {
  const fault: { through: number | null } = { through: 1 };
  const { s, cases } = await withFaultyNgo(fault);
  s.ngo.cases.dispose();
  await expect(cases.refer(referralWithOverride(), { overrideReason: REASON })).rejects.toThrow();
  fault.through = 0;
  await cases.start();
  expect(cases.outboxRun.stillPending).toEqual([expect.objectContaining({ attempts: 2, sent: ['referral.create'], lastError: expect.objectContaining({ code: 'UNAVAILABLE' }) })]);
  expect(cases.failures).toEqual([expect.objectContaining({ code: 'UNAVAILABLE' })]);
  const [pending] = await cases.pendingReferrals();
  await expect(cases.discardPendingReferral('no-such-id')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  expect(await cases.discardPendingReferral(pending!.id)).toMatchObject({ id: pending!.id });
  expect(await cases.pendingReferrals()).toEqual([]);
});
