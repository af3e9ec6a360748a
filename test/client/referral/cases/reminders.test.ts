/**
 * Reminders on a fake clock: the first-response deadline of each priority,
 * a scheduled intake, dated return steps; what each org is told is its own
 * to do; alerts once per item per threshold, remembered across services;
 * and the notice `watch` prints for a message, which carries no data.
 */
import { CaseService } from '../../../../client/referral/cases/case-service';
import { dueItemKey, messageNotice } from '../../../../client/referral/cases/reminders';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { DAY, HOUR, Scenario, exampleReferral } from './harness';

const MINUTE = 60_000;

describe('due items', () => {
  test('the first response is due within the priority window for the receiving org, and shown to the others as theirs to wait for', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral()); // urgent: 72 h
    await s.settle();
    const sentAt = s.clock;

    // Nothing due within the next 24 h yet.
    expect(await s.shelterA.cases.reminders()).toEqual([]);
    expect(await s.shelterA.cases.reminders({ windowMs: 72 * HOUR })).toEqual([
      expect.objectContaining({ threadId, kind: 'response', dueAt: sentAt + 72 * HOUR, overdue: false, orgId: 'shelter-ist', mine: true, priority: 'urgent' }),
    ]);

    s.clock = sentAt + 50 * HOUR;
    const shelterView = await s.shelterB.cases.reminders();
    expect(shelterView).toEqual([expect.objectContaining({ threadId, kind: 'response', mine: true, overdue: false, caseCode: 'TRZ-2026-0147' })]);
    expect(shelterView[0]?.what).toBe('respond: acknowledge, request info, accept or decline');
    const ngoView = await s.ngo.cases.reminders();
    expect(ngoView).toEqual([expect.objectContaining({ threadId, kind: 'response', mine: false, orgId: 'shelter-ist' })]);
    expect(ngoView[0]?.what).toBe('first response from shelter-ist');

    s.clock = sentAt + 72 * HOUR + 1;
    expect(await s.iom.cases.reminders()).toEqual([expect.objectContaining({ threadId, kind: 'response', overdue: true })]);

    // Any first response ends it, late or not; nothing else is timed until an intake or a return step has a date.
    await s.shelterA.cases.acknowledge(threadId);
    await s.settle();
    for (const p of s.parties) expect(await p.cases.reminders({ windowMs: 365 * DAY })).toEqual([]);
  });

  test.each([
    ['emergency', 24 * HOUR],
    ['normal', 14 * DAY],
  ] as const)('priority %s: the response is due %d ms after the referral', async (priority, window) => {
    const s = await Scenario.create();
    const referral = exampleReferral();
    referral.header.priority = priority;
    const { threadId } = await s.ngo.cases.refer(referral);
    await s.settle();
    const [item] = await s.shelterA.cases.reminders({ windowMs: window });
    expect(item).toMatchObject({ threadId, kind: 'response', dueAt: s.clock + window, priority });
  });

  test('a scheduled intake is due until arrival is recorded; dated return steps until they are done', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await s.shelterA.cases.accept(threadId);
    const intakeAt = s.clock + 30 * HOUR;
    await s.shelterA.cases.scheduleIntake(threadId, { scheduledFor: intakeAt, location: 'Reception' });
    await s.iom.cases.returnStep(threadId, { step: 'return-requested', status: 'done', date: s.clock + 2 * HOUR });
    await s.iom.cases.returnStep(threadId, { step: 'receipt-confirmed', status: 'in-progress', date: s.clock + 10 * HOUR });
    await s.settle();

    const shelter = await s.shelterB.cases.reminders({ windowMs: 2 * DAY });
    expect(shelter.map((i) => [i.kind, i.step ?? null, i.mine])).toEqual([
      ['return-step', 'receipt-confirmed', false],
      ['intake', null, true],
    ]);
    expect(shelter[1]).toMatchObject({ dueAt: intakeAt, what: 'intake: record arrival or no-show' });
    const iom = await s.iom.cases.reminders({ windowMs: 2 * DAY });
    expect(iom[0]).toMatchObject({ kind: 'return-step', step: 'receipt-confirmed', mine: true, what: 'return step receipt-confirmed (in-progress, yours)' });
    expect(iom[1]).toMatchObject({ kind: 'intake', mine: false, what: 'intake at shelter-ist' });

    // The default window (24 h) holds the return step only; once past, it is overdue and listed first.
    expect((await s.ngo.cases.reminders()).map((i) => i.kind)).toEqual(['return-step']);
    s.tick(31 * HOUR);
    const late = await s.ngo.cases.reminders();
    expect(late.map((i) => [i.kind, i.overdue])).toEqual([
      ['return-step', true],
      ['intake', true],
    ]);

    await s.shelterA.cases.arrived(threadId);
    await s.iom.cases.returnStep(threadId, { step: 'receipt-confirmed', status: 'done' });
    await s.settle();
    expect(await s.ngo.cases.reminders({ windowMs: 365 * DAY })).toEqual([]);
  });

  test('a thread whose consent was withdrawn has nothing due', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    await s.ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana' } });
    await s.settle();
    for (const p of s.parties) expect(await p.cases.reminders({ windowMs: 365 * DAY })).toEqual([]);
  });

  test('inbox lines written before reminders existed are derived again once, then listed', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    // Strip the dates from the stored line, as an older version wrote it.
    const index = (await s.shelterA.transport.getRecord('case-index')) as Record<string, { due?: unknown }>;
    delete index[threadId]?.due;
    await s.shelterA.transport.putRecord('case-index', index);
    const fresh = new CaseService({ transport: s.shelterA.transport, now: () => s.clock, crypto: await loadCrypto() });
    expect(await fresh.reminders({ windowMs: 72 * HOUR })).toEqual([expect.objectContaining({ threadId, kind: 'response' })]);
    fresh.dispose();
  });
});

