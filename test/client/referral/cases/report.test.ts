/**
 * The donor report over real case threads (loopback network, real case
 * layer): the counts, the small-cell suppression and masking, the
 * response-time figures — and that nothing personal gets through. The
 * personal fields are walked from the referral schema itself (every group
 * `ReferralData` can carry, plus the people and free text in the header
 * and consent), on referrals that fill every one of them, and no value may
 * appear in the report as JSON or CSV; nor may case codes, thread ids,
 * notes, decline details or the consent withdrawal's recorder.
 */
import { aggregateReport, buildCaseReport, reportCsv, reportFacts, type ReportFacts } from '../../../../client/referral/cases/report';
import { ChildGuardian, HealthNeeds, Identity, ReferralData, RiskSafety, TraffickingContext, type ReferralBody } from '../../../../client/referral/domain/schemas';
import { DAY, HOUR, type Party, Scenario, T0, exampleReferral } from './harness';

/** A referral with every personal field filled, distinct per case so a leak is traceable. */
function realisticReferral(i: number): ReferralBody {
  const r = exampleReferral();
  r.identity = {
    caseCode: `TRZ-2026-01${String(i).padStart(2, '0')}`,
    firstName: `Aigerimka${i}`,
    secondName: `Nurlanovna${i}`,
    birthdate: `1999-04-${String(10 + (i % 18)).padStart(2, "0")}`,
    ageRange: { min: 24, max: 28 },
    gender: 'Feminine',
    citizenship: ['KZ'],
    languages: ['kk', 'ru'],
    identityDocuments: [{ documentType: 'passport', number: `N0${i}4471${i}`, issuingCountry: 'KZ' }],
    mobilePhone: `+770155501${String(i).padStart(2, '0')}`,
    currentLocation: { country: 'TR', region: `Fatih district ${i}`, city: 'Istanbul', detail: `Room ${i}12 above the Yildiz bakery` },
  };
  r.childGuardian = { isChild: false, unaccompanied: false, separated: true, caregiverName: `Gulnara Sapargali${i}`, caregiverRelation: 'Aunt in Shymkent', caregiverInformed: true };
  r.traffickingContext = {
    ...r.traffickingContext!,
    recruitmentDetails: `Recruiter called Murat${i} promised a sewing job`,
  };
  r.riskSafety = {
    riskLevel: 'high',
    lifeThreatening: false,
    retaliationRisk: true,
    reTraffickingRisk: true,
    safetyInstructions: { whoMayVisit: `Only caseworker Leyla${i}`, codeWord: `Bozkurt${i}`, transport: `Blue minivan plate 34ABC${i}`, other: `Avoid Laleli${i} market` },
  };
  r.healthNeeds = {
    immediateMedicalNeeds: `Fractured wrist${i} untreated`,
    disability: `Partial hearing loss${i}`,
    medication: `Sertraline ${50 + i} mg`,
    fitToTravel: 'unknown',
    otherNeeds: `Needs Kazakh interpreter${i}`,
  };
  r.attachments = [
    {
      attachmentId: `scan-${i}`,
      mediaType: 'application/pdf',
      size: 20_000 + i,
      ciphertextHash: 'A'.repeat(43),
      key: `${'B'.repeat(42)}A`,
      description: `Passport scan of Aigerimka${i}`,
      relatesTo: 'identity',
    },
  ];
  r.header.referralDetails = `Staying with cousin Askar${i} near the consulate`;
  r.header.senderCaseReference = `TRZ/2026/01${i}`;
  r.header.referringPrimaryCaseWorker = { name: `Dana Seitkali${i}`, title: 'Caseworker', mobilePhone: '+77262555010', email: `dana${i}@example.org` };
  r.consent.recordedBy = { name: `Dana Seitkali${i}`, title: 'Caseworker' };
  return r;
}

/** Every string value under the personal parts of a referral (numbers and booleans are not searched: counts are numbers). */
function personalValues(r: ReferralBody): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  // Every group the schema lets a referral carry about the person: derived from the schema, so a new group is covered.
  for (const group of Object.keys(ReferralData.shape) as Array<keyof typeof ReferralData.shape>) walk(r[group]);
  walk(r.consent.recordedBy);
  walk(r.header.referringPrimaryCaseWorker);
  walk([r.header.referralDetails, r.header.senderCaseReference]);
  return out;
}

/** Whether `value` shows up in `text`: as a substring when long, as a whole token when short (e.g. "kk"). */
function appears(value: string, text: string): boolean {
  if (value.length >= 4) return text.includes(value);
  return text.split(/[^A-Za-z0-9+]+/).includes(value);
}

interface Plan {
  /** Hours after the referral: first response (acknowledge, or the decline), acceptance. */
  ack?: number;
  accept?: number;
  decline?: number;
}

/** Nine referrals from the NGO, four in November and five in December, each worked by the shelter as planned. */
const PLANS: Plan[] = [
  { ack: 1, accept: 10 },
  { ack: 2, accept: 12 },
  { ack: 3, accept: 14 },
  { decline: 7 },
  { ack: 4, accept: 16 },
  { ack: 5, accept: 18 },
  { ack: 6, accept: 20 },
  { decline: 8 },
  {},
];
const BASES = [0, 12, 24, 36].map((h) => T0 + h * HOUR).concat([0, 12, 24, 36, 48].map((h) => Date.UTC(2026, 11, 1, 0, 0) + h * HOUR));

