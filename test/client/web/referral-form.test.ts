/**
 * The referral form's view logic, without a browser: controls derived from
 * the referral schema, the body the form builds, and issue messages.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HTCDS_EXPLOITATION_TYPES, HTCDS_TRAFFICKING_STATUSES, ReferralBody, planReferral, redactForRecipient } from '../../../client/referral';
import { FORM_SECTIONS, buildReferral, disclosureRows, disclosurePreview, fieldKind, issueMessage, optionalGroups, overrideReasonProblem, referralOverride } from '../../../client/web/src/referral-form';
import { COUNTRY_CODES, countryCodeFor, countryName, countryOptions } from '../../../client/web/src/countries';
import { CountryCode } from '../../../shared';
import { setLanguage } from '../../../client/web/src/i18n';
import { inboxOrder } from '../../../client/web/src/inbox';
import { addParticipantDecision, allowedActions } from '../../../client/web/src/thread';
import { en } from '../../../client/web/src/i18n/en';
import { ru } from '../../../client/web/src/i18n/ru';
import type { ThreadSummary } from '../../../client/referral';

it('derives each control from the schema type of its field', () => {
  expect(fieldKind('header.priority')).toEqual({ kind: 'select', options: ['emergency', 'urgent', 'normal'] });
  expect(fieldKind('consent.purposes')).toMatchObject({ kind: 'checks' });
  expect(fieldKind('consent.coveredOrgIds')).toEqual({ kind: 'orgs', idsOnly: true });
  expect(fieldKind('header.referredOrganisation')).toEqual({ kind: 'org' });
  expect(fieldKind('header.coordinators')).toEqual({ kind: 'orgs', idsOnly: false });
  expect(fieldKind('consent.expiresAt')).toEqual({ kind: 'timestamp' });
  expect(fieldKind('riskSafety.lifeThreatening')).toEqual({ kind: 'boolean' });
  expect(fieldKind('header.referralDetails')).toMatchObject({ kind: 'text', long: true, max: 4000 });
  expect(fieldKind('identity.birthdate')).toMatchObject({ kind: 'text', date: true });
  expect(() => fieldKind('identity.nickname')).toThrow(/no field/);
});

it('has a label in the catalogue for every field it shows, and the consent first', () => {
  expect(FORM_SECTIONS[0]?.key).toBe('form.section.consent');
  for (const section of FORM_SECTIONS) for (const field of section.fields) expect(Object.keys(en)).toContain(`field.${field}`);
});

it('builds a referral the schema accepts from the form values, leaving an untouched optional section out', () => {
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
  const values = new Map<string, unknown>();
  const get = (obj: unknown, p: string) => p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
  for (const section of FORM_SECTIONS) for (const field of section.fields) values.set(field, section.optional ? (field.endsWith('Level') ? undefined : false) : get(example, field));
  const now = example.consent.givenAt;
  const body = buildReferral(values, now);
  const parsed = ReferralBody.safeParse(body);
  expect(parsed.success).toBe(true);
  expect(body).not.toHaveProperty('riskSafety');
  expect(body).toMatchObject({ consent: { givenAt: now, withheld: [], recordedBy: { name: 'Dana Seitkali' } }, header: { coordinators: [{ orgId: 'iom-ist', orgType: 'iom' }] } });
  expect(buildReferral(new Map(), 0)).toMatchObject({ header: { coordinators: [] } });
});

it('previews what each recipient receives and what the consent withholds from it', () => {
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
  const lines = disclosurePreview(example, example.consent.givenAt + 1000);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^shelter-ist \(Shelter\): receives .*Health needs.*; withheld: —$/);
  expect(lines[1]).toMatch(/^iom-ist \(IOM\): receives .*; withheld: Health needs$/);
  const withheld = buildReferral(new Map([['identity.caseCode', 'X-1']]), 0, ['riskSafety', 'healthNeeds']) as { consent: { withheld: unknown } };
  expect(withheld.consent.withheld).toEqual([{ fieldGroups: ['riskSafety', 'healthNeeds'] }]);
});

it('names each missing field of a required section, in words', () => {
  const parsed = ReferralBody.safeParse(buildReferral(new Map(), 0));
  expect(parsed.success).toBe(false);
  const paths = parsed.error?.issues.map((i) => i.path.join('.')) ?? [];
  expect(paths).toEqual(expect.arrayContaining(['identity.caseCode', 'header.priority', 'consent.purposes']));
  expect(issueMessage({ code: 'invalid_type', message: '', input: undefined })).toBe('Required.');
  expect(issueMessage({ code: 'too_small', message: '', origin: 'array' })).toBe('Choose at least one.');
  expect(issueMessage({ code: 'too_big', message: '', maximum: 100 })).toBe('Too long (at most 100).');
  expect(issueMessage({ code: 'invalid_format', message: '' })).toBe('Not in the expected format.');
});

it('orders the inbox overdue first, then due soonest, then by priority', () => {
  const base: ThreadSummary = { threadId: 'x', status: 'sent', priority: 'normal', overdue: false, respondedLate: false, responseDeadline: null, caseCode: 'C', role: 'receiving', participants: [], lastEventAt: 0, rejected: 0, dropped: 0, securityWarnings: 0, purged: false };
  const threads: ThreadSummary[] = [
    { ...base, threadId: 'accepted', status: 'accepted', priority: 'emergency', responseDeadline: 1 },
    { ...base, threadId: 'later', responseDeadline: 500 },
    { ...base, threadId: 'overdue', status: 'expired', overdue: true, responseDeadline: 900 },
    { ...base, threadId: 'soon', responseDeadline: 100 },
  ];
  expect(threads.sort(inboxOrder).map((t) => t.threadId)).toEqual(['overdue', 'soon', 'later', 'accepted']);
});

it('offers each role the actions the state machine allows it now', () => {
  expect(allowedActions('sent', 'receiving')).toEqual(['acknowledge', 'accept', 'decline', 'request-info', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('acknowledged', 'receiving')).toEqual(['accept', 'decline', 'request-info', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('accepted', 'receiving')).toEqual(['schedule', 'arrived', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('intake-scheduled', 'receiving')).toEqual(['schedule', 'arrived', 'no-show', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('arrived', 'receiving')).toEqual(['start-service', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('in-service', 'receiving')).toEqual(['complete-service', 'note', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('info-requested', 'sender')).toEqual(['provide-info', 'note', 'withdraw', 'close', 'withdraw-consent', 'add-participant']);
  expect(allowedActions('completed', 'sender')).toEqual(['note', 'close', 'withdraw-consent']);
  expect(allowedActions('closed', 'sender')).toEqual(['note', 'withdraw-consent']);
  // Return steps: IOM offices only, whatever their role, until the case ends.
  expect(allowedActions('accepted', 'coordinator', 'iom')).toEqual(['note', 'return-step']);
  expect(allowedActions('accepted', 'coordinator', 'ngo')).toEqual(['note']);
  expect(allowedActions('closed', 'coordinator', 'iom')).toEqual(['note']);
  expect(allowedActions('sent', 'coordinator')).toEqual(['note']);
  expect(allowedActions('consent-withdrawn', 'receiving')).toEqual([]);
  expect(allowedActions(null, null)).toEqual([]);
});

describe('the optional HTCDS groups', () => {
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
  const get = (obj: unknown, p: string) => p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
  /** The form's values as the example fills them, unticked boxes false and empty checks [] (as the controls read). */
  const exampleValues = () => {
    const values = new Map<string, unknown>();
    for (const section of FORM_SECTIONS) {
      for (const field of section.fields) {
        const kind = fieldKind(field).kind;
        const v = get(example, field);
        values.set(field, v ?? (kind === 'boolean' ? false : kind === 'checks' || kind === 'orgs' ? [] : undefined));
      }
    }
    return values;
  };
  afterEach(() => setLanguage('en'));

  it('offers every group of the referral but the attachments as a section, optional where the schema lets it be absent', () => {
    const roots = FORM_SECTIONS.map((s) => s.fields[0]?.split('.')[0]);
    expect(roots).toEqual(['consent', 'header', 'identity', 'childGuardian', 'traffickingContext', 'riskSafety', 'healthNeeds']);
    expect(Object.keys(ReferralBody.shape).filter((k) => !roots.includes(k))).toEqual(['attachments']);
    for (const section of FORM_SECTIONS) {
      const root = section.fields[0]?.split('.')[0] as string;
      expect([root, Boolean(section.optional)]).toEqual([root, ReferralBody.shape[root as keyof typeof ReferralBody.shape].safeParse(undefined).success]);
      for (const field of section.fields) expect(field.split('.')[0]).toBe(root);
    }
    // Every field the schema has in the new groups is on the form.
    for (const group of ['childGuardian', 'traffickingContext', 'healthNeeds'] as const) {
      const fields = FORM_SECTIONS.find((s) => s.fields[0]?.startsWith(`${group}.`))?.fields ?? [];
      const shape = (ReferralBody.shape[group].unwrap() as unknown as { shape: Record<string, unknown> }).shape;
      expect(fields).toEqual(Object.keys(shape).map((k) => `${group}.${k}`));
    }
    expect(FORM_SECTIONS.find((s) => s.key === 'form.section.riskSafety')?.fields).toEqual(
      expect.arrayContaining(['riskSafety.safetyInstructions.whoMayVisit', 'riskSafety.safetyInstructions.codeWord', 'riskSafety.safetyInstructions.transport', 'riskSafety.safetyInstructions.other']),
    );
  });

  it('derives their controls from the schema: pick-lists, checks, booleans, texts, a country code', () => {
    expect(fieldKind('traffickingContext.traffickingStatus')).toEqual({ kind: 'select', options: HTCDS_TRAFFICKING_STATUSES });
    expect(fieldKind('traffickingContext.typeOfExploitation')).toEqual({ kind: 'checks', options: HTCDS_EXPLOITATION_TYPES });
    expect(fieldKind('traffickingContext.methodsOfControl')).toMatchObject({ kind: 'checks' });
    expect(fieldKind('traffickingContext.methodOfRecruitment')).toMatchObject({ kind: 'checks' });
    expect(fieldKind('traffickingContext.forcedLabourIndustry')).toMatchObject({ kind: 'select' });
    expect(fieldKind('traffickingContext.recruitmentDetails')).toMatchObject({ kind: 'text', long: true, max: 4000 });
    expect(fieldKind('traffickingContext.countryOfExploitation')).toEqual({ kind: 'country' });
    expect(fieldKind('childGuardian.isChild')).toEqual({ kind: 'boolean' });
    expect(fieldKind('childGuardian.caregiverName')).toMatchObject({ kind: 'text', long: false, max: 100 });
    expect(fieldKind('healthNeeds.fitToTravel')).toEqual({ kind: 'select', options: ['yes', 'no', 'unknown'] });
    expect(fieldKind('riskSafety.safetyInstructions.codeWord')).toMatchObject({ kind: 'text', max: 100 });
    // The groups a field is in that may be absent, outermost first.
    expect(optionalGroups('riskSafety.safetyInstructions.codeWord')).toEqual(['riskSafety', 'riskSafety.safetyInstructions']);
    expect(optionalGroups('traffickingContext.typeOfExploitation')).toEqual(['traffickingContext']);
    expect(optionalGroups('identity.caseCode')).toEqual([]);
    expect(optionalGroups('header.referringPrimaryCaseWorker.name')).toEqual([]);
  });

  it('sends each filled group as the schema has it, and leaves untouched groups out', () => {
    const body = buildReferral(exampleValues(), example.consent.givenAt);
    const parsed = ReferralBody.safeParse(body);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.traffickingContext).toEqual(example.traffickingContext);
    expect(parsed.data?.riskSafety).toEqual(example.riskSafety);
    expect(parsed.data?.healthNeeds).toEqual(example.healthNeeds);
    // The example has no child: its boxes unticked and its texts empty are no answer.
    expect(body).not.toHaveProperty('childGuardian');
    // A risk section without safety instructions has none (not an empty object).
    const noInstructions = exampleValues();
    for (const key of noInstructions.keys()) if (key.startsWith('riskSafety.safetyInstructions.')) noInstructions.set(key, undefined);
    const withoutInstructions = buildReferral(noInstructions, example.consent.givenAt) as { riskSafety: Record<string, unknown> };
    expect(withoutInstructions.riskSafety).toEqual({ riskLevel: 'high', lifeThreatening: false, retaliationRisk: true, reTraffickingRisk: true });
    // One box of the child's group is an answer: the group goes, its other booleans false.
    const child = exampleValues();
    child.set('childGuardian.isChild', true);
    child.set('childGuardian.caregiverName', 'Aunt');
    expect(ReferralBody.parse(buildReferral(child, example.consent.givenAt)).childGuardian).toEqual({ isChild: true, unaccompanied: false, separated: false, caregiverName: 'Aunt', caregiverInformed: false });
  });

  it('checks a partly filled group with the schema\'s own rules, the messages in the user\'s language', () => {
    const values = exampleValues();
    for (const key of values.keys()) if (key.startsWith('traffickingContext.')) values.set(key, fieldKind(key).kind === 'checks' ? [] : undefined);
    values.set('traffickingContext.recruitmentDetails', 'Met through a cousin');
    values.set('traffickingContext.countryOfExploitation', 'Turkey');
    // Only the safety instructions' code word: the risk section is answered, so its risk level is missing.
    for (const key of values.keys()) if (key.startsWith('riskSafety.')) values.set(key, fieldKind(key).kind === 'boolean' ? false : undefined);
    values.set('riskSafety.safetyInstructions.codeWord', 'Aport');
    const parsed = ReferralBody.safeParse(buildReferral(values, example.consent.givenAt));
    expect(parsed.success).toBe(false);
    const issues = new Map((parsed.error?.issues ?? []).map((i) => [i.path.join('.'), i]));
    expect([...issues.keys()].sort()).toEqual(['riskSafety.riskLevel', 'traffickingContext.countryOfExploitation', 'traffickingContext.traffickingStatus', 'traffickingContext.typeOfExploitation']);
    const message = (p: string) => issueMessage(issues.get(p) as unknown as Parameters<typeof issueMessage>[0]);
    expect(message('traffickingContext.traffickingStatus')).toBe('Required.');
    expect(message('traffickingContext.typeOfExploitation')).toBe('Choose at least one.');
    expect(message('traffickingContext.countryOfExploitation')).toBe('Not in the expected format.');
    setLanguage('ru');
    expect(message('traffickingContext.traffickingStatus')).toBe(ru['form.error.required']);
    expect(message('traffickingContext.typeOfExploitation')).toBe(ru['form.error.choose']);
    expect(message('riskSafety.riskLevel')).toBe(ru['form.error.required']);
  });

  it('withholds the trafficking context from the one org the consent says, in the preview as in what it is sent', () => {
    const values = exampleValues();
    values.set('consent.coveredOrgIds', ['shelter-ist', 'iom-ist']);
    const body = buildReferral(values, example.consent.givenAt, { all: [], byOrg: new Map([['iom-ist', ['traffickingContext']]]) }) as ReferralBody;
    const rows = disclosureRows(body, example.consent.givenAt + 1000);
    expect(rows.find((r) => r.orgId === 'iom-ist')?.withheld).toContain('traffickingContext');
    expect(rows.find((r) => r.orgId === 'iom-ist')?.receives).not.toContain('traffickingContext');
    expect(rows.find((r) => r.orgId === 'shelter-ist')?.receives).toContain('traffickingContext');
    expect(redactForRecipient(body, body.consent, { orgId: 'iom-ist', orgType: 'iom' }).traffickingContext).toBeUndefined();
    expect(redactForRecipient(body, body.consent, { orgId: 'shelter-ist', orgType: 'shelter' }).traffickingContext).toEqual(example.traffickingContext);
  });
});

