/**
 * Per-org withholding in the new-referral form, as view state: which groups
 * go to whom. The form's choices become the consent's own rules; the rows of
 * the preview are the case layer's plan for each recipient, never the form's
 * own idea of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ReferralBody, planReferral, redactForRecipient } from '../../../client/referral';
import { FORM_SECTIONS, buildReferral, disclosureRows, formRecipients, orgTypeRows, previewLine, withheldRules } from '../../../client/web/src/referral-form';
import { setLanguage } from '../../../client/web/src/i18n';

const example = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/referral.json'), 'utf8')) as ReferralBody;
const now = example.consent.givenAt + 1000;

/** The form's values as the example referral would fill them. */
function exampleValues(): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const get = (obj: unknown, p: string) => p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
  for (const section of FORM_SECTIONS) for (const field of section.fields) values.set(field, get(example, field));
  values.set('consent.coveredOrgIds', ['shelter-ist', 'iom-ist']);
  return values;
}

it('turns per-org choices into the consent\'s own rules, for recipients only', () => {
  const rules = withheldRules({ all: ['healthNeeds'], byOrg: new Map([['iom-ist', ['identity', 'riskSafety', 'healthNeeds']], ['ngo-gone', ['identity']]]) }, ['shelter-ist', 'iom-ist']);
  // Already withheld from everyone is not repeated; an org that is no longer a recipient gets no rule.
  expect(rules).toEqual([{ fieldGroups: ['healthNeeds'] }, { fieldGroups: ['identity', 'riskSafety'], fromOrgIds: ['iom-ist'] }]);
  expect(withheldRules({ all: [] }, ['shelter-ist'])).toEqual([]);
  expect(formRecipients(exampleValues()).map((r) => r.orgId)).toEqual(['shelter-ist', 'iom-ist']);
});

it('shows each recipient exactly the groups the case layer would send it', () => {
  const body = buildReferral(exampleValues(), example.consent.givenAt, { all: [], byOrg: new Map([['iom-ist', ['identity', 'riskSafety']]]) }) as ReferralBody;
  expect(body.consent.withheld).toEqual([{ fieldGroups: ['identity', 'riskSafety'], fromOrgIds: ['iom-ist'] }]);
  const rows = disclosureRows(body, now);
  const shelter = rows.find((r) => r.orgId === 'shelter-ist');
  const iom = rows.find((r) => r.orgId === 'iom-ist');
  expect(shelter).toMatchObject({ withheld: [], violations: [] });
  expect(shelter?.receives).toEqual(expect.arrayContaining(['identity', 'legalName', 'riskSafety']));
  // Withholding identity withholds the legal name too (the domain rule).
  expect(iom?.withheld.sort()).toEqual(['identity', 'legalName', 'riskSafety']);
  expect(iom?.receives).not.toEqual(expect.arrayContaining(['identity']));
  expect(iom?.receives).not.toContain('legalName');
  expect(iom?.receives).not.toContain('riskSafety');
  // The same answer as the plan the case layer sends by, and as the redaction itself.
  const plan = planReferral(body, { recipients: [body.header.referredOrganisation, ...body.header.coordinators], purpose: body.header.purpose, now });
  for (const r of plan.recipients) expect(rows.find((x) => x.orgId === r.orgId)?.receives).toEqual(r.fieldGroups);
  const atIom = redactForRecipient(body, body.consent, { orgId: 'iom-ist', orgType: 'iom' });
  expect(atIom.identity).toEqual({ caseCode: example.identity.caseCode });
  expect(atIom.riskSafety).toBeUndefined();
  expect(previewLine(iom!)).toMatch(/^iom-ist \(IOM\): receives .*; withheld: .*Risk and safety/);
});