async function workedScenario() {
  const s = await Scenario.create();
  const referrals: ReferralBody[] = [];
  const threadIds: string[] = [];
  const freeText: string[] = [];
  for (const [i, plan] of PLANS.entries()) {
    const base = BASES[i]!;
    s.clock = base;
    const referral = realisticReferral(i);
    referrals.push(referral);
    const { threadId } = await s.ngo.cases.refer(referral);
    threadIds.push(threadId);
    await s.settle();
    const at = async (hours: number, act: (p: Party) => Promise<unknown>) => {
      s.clock = base + hours * HOUR;
      await act(s.shelterA);
      await s.settle();
    };
    if (plan.ack !== undefined) await at(plan.ack, (p) => p.cases.acknowledge(threadId, { note: `Bed check for Aigerimka${i}` }));
    if (plan.accept !== undefined) await at(plan.accept, (p) => p.cases.accept(threadId, { note: `Room 2${i} ready`, bedReserved: true }));
    if (plan.decline !== undefined) await at(plan.decline, (p) => p.cases.decline(threadId, { reasonCode: 'other', details: `No bed for a survivor with Fractured wrist${i}` }));
    s.clock += HOUR;
    const note = `Her brother Nurlan${i} called from Almaty`;
    freeText.push(note, `Bed check for Aigerimka${i}`, `No bed for a survivor with Fractured wrist${i}`);
    await s.ngo.cases.note(threadId, note);
    await s.settle();
  }
  // A tenth referral whose consent is withdrawn: purged everywhere, counted only as a withdrawal.
  s.clock = Date.UTC(2026, 11, 5, 9, 0);
  const withdrawn = realisticReferral(42);
  referrals.push(withdrawn);
  const { threadId: purgedId } = await s.ngo.cases.refer(withdrawn);
  threadIds.push(purgedId);
  await s.settle();
  s.clock += HOUR;
  await s.ngo.cases.withdrawConsent(purgedId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Recorder Zhanar Abenova' } });
  freeText.push('Recorder Zhanar Abenova');
  await s.settle();
  s.clock = Date.UTC(2026, 11, 6, 12, 0);
  return { s, referrals, threadIds, freeText };
}

let scenario: Awaited<ReturnType<typeof workedScenario>>;
beforeAll(async () => {
  scenario = await workedScenario();
});

describe('handover report: anonymous aggregate counts', () => {
  test('the fixture fills every personal field the schema has (so the leak check below walks all of them)', () => {
    const r = scenario.referrals[0]!;
    for (const [group, schema] of [
      ['identity', Identity],
      ['childGuardian', ChildGuardian],
      ['traffickingContext', TraffickingContext],
      ['riskSafety', RiskSafety],
      ['healthNeeds', HealthNeeds],
    ] as const) {
      const held = r[group] as Record<string, unknown>;
      for (const field of Object.keys(schema.shape)) {
        // The trafficking context's pick-list fields may stay as the example has them; every text field must be set.
        if (group === 'traffickingContext' && held[field] === undefined) continue;
        expect([group, field, held[field] !== undefined]).toEqual([group, field, true]);
      }
    }
    // And every group the schema has is one the walk visits and the fixture fills.
    for (const group of Object.keys(ReferralData.shape) as Array<keyof ReferralBody>) expect([group, r[group] !== undefined]).toEqual([group, true]);
  });

  test('counts by month, role, partner type and state, with small cells suppressed and one masked', async () => {
    const { s } = scenario;
    const report = await buildCaseReport(s.ngo.cases, { orgId: 'ngo-taraz', now: s.clock });
    expect(report).toMatchObject({
      kind: 'handover-aggregate-report',
      orgId: 'ngo-taraz',
      minCell: 5,
      referrals: 9,
      // November has 4 (< 5); December's 5 would give it away (9 - 5): masked.
      byMonth: { '2026-11': '<5', '2026-12': 'masked' },
      byRole: { sender: 9 },
      byPartnerOrgType: { iom: 9, shelter: 9 },
      byState: { accepted: 6, declined: '<5', expired: '<5' },
      consentWithdrawn: '<5',
    });
    // First responses after 1..8 hours; acceptances after 10..20 hours.
    expect(report.timeToAcknowledge).toEqual({ threads: 8, medianHours: 4.5, p90Hours: 8 });
    expect(report.timeToAccept).toEqual({ threads: 6, medianHours: 15, p90Hours: 20 });
  });

  test('the receiving org reports its own side: its role, the sender type', async () => {
    const { s } = scenario;
    const report = await buildCaseReport(s.shelterB.cases, { orgId: 'shelter-ist', now: s.clock });
    expect(report.byRole).toEqual({ receiving: 9 });
    expect(report.byPartnerOrgType).toEqual({ iom: 9, ngo: 9 });
  });

  test('no personal field of any referral, no case code, thread id, note or name appears in the report (JSON or CSV)', async () => {
    const { s, referrals, threadIds, freeText } = scenario;
    for (const party of [s.ngo, s.shelterA, s.iom]) {
      for (const opts of [{}, { from: '2026-12', to: '2026-12' }, { minCell: 1 }]) {
        const report = await buildCaseReport(party.cases, { orgId: party.transport.orgId, now: s.clock, ...opts });
        const published = `${JSON.stringify(report)}\n${reportCsv(report)}`;
        const forbidden = [...referrals.flatMap(personalValues), ...referrals.map((r) => r.identity.caseCode), ...threadIds, ...freeText];
        expect(forbidden.length).toBeGreaterThan(200);
        const leaked = forbidden.filter((v) => appears(v, published));
        expect(leaked).toEqual([]);
        // Partner org ids and device ids are not in it either (types only); the reporting org names itself.
        const others = ['ngo-taraz', 'shelter-ist', 'iom-ist'].filter((id) => id !== party.transport.orgId);
        for (const id of [...others, ...s.parties.map((p) => p.transport.deviceId)]) expect(published).not.toContain(id);
      }
    }
  });

  test('the leak check can fail: a report that carried a name would be caught', async () => {
    const { s, referrals } = scenario;
    const report = await buildCaseReport(s.ngo.cases, { orgId: 'ngo-taraz', now: s.clock });
    const tampered = `${JSON.stringify({ ...report, byMonth: { ...report.byMonth, [referrals[3]!.identity.firstName!]: 1 } })}`;
    expect(personalValues(referrals[3]!).filter((v) => appears(v, tampered))).toEqual([referrals[3]!.identity.firstName]);
  });

  test('a period counts the referrals made in it; a minimum cell size below 5 is not accepted', async () => {
    const { s } = scenario;
    const december = await buildCaseReport(s.ngo.cases, { orgId: 'ngo-taraz', now: s.clock, from: '2026-12', to: '2026-12', minCell: 2 });
    expect(december.minCell).toBe(5);
    expect(december.referrals).toBe(5);
    expect(december.byMonth).toEqual({ '2026-12': 5 });
    expect(december.period).toEqual({ from: '2026-12', to: '2026-12' });
    const none = await buildCaseReport(s.ngo.cases, { orgId: 'ngo-taraz', now: s.clock, to: '2026-10' });
    expect(none.referrals).toBe(0);
    expect(none.timeToAccept).toEqual({ threads: 0, medianHours: null, p90Hours: null });
  });

  test('CSV: one measure, group and value per row', async () => {
    const { s } = scenario;
    const csv = reportCsv(await buildCaseReport(s.ngo.cases, { orgId: 'ngo-taraz', now: s.clock }));
    const rows = csv.trimEnd().split('\r\n');
    expect(rows[0]).toBe('measure,group,value');
    expect(rows).toContain('referrals,total,9');
    expect(rows).toContain('referrals by month (UTC),2026-11,<5');
    expect(rows).toContain('time to accept (hours),median,15');
    expect(rows.every((r) => r.split(',').length === 3)).toBe(true);
  });
});

describe('aggregation on its own', () => {
  const fact = (month: string, state: ReportFacts['state'], ack: number | null = null): ReportFacts => ({
    month,
    role: 'receiving',
    partnerTypes: ['ngo'],
    state,
    hoursToAcknowledge: ack,
    hoursToAccept: null,
  });

  test('a total below the threshold hides everything; timings need enough threads', () => {
    const r = aggregateReport([fact('2026-01', 'sent', 3), fact('2026-01', 'accepted', 5)], [], { orgId: 'x', now: T0 });
    expect(r.referrals).toBe('<5');
    expect(r.byMonth).toEqual({ '2026-01': '<5' });
    expect(r.timeToAcknowledge).toEqual({ threads: '<5', medianHours: null, p90Hours: null });
  });

  test('two suppressed cells protect each other: nothing more is masked', () => {
    const facts = [...Array(6)].map(() => fact('2026-01', 'accepted')).concat([fact('2026-01', 'sent'), fact('2026-01', 'declined')]);
    expect(aggregateReport(facts, [], { orgId: 'x', now: T0 }).byState).toEqual({ accepted: 6, declined: '<5', sent: '<5' });
  });

  test('a thread without a referral, or without this org, contributes nothing', async () => {
    const { s, threadIds } = scenario;
    const t = await s.iom.cases.thread(threadIds[0]!);
    expect(reportFacts(t, 'some-other-org')).toBeNull();
    expect(reportFacts({ ...t, referral: null }, 'iom-ist')).toBeNull();
    expect(reportFacts(t, 'iom-ist')).toMatchObject({ role: 'coordinator', partnerTypes: ['ngo', 'shelter'], month: '2026-11' });
  });

  test('days apart still read as hours', () => {
    const late = aggregateReport([...Array(5)].map((_, i) => fact('2026-02', 'acknowledged', (i + 1) * 24)), [], { orgId: 'x', now: T0 + 30 * DAY });
    expect(late.timeToAcknowledge).toEqual({ threads: 5, medianHours: 72, p90Hours: 120 });
  });
});
