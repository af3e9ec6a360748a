/**
 * The access log of one device: who opened which case, kept in the
 * device's record store (the encrypted vault with the SDK), one record per
 * month; its CSV export; and what it keeps after a consent withdrawal —
 * the thread id and who opened it, never the purged survivor's case code
 * or anything else from the referral.
 */
import { ACCESS_ACTIONS, AccessLog, accessLogCsv } from '../../../../client/referral/cases/access-log';
import { DAY, Scenario, exampleReferral } from './harness';

describe('the access log', () => {
  test('records each opening with the device and thread ids, oldest first, across months', async () => {
    const s = await Scenario.create();
    const log = new AccessLog(s.shelterA.transport, () => s.clock);
    await log.record('show', ['thread-a']);
    s.clock += 10 * DAY; // into December: a second month record
    await log.record('show-referral', ['thread-b']);
    await log.record('export', ['thread-a', 'thread-b']);
    await log.record('report');
    const entries = await log.entries();
    expect(entries.map((e) => [e.action, e.threadIds, e.deviceId])).toEqual([
      ['show', ['thread-a'], 'shelter-ist:sh-dev-a'],
      ['show-referral', ['thread-b'], 'shelter-ist:sh-dev-a'],
      ['export', ['thread-a', 'thread-b'], 'shelter-ist:sh-dev-a'],
      ['report', [], 'shelter-ist:sh-dev-a'],
    ]);
    expect(new Set(entries.map((e) => new Date(e.at).toISOString().slice(0, 7)))).toEqual(new Set(['2026-11', '2026-12']));
    // Another device of the same org keeps its own log.
    expect(await new AccessLog(s.shelterB.transport).entries()).toEqual([]);
  });

  test('ignores damaged entries instead of failing the whole export', async () => {
    const s = await Scenario.create();
    const log = new AccessLog(s.iom.transport, () => s.clock);
    await log.record('show', ['t1']);
    const month = new Date(s.clock).toISOString().slice(0, 7);
    const held = (await s.iom.transport.getRecord(`access-log/${month}`)) as unknown[];
    await s.iom.transport.putRecord(`access-log/${month}`, [...held, { at: 'yesterday', action: 'show' }, { at: 1, deviceId: 'x', action: 'delete-everything', threadIds: [] }]);
    expect((await log.entries()).map((e) => e.threadIds)).toEqual([['t1']]);
  });

  test('CSV: one row per thread opened, the device label, times in UTC, no formula injection', async () => {
    const s = await Scenario.create();
    const log = new AccessLog(s.ngo.transport, () => s.clock);
    await log.record('export', ['t1', 't2']);
    await log.record('access-log-export');
    const csv = accessLogCsv(await log.entries(), '=HYPERLINK("x"), Dana');
    const rows = csv.trimEnd().split('\r\n');
    expect(rows[0]).toBe('time_utc,device_id,device_label,action,thread_id');
    expect(rows.slice(1)).toEqual([
      `${new Date(s.clock).toISOString()},ngo-taraz:ngo-dev-1,"'=HYPERLINK(""x""), Dana",export,t1`,
      `${new Date(s.clock).toISOString()},ngo-taraz:ngo-dev-1,"'=HYPERLINK(""x""), Dana",export,t2`,
      `${new Date(s.clock).toISOString()},ngo-taraz:ngo-dev-1,"'=HYPERLINK(""x""), Dana",access-log-export,`,
    ]);
    expect(ACCESS_ACTIONS).toContain('show-referral');
  });

  test('after a consent withdrawal the entries stay, naming the thread id only: the case code is gone from the device', async () => {
    const s = await Scenario.create();
    const referral = exampleReferral();
    const { threadId } = await s.ngo.cases.refer(referral);
    await s.settle();
    const log = new AccessLog(s.shelterA.transport, () => s.clock);
    await s.shelterA.cases.thread(threadId);
    await log.record('show-referral', [threadId]);
    expect(s.shelterA.transport.dump()).toContain(referral.identity.caseCode);

    s.tick();
    await s.ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana S.' } });
    await s.settle();
    expect((await s.shelterA.cases.thread(threadId)).purged).not.toBeNull();
    expect(await log.entries()).toEqual([expect.objectContaining({ action: 'show-referral', threadIds: [threadId] })]);
    const stored = s.shelterA.transport.dump();
    expect(stored).not.toContain(referral.identity.caseCode);
    expect(stored).not.toContain(referral.identity.firstName!);
  });
});