it('says when the consent does not allow a recipient, by the case layer\'s reasons, and shares a life-threatening risk anyway', () => {
  const values = exampleValues();
  values.set('consent.coveredOrgIds', ['shelter-ist']);
  const rows = disclosureRows(buildReferral(values, example.consent.givenAt) as ReferralBody, now);
  expect(rows.find((r) => r.orgId === 'iom-ist')).toMatchObject({ receives: [], violations: ['org-not-covered'] });
  // The case layer would send it with a written vital-interest reason: the line says what it would then receive.
  expect(rows.find((r) => r.orgId === 'iom-ist')).toMatchObject({ overridable: true });
  expect(previewLine(rows.find((r) => r.orgId === 'iom-ist')!)).toMatch(/^iom-ist \(IOM\): outside the consent \(the consent does not cover this organisation\); would receive .*Identity.* only with a vital-interest override$/);
  // After a withdrawal nothing can override it: the plain refusal.
  const final = disclosureRows(buildReferral(values, example.consent.givenAt) as ReferralBody, now, { withdrawn: true }).find((r) => r.orgId === 'iom-ist')!;
  expect(previewLine(final)).toBe('iom-ist (IOM): receives nothing — the consent does not allow it (the survivor has withdrawn consent; the consent does not cover this organisation)');
  expect(rows.find((r) => r.orgId === 'shelter-ist')?.violations).toEqual([]);

  const urgent = exampleValues();
  urgent.set('riskSafety.lifeThreatening', true);
  const body = buildReferral(urgent, example.consent.givenAt, { all: [], byOrg: new Map([['iom-ist', ['riskSafety']]]) }) as ReferralBody;
  const iom = disclosureRows(body, now).find((r) => r.orgId === 'iom-ist');
  expect(iom).toMatchObject({ sharedAnyway: ['riskSafety'], withheld: [] });
  expect(iom?.receives).toContain('riskSafety');
  expect(previewLine(iom!)).toMatch(/Shared anyway because the risk is life-threatening: Risk and safety\.$/);
});

it('withholds groups from every org of a type: rows for the certified types, labelled in the user\'s language, and the consent\'s fromOrgTypes rules', () => {
  expect(orgTypeRows().map((r) => [r.orgType, r.label])).toEqual([['ngo', 'NGO'], ['iom', 'IOM'], ['shelter', 'Shelter'], ['authority', 'Public authority']]);
  setLanguage('ru');
  try {
    expect(orgTypeRows(new Map([['authority', ['identity']]])).find((r) => r.orgType === 'authority')).toEqual({ orgType: 'authority', label: 'Государственный орган', groups: ['identity'] });
  } finally {
    setLanguage('en');
  }
  // A type's rule stays although no recipient has that type now (it binds an org added later); groups withheld from all are not repeated.
  const rules = withheldRules({ all: ['healthNeeds'], byType: new Map([['authority', ['identity', 'healthNeeds']], ['iom', ['riskSafety']], ['alien', ['identity']]]) }, ['shelter-ist']);
  expect(rules).toEqual([{ fieldGroups: ['healthNeeds'] }, { fieldGroups: ['riskSafety'], fromOrgTypes: ['iom'] }, { fieldGroups: ['identity'], fromOrgTypes: ['authority'] }]);
});

it('previews an org-type rule per recipient, as the case layer plans it', () => {
  const body = buildReferral(exampleValues(), example.consent.givenAt, { all: [], byType: new Map([['iom', ['identity', 'traffickingContext']]]) }) as ReferralBody;
  expect(body.consent.withheld).toEqual([{ fieldGroups: ['identity', 'traffickingContext'], fromOrgTypes: ['iom'] }]);
  const rows = disclosureRows(body, now);
  const iom = rows.find((r) => r.orgId === 'iom-ist')!;
  expect(iom.withheld.sort()).toEqual(['identity', 'legalName', 'traffickingContext']);
  expect(iom.receives).not.toContain('identity');
  expect(rows.find((r) => r.orgId === 'shelter-ist')?.receives).toEqual(expect.arrayContaining(['identity', 'legalName', 'traffickingContext']));
  const plan = planReferral(body, { recipients: [body.header.referredOrganisation, ...body.header.coordinators], purpose: body.header.purpose, now });
  for (const r of plan.recipients) expect(rows.find((x) => x.orgId === r.orgId)?.receives).toEqual(r.fieldGroups);
  setLanguage('ru');
  try {
    expect(previewLine(iom)).toMatch(/^iom-ist \(МОМ\): /);
  } finally {
    setLanguage('en');
  }
});
