/** Response deadlines on a fake clock, and the HTCDS CSV export of an org's own threads. */
import { HTCDS_CSV_COLUMNS } from '../../../../client/referral/domain/export';
import { DAY, HOUR, Scenario, exampleReferral } from './harness';

function parseCsv(text: string): string[][] {
  // The example data has no quoted cells with commas except where asserted below.
  return text
    .split('\r\n')
    .filter((line) => line !== '')
    .map((line) => line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.slice(0, -1).map((cell) => cell.replace(/,$/, '')));
}

describe('response deadline', () => {
  test('an urgent referral is overdue after 72 hours without a response, on every device', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    const sentAt = s.clock;

    s.clock = sentAt + 72 * HOUR;
    let inbox = await s.ngo.cases.listThreads();
    expect(inbox[0]).toMatchObject({ threadId, status: 'sent', overdue: false, responseDeadline: sentAt + 72 * HOUR });

    s.clock = sentAt + 72 * HOUR + 1;
    for (const p of s.parties) {
      inbox = await p.cases.listThreads();
      expect(inbox[0]).toMatchObject({ threadId, status: 'expired', overdue: true });
    }

    // A late acknowledgement ends the overdue flag but stays visible as late.
    await s.shelterA.cases.acknowledge(threadId, { note: 'Sorry, the office was closed' });
    await s.settle();
    const t = await s.ngo.cases.thread(threadId);
    expect(t).toMatchObject({ status: 'acknowledged', overdue: false, respondedLate: true });
  });

  test('an emergency referral answered in time is neither overdue nor late', async () => {
    const s = await Scenario.create();
    const referral = exampleReferral();
    referral.header.priority = 'emergency';
    const { threadId } = await s.ngo.cases.refer(referral);
    await s.settle();
    s.tick(23 * HOUR);
    await s.shelterB.cases.acknowledge(threadId);
    await s.settle();
    s.tick(10 * DAY);
    expect((await s.ngo.cases.listThreads())[0]).toMatchObject({ status: 'acknowledged', overdue: false, respondedLate: false });
  });
});

describe('CSV export', () => {
  test('an org exports its own threads with the HTCDS columns and what it may see', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await s.shelterA.cases.accept(threadId);
    await s.settle();

    const rows = parseCsv(await s.shelterB.cases.exportCsv());
    expect(rows[0]).toEqual([...HTCDS_CSV_COLUMNS]);
    expect(rows).toHaveLength(2);
    const row = Object.fromEntries(HTCDS_CSV_COLUMNS.map((name, i) => [name, rows[1]?.[i]]));
    expect(row).toMatchObject({
      hnd_ThreadId: threadId,
      hnd_CaseCode: 'TRZ-2026-0147',
      hnd_Priority: 'urgent',
      hnd_IntakeState: 'accepted',
      prs_FirstName: 'Aigerim',
      prs_Citizenship: 'KZ',
      vic_TypeOfExploitation: 'ForcedLabour',
      vic_MethodsOfControl: '"WithholdsDocuments;DebtBondage;ExcessiveWorkingHours;PhysicalThreats"',
      cas_Status: 'Active',
      cas_ReferringOrganisation: 'ngo-taraz',
      cas_ReferredOrganisation: 'shelter-ist',
      cas_OutgoingReferralDate: '2026-11-28',
      cas_IncomingReferralDate: '2026-11-28',
      con_Consent: 'TRUE',
    });
  });

  test('purged threads are not exported', async () => {
    const s = await Scenario.create();
    const kept = await s.ngo.cases.refer(exampleReferral());
    const gone = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await s.ngo.cases.withdrawConsent(gone.threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana Seitkali' } });
    await s.settle();
    const csv = await s.iom.cases.exportCsv();
    expect(csv).toContain(kept.threadId);
    expect(csv).not.toContain(gone.threadId);
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(2);
  });
});
