import { isHandoverError } from '../../../../shared/errors';
import { checkConsentScope, fieldGroupsOf, redactForRecipient, scopeViolations, withheldGroupsFor, type ScopeRequest } from '../../../../client/referral/domain/consent';
import { ReferralBody, type ConsentRecord } from '../../../../client/referral/domain/schemas';
import { T0, b64uDigest, exampleReferral } from './fixtures';

const consent: ConsentRecord = exampleReferral().consent;
const toShelter: ScopeRequest = {
  recipientOrgId: 'shelter-ist',
  recipientOrgType: 'shelter',
  fieldGroups: ['identity', 'legalName', 'riskSafety', 'healthNeeds'],
  purpose: 'services',
  now: T0,
};

function scopeError(req: ScopeRequest, record: ConsentRecord = consent) {
  try {
    checkConsentScope(record, req);
  } catch (err) {
    if (isHandoverError(err, 'CONSENT_SCOPE')) return err;
    throw err;
  }
  throw new Error('expected CONSENT_SCOPE');
}

describe('checkConsentScope', () => {
  test('in scope: the covered shelter for services', () => {
    expect(checkConsentScope(consent, toShelter)).toEqual({ overridden: false });
  });

  test.each<[string, Partial<ScopeRequest>, string]>([
    ['an org the consent does not cover', { recipientOrgId: 'shelter-ank' }, 'org-not-covered'],
    ['a purpose the consent does not cover', { purpose: 'legal' }, 'purpose-not-covered'],
    ['an expired consent', { now: consent.expiresAt }, 'expired'],
    ['a withheld group', { recipientOrgId: 'iom-ist', recipientOrgType: 'iom', fieldGroups: ['healthNeeds'] }, 'field-group-withheld'],
  ])('refuses %s with CONSENT_SCOPE and a human message', (_name, change, violation) => {
    const err = scopeError({ ...toShelter, ...change });
    expect(err.details?.violations).toEqual([violation]);
    expect(err.message).toMatch(/consent|withheld/);
  });

  test('an override with a written reason lets it through and reports what it overrode', () => {
    const decision = checkConsentScope(consent, {
      ...toShelter,
      recipientOrgId: 'shelter-ank',
      purpose: 'legal',
      override: { reason: '  Survivor unconscious; hospital needs history  ' },
    });
    expect(decision).toEqual({
      overridden: true,
      reason: 'Survivor unconscious; hospital needs history',
      violations: ['org-not-covered', 'purpose-not-covered'],
    });
  });

  test('an override without a written reason is no override', () => {
    expect(scopeError({ ...toShelter, recipientOrgId: 'shelter-ank', override: { reason: '   ' } }).message).toMatch(/written reason/);
  });

  test('a withdrawal cannot be overridden', () => {
    const err = scopeError({ ...toShelter, withdrawn: true, override: { reason: 'vital interest' } });
    expect(err.details?.violations).toEqual(['withdrawn']);
  });

  test('covering an org type covers every org of that type', () => {
    const byType: ConsentRecord = { ...consent, coveredOrgIds: [], coveredOrgTypes: ['shelter'] };
    expect(checkConsentScope(byType, { ...toShelter, recipientOrgId: 'shelter-ank' })).toEqual({ overridden: false });
    expect(scopeViolations(byType, { ...toShelter, recipientOrgId: 'iom-ist', recipientOrgType: 'iom', fieldGroups: [] })).toEqual(['org-not-covered']);
  });

  test('a life-threatening risk is shared even where the risk group is withheld', () => {
    const record: ConsentRecord = { ...consent, withheld: [{ fieldGroups: ['riskSafety'] }] };
    expect(scopeViolations(record, { ...toShelter, fieldGroups: ['riskSafety'] })).toEqual(['field-group-withheld']);
    expect(scopeViolations(record, { ...toShelter, fieldGroups: ['riskSafety'], lifeThreateningRisk: true })).toEqual([]);
  });
});

describe('withheld groups', () => {
  test('rules apply to the listed orgs and org types; a rule listing none applies to all', () => {
    const record: ConsentRecord = {
      ...consent,
      withheld: [
        { fieldGroups: ['healthNeeds'], fromOrgTypes: ['iom'] },
        { fieldGroups: ['traffickingContext'], fromOrgIds: ['shelter-ist'] },
        { fieldGroups: ['identity'] },
      ],
    };
    expect(withheldGroupsFor(record, { orgId: 'iom-ist', orgType: 'iom' }).sort()).toEqual(['healthNeeds', 'identity', 'legalName']);
    expect(withheldGroupsFor(record, { orgId: 'shelter-ist', orgType: 'shelter' }).sort()).toEqual(['identity', 'legalName', 'traffickingContext']);
  });
});