describe('sending outside the consent: the vital-interest override', () => {
  const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
  const now = example.consent.givenAt + 1000;
  const outside = (): ReferralBody => ({ ...example, consent: { ...example.consent, coveredOrgIds: ['shelter-ist'], coveredOrgTypes: [] } });
  afterEach(() => setLanguage('en'));

  it('asks for a written reason only when some recipient is outside the consent, as the case layer would send it', () => {
    expect(referralOverride(disclosureRows(example, now))).toEqual({ kind: 'none' });
    const rows = disclosureRows(outside(), now);
    expect(referralOverride(rows)).toEqual({ kind: 'overridable', orgIds: ['iom-ist'] });
    // With the override, IOM would get what the consent's withholding leaves it (the example withholds health needs from it).
    const iom = rows.find((r) => r.orgId === 'iom-ist')!;
    expect(iom.overrideReceives).toContain('identity');
    expect(iom.overrideReceives).not.toContain('healthNeeds');
    // The case layer's own plan agrees: refused without a reason, planned with one and marked as an override.
    expect(() => planReferral(outside(), { recipients: [{ orgId: 'iom-ist', orgType: 'iom' }], purpose: example.header.purpose, now })).toThrow(/vital-interest/);
    const plan = planReferral(outside(), { recipients: [{ orgId: 'iom-ist', orgType: 'iom' }], purpose: example.header.purpose, now, overrideReason: 'Life at risk tonight' });
    expect(plan.recipients[0]).toMatchObject({ override: { reason: 'Life at risk tonight', violations: ['org-not-covered'] }, fieldGroups: iom.overrideReceives });
  });

  it('refuses where nothing can override it: after a withdrawal, as the thread\'s add-org rule', () => {
    const decision = referralOverride(disclosureRows(outside(), now, { withdrawn: true }));
    expect(decision).toEqual({ kind: 'refused', orgIds: ['shelter-ist', 'iom-ist'], violations: ['withdrawn', 'org-not-covered'] });
    expect(addParticipantDecision(outside().consent, { orgId: 'iom-ist', orgType: 'iom' }, 'services', now, true)).toMatchObject({ overridable: false });
    expect(addParticipantDecision(outside().consent, { orgId: 'iom-ist', orgType: 'iom' }, 'services', now)).toMatchObject({ overridable: true });
  });

  it('checks the written reason as the override event does, the message in the user\'s language', () => {
    expect(overrideReasonProblem('   ')).toBe('Write the vital-interest reason first.');
    expect(overrideReasonProblem('x'.repeat(501))).toBe('Too long (at most 500).');
    expect(overrideReasonProblem('bad\u0007bell')).toBe('Not in the expected format.');
    expect(overrideReasonProblem(' Trafficker seen near the shelter ')).toBeNull();
    setLanguage('ru');
    expect(overrideReasonProblem('')).toBe(ru['form.override.required']);
  });
});