describe('deadline alerts', () => {
  test('one alert per item per threshold: the tightest crossed, never repeated, remembered by a new service', async () => {
    const s = await Scenario.create();
    const referral = exampleReferral();
    referral.header.priority = 'emergency';
    const { threadId } = await s.ngo.cases.refer(referral);
    await s.settle();
    const dueAt = s.clock + 24 * HOUR;
    const alerts = s.shelterA.cases.deadlineAlerts([24 * HOUR, 2 * HOUR]);
    const check = async () => (await alerts.check(await s.shelterA.cases.reminders(), s.clock)).map((a) => a.thresholdMs);

    expect(await check()).toEqual([24 * HOUR]);
    expect(await check()).toEqual([]);
    s.clock = dueAt - 2 * HOUR - MINUTE;
    expect(await check()).toEqual([]);
    s.clock = dueAt - 2 * HOUR;
    expect(await check()).toEqual([2 * HOUR]);
    s.clock = dueAt;
    expect(await check()).toEqual([]); // due now is not overdue yet
    s.clock = dueAt + 1;
    // A new service on the same device (a restarted `watch`) remembers what was said.
    const again = s.shelterA.cases.deadlineAlerts([24 * HOUR, 2 * HOUR]);
    const overdue = await again.check(await s.shelterA.cases.reminders(), s.clock);
    expect(overdue).toEqual([expect.objectContaining({ thresholdMs: 0, item: expect.objectContaining({ threadId, overdue: true }) })]);
    expect(await again.check(await s.shelterA.cases.reminders(), s.clock)).toEqual([]);
  });

  test('an item first seen overdue gets one alert, not one per threshold; a rescheduled intake is a new item', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick(80 * HOUR);
    const alerts = s.ngo.cases.deadlineAlerts([24 * HOUR, 2 * HOUR]);
    const first = await alerts.check(await s.ngo.cases.reminders(), s.clock);
    expect(first.map((a) => [a.item.kind, a.thresholdMs])).toEqual([['response', 0]]);

    await s.shelterA.cases.accept(threadId);
    await s.shelterA.cases.scheduleIntake(threadId, { scheduledFor: s.clock + HOUR });
    await s.settle();
    const [intake] = await alerts.check(await s.ngo.cases.reminders(), s.clock);
    expect(intake).toMatchObject({ thresholdMs: 2 * HOUR, item: { kind: 'intake' } });
    await s.shelterA.cases.scheduleIntake(threadId, { scheduledFor: s.clock + 90 * MINUTE });
    await s.settle();
    const items = await s.ngo.cases.reminders();
    expect(new Set(items.map(dueItemKey)).size).toBe(1);
    expect((await alerts.check(items, s.clock)).map((a) => a.thresholdMs)).toEqual([2 * HOUR]);
  });
});

describe('message notices', () => {
  test('ids, the verified sender org and the event type; a referral from another org is new for this one; no data', async () => {
    const s = await Scenario.create();
    const seen: ReturnType<typeof messageNotice>[] = [];
    s.shelterA.transport.on('message', (m) => seen.push(messageNotice(m, 'shelter-ist')));
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    await s.shelterB.cases.acknowledge(threadId);
    await s.settle();
    expect(seen.map((n) => [n.threadId, n.fromOrgId, n.type, n.newReferral])).toEqual([
      [threadId, 'ngo-taraz', 'referral.create', true],
      [threadId, 'ngo-taraz', 'referral.supplement', false],
      [threadId, 'shelter-ist', 'referral.acknowledge', false],
    ]);
    const text = JSON.stringify(seen);
    for (const value of ['Aigerim', 'Nurlanovna', 'TRZ-2026-0147', '+77015550123', 'Istanbul']) expect(text).not.toContain(value);
  });
});