describe('redactForRecipient', () => {
  const referral = exampleReferral();

  test('removes the groups withheld from that recipient and nothing else', () => {
    const forIom = redactForRecipient(referral, referral.consent, { orgId: 'iom-ist', orgType: 'iom' });
    expect(forIom.healthNeeds).toBeUndefined();
    expect(forIom.identity).toEqual(referral.identity);
    expect(forIom.traffickingContext).toEqual(referral.traffickingContext);
    const forShelter = redactForRecipient(referral, referral.consent, { orgId: 'shelter-ist', orgType: 'shelter' });
    expect(forShelter).toEqual(referral);
    expect(referral.healthNeeds).toBeDefined(); // the input is not changed
  });

  test('withholding the legal name keeps the rest of identity; withholding identity keeps only the case code', () => {
    const legal: ConsentRecord = { ...referral.consent, withheld: [{ fieldGroups: ['legalName'] }] };
    const noName = redactForRecipient(referral, legal, { orgId: 'shelter-ist', orgType: 'shelter' });
    expect(noName.identity.firstName).toBeUndefined();
    expect(noName.identity.secondName).toBeUndefined();
    expect(noName.identity.citizenship).toEqual(['KZ']);
    expect(fieldGroupsOf(noName)).not.toContain('legalName');

    const all: ConsentRecord = { ...referral.consent, withheld: [{ fieldGroups: ['identity'] }] };
    const codeOnly = redactForRecipient(referral, all, { orgId: 'shelter-ist', orgType: 'shelter' });
    expect(codeOnly.identity).toEqual({ caseCode: 'TRZ-2026-0147' });
    expect(ReferralBody.safeParse(codeOnly).success).toBe(true);
  });

  test('files of a withheld group go with it', () => {
    const file = (id: string, relatesTo?: 'healthNeeds' | 'identity') => ({
      attachmentId: id,
      mediaType: 'application/pdf',
      size: 1000,
      ciphertextHash: b64uDigest(id, 32),
      key: b64uDigest(`${id}-key`, 32),
      ...(relatesTo ? { relatesTo } : {}),
    });
    const withFiles: ReferralBody = { ...referral, attachments: [file('medical-note', 'healthNeeds'), file('passport-scan', 'identity'), file('photo')] };
    const forIom = redactForRecipient(withFiles, withFiles.consent, { orgId: 'iom-ist', orgType: 'iom' });
    expect(forIom.attachments?.map((a) => a.attachmentId)).toEqual(['passport-scan', 'photo']);
    expect(fieldGroupsOf(withFiles)).toContain('healthNeeds');
    const noFiles: ConsentRecord = { ...withFiles.consent, withheld: [{ fieldGroups: ['attachments'] }] };
    expect(redactForRecipient(withFiles, noFiles, { orgId: 'iom-ist', orgType: 'iom' }).attachments).toBeUndefined();
  });

  test('a life-threatening risk stays in the referral even when withheld', () => {
    const record: ConsentRecord = { ...referral.consent, withheld: [{ fieldGroups: ['riskSafety'] }] };
    const ordinary = redactForRecipient(referral, record, { orgId: 'shelter-ist', orgType: 'shelter' });
    expect(ordinary.riskSafety).toBeUndefined();
    const danger: ReferralBody = { ...referral, riskSafety: { ...referral.riskSafety!, lifeThreatening: true } };
    expect(redactForRecipient(danger, record, { orgId: 'shelter-ist', orgType: 'shelter' }).riskSafety?.lifeThreatening).toBe(true);
  });

  test('what redaction sends to a recipient always passes that recipient’s scope check', () => {
    const recipient = { orgId: 'iom-ist', orgType: 'iom' } as const;
    const sent = redactForRecipient(referral, referral.consent, recipient);
    const req = { recipientOrgId: recipient.orgId, recipientOrgType: recipient.orgType, purpose: 'return' as const, now: T0 };
    expect(checkConsentScope(referral.consent, { ...req, fieldGroups: fieldGroupsOf(sent) })).toEqual({ overridden: false });
    expect(scopeViolations(referral.consent, { ...req, fieldGroups: fieldGroupsOf(referral) })).toEqual(['field-group-withheld']);
  });
});

describe('fieldGroupsOf', () => {
  test('a case code alone discloses no identity group', () => {
    expect(fieldGroupsOf({ identity: { caseCode: 'TRZ-1' } })).toEqual([]);
    expect(fieldGroupsOf({ identity: { caseCode: 'TRZ-1', gender: 'Feminine' } })).toEqual(['identity']);
    expect(fieldGroupsOf({ identity: { caseCode: 'TRZ-1', firstName: 'A' } }).sort()).toEqual(['identity', 'legalName']);
    expect(fieldGroupsOf(exampleReferral()).sort()).toEqual(['healthNeeds', 'identity', 'legalName', 'riskSafety', 'traffickingContext']);
  });
});