describe('the country picker', () => {
  afterEach(() => setLanguage('en'));

  it('is the control of the schema\'s country codes', () => {
    expect(fieldKind('traffickingContext.countryOfExploitation')).toEqual({ kind: 'country' });
  });

  it('lists every ISO 3166-1 alpha-2 code once, each a code the schema accepts, named in the language', () => {
    expect(COUNTRY_CODES).toHaveLength(249);
    expect(new Set(COUNTRY_CODES).size).toBe(249);
    for (const code of COUNTRY_CODES) expect(CountryCode.safeParse(code).success).toBe(true);
    expect(countryName('TR', 'ru')).toBe('Турция');
    expect(countryName('KZ', 'en')).toBe('Kazakhstan');
    const ru = countryOptions('ru');
    expect(ru).toHaveLength(249);
    expect(ru.find((o) => o.code === 'DE')?.name).toBe('Германия');
    // Sorted as the language sorts its names.
    const names = ru.map((o) => o.name);
    expect([...names].sort((a, b) => a.localeCompare(b, 'ru'))).toEqual(names);
  });

  it('maps a typed name back to its code in the current language, any case; a code still works', () => {
    expect(countryCodeFor('турция', 'ru')).toBe('TR');
    expect(countryCodeFor('  КАЗАХСТАН ', 'ru')).toBe('KZ');
    expect(countryCodeFor('türkiye', 'tr')).toBe('TR');
    expect(countryCodeFor('Germany', 'en')).toBe('DE');
    expect(countryCodeFor('tr', 'ru')).toBe('TR');
    expect(countryCodeFor('Turkey (TR)', 'en')).toBe('TR');
    expect(countryCodeFor('', 'en')).toBeUndefined();
    // Not a country in this language: left as typed, for the schema's own check to refuse.
    const unknown = countryCodeFor('Atlantis', 'en');
    expect(unknown).toBe('Atlantis');
    expect(CountryCode.safeParse(unknown).success).toBe(false);
    expect(CountryCode.safeParse(countryCodeFor('Турция', 'ru')).success).toBe(true);
  });
});
