/**
 * The referral form's view logic, without a browser: controls derived from
 * the referral schema, the body the form builds, and issue messages.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ReferralBody } from '../../../client/referral';
import { FORM_SECTIONS, buildReferral, disclosurePreview, fieldKind, issueMessage } from '../../../client/web/src/referral-form';
import { inboxOrder } from '../../../client/web/src/inbox';
import { allowedActions } from '../../../client/web/src/thread';
import { en } from '../../../client/web/src/i18n/en';
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
