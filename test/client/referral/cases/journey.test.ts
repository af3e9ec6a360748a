/** The whole intake and return journey across NGO, shelter (two devices) and IOM, over the loopback network. */
import type { CaseUpdate } from '../../../../client/referral/cases/case-service';
import type { CaseTransport } from '../../../../client/referral/cases/transport';
import type { HandoverClient } from '../../../../client/sdk/client';
import { HandoverError } from '../../../../shared/errors';
import { HOUR, Scenario, exampleReferral } from './harness';

// The real SDK client is a CaseTransport as it is (checked by the compiler).
export const sdkIsTransport: (client: HandoverClient) => CaseTransport = (client) => client;

describe('NGO -> shelter with IOM: the full journey', () => {
  test('every device derives the same state at each step, and each org sees what its consent allows', async () => {
    const s = await Scenario.create();
    const { ngo, shelterA, shelterB, iom } = s;
    const everyone = [ngo, shelterA, shelterB, iom];
    const statuses = async (threadId: string) => Promise.all(everyone.map(async (p) => (await p.cases.thread(threadId)).status));

    const referral = exampleReferral();
    const sent = await ngo.cases.refer(referral);
    expect(sent.overrides).toEqual([]);
    expect(sent.recipients.map((r) => [r.orgId, r.withheld])).toEqual([
      ['shelter-ist', []],
      ['iom-ist', ['healthNeeds']],
    ]);
    await s.settle();
    const id = sent.threadId;
    expect(await statuses(id)).toEqual(['sent', 'sent', 'sent', 'sent']);

    // Consent withholds health needs from IOM: the shelter (and the sender) see them, IOM does not.
    const atShelter = await shelterB.cases.thread(id);
    const atIom = await iom.cases.thread(id);
    const atNgo = await ngo.cases.thread(id);
    expect(atShelter.referral).toEqual(referral);
    expect(atNgo.referral).toEqual(referral);
    expect(atIom.referral?.healthNeeds).toBeUndefined();
    expect(atIom.referral?.identity).toEqual(referral.identity);
    expect(iom.transport.dump()).not.toContain('Untreated cut');
    // Everyone holds the same referral event: same id, so later `prev` links agree.
    expect(new Set([atShelter.referralId, atIom.referralId, atNgo.referralId]).size).toBe(1);
    expect(atShelter.dropped).toEqual([]);

    s.tick();
    await shelterA.cases.acknowledge(id, { note: 'Checking beds' });
    await s.settle();
    expect(await statuses(id)).toEqual(['acknowledged', 'acknowledged', 'acknowledged', 'acknowledged']);

    s.tick();
    const ask = await shelterA.cases.requestInfo(id, { fieldGroups: ['healthNeeds'], questions: 'Does the hand injury need surgery?' });
    await s.settle();
    s.tick();
    await ngo.cases.provideInfo(id, {
      details: 'A clinic dressed it.',
      data: { healthNeeds: { immediateMedicalNeeds: 'Dressing to be changed every two days' } },
    });
    await s.settle();
    const info = await shelterB.cases.thread(id);
    expect(info.status).toBe('acknowledged');
    expect(info.provided).toHaveLength(1);
    expect(info.provided[0]?.inReplyTo).toBe(ask.id);
    expect(info.provided[0]?.data?.healthNeeds?.immediateMedicalNeeds).toBe('Dressing to be changed every two days');
    // IOM gets the answer but not the withheld group.
    const infoAtIom = await iom.cases.thread(id);
    expect(infoAtIom.provided[0]?.details).toBe('A clinic dressed it.');
    expect(infoAtIom.provided[0]?.data).toBeUndefined();

    s.tick();
    await shelterB.cases.accept(id, { bedReserved: true });
    s.tick();
    await shelterB.cases.scheduleIntake(id, { scheduledFor: s.clock + 20 * HOUR, location: 'Consulate entrance', transport: 'Shelter car' });
    await s.settle();
    expect(await statuses(id)).toEqual(['intake-scheduled', 'intake-scheduled', 'intake-scheduled', 'intake-scheduled']);
    expect((await ngo.cases.thread(id)).intakeSchedule?.location).toBe('Consulate entrance');

    s.tick(20 * HOUR);
    await shelterA.cases.arrived(id, { note: 'Collected at the consulate' });
    await s.settle();
    expect(await statuses(id)).toEqual(['arrived', 'arrived', 'arrived', 'arrived']);

    // IOM runs the return path; departure waits for a risk assessment done with "go".
    const steps = [
      { step: 'return-requested', status: 'done' },
      { step: 'receipt-confirmed', status: 'done' },
      { step: 'risk-assessment', status: 'done', decision: 'go' },
      { step: 'family-assessment', status: 'done' },
      { step: 'travel-documents', status: 'done' },
      { step: 'fit-to-travel', status: 'done' },
      { step: 'departure-confirmed', status: 'done' },
    ] as const;
    await expect(iom.cases.returnStep(id, { step: 'departure-confirmed', status: 'done' })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    for (const step of steps) {
      s.tick();
      await iom.cases.returnStep(id, step);
    }
    await s.settle();
    for (const p of everyone) {
      const t = await p.cases.thread(id);
      expect(t.returnPath.steps.map((x) => [x.step, x.status])).toEqual(steps.map((x) => [x.step, x.status]));
      expect(t.returnPath.steps.every((x) => x.responsibleOrgId === 'iom-ist')).toBe(true);
      expect(t.rejected).toEqual([]);
      expect(t.dropped).toEqual([]);
    }

    s.tick();
    await ngo.cases.close(id, 'Survivor returned home; follow-up with IOM Kazakhstan');
    await s.settle();
    const finals = await Promise.all(everyone.map((p) => p.cases.thread(id)));
    expect(finals.map((t) => t.status)).toEqual(['closed', 'closed', 'closed', 'closed']);
    // Same timeline, event for event, on every device.
    const timelines = finals.map((t) => t.timeline.map((e) => e.id));
    for (const t of timelines) expect(t).toEqual(timelines[0]);
    expect(finals[0]?.timeline.map((e) => e.type)).toEqual([
      'referral.create',
      'referral.acknowledge',
      'referral.request-info',
      'referral.provide-info',
      'referral.accept',
      'intake.schedule',
      'intake.arrived',
      ...steps.map(() => 'return.step'),
      'case.close',
    ]);
  });

  test('an action on a thread that does not exist, or with a bad body, is refused before sending', async () => {
    const s = await Scenario.create();
    const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
    await expect(s.shelterA.cases.accept(unknown)).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'no-referral' } });
    await expect(s.shelterA.cases.accept('not a thread')).rejects.toBeInstanceOf(HandoverError);
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    await expect(s.shelterA.cases.decline(threadId, { reasonCode: 'other' })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(s.ngo.cases.refer({ header: {} })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    expect(s.network.pending()).toBe(0);
  });

  test('listThreads shows state, priority, role and case code per thread; updates are announced', async () => {
    const s = await Scenario.create();
    const updates: CaseUpdate[] = [];
    s.shelterA.cases.onUpdate((u) => updates.push(u));
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    // The referral event, then the supplement with the groups IOM may not see.
    expect(updates).toEqual([
      { threadId, kind: 'event', type: 'referral.create' },
      { threadId, kind: 'supplement' },
    ]);
    expect(await s.iom.cases.listThreads()).toEqual([
      expect.objectContaining({
        threadId,
        status: 'sent',
        priority: 'urgent',
        overdue: false,
        caseCode: 'TRZ-2026-0147',
        role: 'coordinator',
        purged: false,
      }),
    ]);
    expect((await s.ngo.cases.listThreads())[0]?.role).toBe('sender');
    expect((await s.shelterA.cases.listThreads())[0]?.role).toBe('receiving');
  });
});
