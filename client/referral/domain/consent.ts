/**
 * Consent gates sending (docs/DOMAIN.md "Consent"). A client checks the scope
 * before it sends a referral, sends more data, or adds an org to a thread,
 * and strips the field groups the survivor withheld from that recipient.
 * A new referral's consent must also not run longer than a bound (a year
 * by default) after it was given.
 */
import { DAY_MS, HandoverError } from '../../../shared';
import type { ConsentRecord, FieldGroup, OrgTypeName, Purpose, ReferralBody, ReferralData } from './schemas';

export interface Recipient {
  orgId: string;
  orgType: OrgTypeName;
}

export type ScopeViolation = 'withdrawn' | 'expired' | 'org-not-covered' | 'purpose-not-covered' | 'field-group-withheld';

export interface ScopeRequest {
  recipientOrgId: string;
  recipientOrgType: OrgTypeName;
  /** The groups that would reach the recipient (see `fieldGroupsOf`). */
  fieldGroups: readonly FieldGroup[];
  purpose: Purpose;
  now: number;
  /** The survivor withdrew consent in this thread (from the thread state). */
  withdrawn?: boolean;
  /** A life-threatening risk is always shared: `riskSafety` then passes even when withheld. */
  lifeThreateningRisk?: boolean;
  /** Vital-interest override: sending goes ahead and the caller records a visible override event. */
  override?: { reason: string };
}

export type ScopeDecision = { overridden: false } | { overridden: true; reason: string; violations: ScopeViolation[] };

/** The field groups the consent hides from one recipient (`identity` implies `legalName`). */
export function withheldGroupsFor(consent: ConsentRecord, recipient: Recipient): FieldGroup[] {
  const groups = new Set<FieldGroup>();
  for (const rule of consent.withheld) {
    const listsNobody = !rule.fromOrgIds?.length && !rule.fromOrgTypes?.length;
    const applies =
      listsNobody || (rule.fromOrgIds?.includes(recipient.orgId) ?? false) || (rule.fromOrgTypes?.includes(recipient.orgType) ?? false);
    if (applies) for (const group of rule.fieldGroups) groups.add(group);
  }
  if (groups.has('identity')) groups.add('legalName');
  return [...groups];
}

/** Every way the request falls outside the consent; empty when it is in scope. */
export function scopeViolations(consent: ConsentRecord, req: ScopeRequest): ScopeViolation[] {
  const violations: ScopeViolation[] = [];
  if (req.withdrawn) violations.push('withdrawn');
  if (req.now >= consent.expiresAt) violations.push('expired');
  const orgCovered = consent.coveredOrgIds.includes(req.recipientOrgId) || consent.coveredOrgTypes.includes(req.recipientOrgType);
  if (!orgCovered) violations.push('org-not-covered');
  if (!consent.purposes.includes(req.purpose)) violations.push('purpose-not-covered');
  const withheld = withheldGroupsFor(consent, { orgId: req.recipientOrgId, orgType: req.recipientOrgType });
  const blocked = req.fieldGroups.filter((g) => withheld.includes(g) && !(g === 'riskSafety' && req.lifeThreateningRisk));
  if (blocked.length > 0) violations.push('field-group-withheld');
  return violations;
}

const EXPLAIN: Record<ScopeViolation, string> = {
  withdrawn: 'the survivor has withdrawn consent',
  expired: 'the consent has expired',
  'org-not-covered': 'the consent does not cover this organisation',
  'purpose-not-covered': 'the consent does not cover this purpose',
  'field-group-withheld': 'the survivor withheld some of this information from this organisation',
};

/**
 * Throws CONSENT_SCOPE when sending to the recipient is outside the consent.
 * With an override that has a written reason it returns `overridden: true`
 * instead, and the caller must record a signed `consent.override` event.
 * A withdrawal cannot be overridden: every participant has been asked to
 * purge, so data sent after it would contradict that request.
 */
export function checkConsentScope(consent: ConsentRecord, req: ScopeRequest): ScopeDecision {
  const violations = scopeViolations(consent, req);
  if (violations.length === 0) return { overridden: false };
  const details = { recipientOrgId: req.recipientOrgId, purpose: req.purpose, violations };
  const explained = violations.map((v) => EXPLAIN[v]).join('; ');
  if (violations.includes('withdrawn')) {
    throw new HandoverError('CONSENT_SCOPE', `Cannot send to ${req.recipientOrgId}: ${explained}. A withdrawal cannot be overridden.`, details);
  }
  const reason = req.override?.reason.trim() ?? '';
  if (reason === '') {
    throw new HandoverError(
      'CONSENT_SCOPE',
      `Cannot send to ${req.recipientOrgId}: ${explained}. Only a vital-interest override with a written reason can send it.`,
      details,
    );
  }
  return { overridden: true, reason, violations };
}

/** The groups a referral (or a later batch of data) would disclose. */
export function fieldGroupsOf(data: ReferralBody | ReferralData): FieldGroup[] {
  const groups = new Set<FieldGroup>();
  const identity = data.identity;
  if (identity) {
    const { caseCode: _always, firstName, secondName, ...rest } = identity;
    if (firstName !== undefined || secondName !== undefined) groups.add('legalName');
    if (firstName !== undefined || secondName !== undefined || Object.keys(rest).length > 0) groups.add('identity');
  }
  if (data.childGuardian) groups.add('childGuardian');
  if (data.traffickingContext) groups.add('traffickingContext');
  if (data.riskSafety) groups.add('riskSafety');
  if (data.healthNeeds) groups.add('healthNeeds');
  if (data.attachments && data.attachments.length > 0) {
    groups.add('attachments');
    for (const file of data.attachments) if (file.relatesTo) groups.add(file.relatesTo);
  }
  return [...groups];
}

/**
 * The referral as this recipient may see it: withheld groups removed, files
 * of withheld groups removed, the case code always kept, and the risk group
 * kept when the risk is life-threatening.
 */
export function redactForRecipient(referral: ReferralBody, consent: ConsentRecord, recipient: Recipient): ReferralBody {
  const withheld = new Set(withheldGroupsFor(consent, recipient));
  if (referral.riskSafety?.lifeThreatening) withheld.delete('riskSafety');

  const { childGuardian, traffickingContext, riskSafety, healthNeeds, attachments, identity, ...always } = referral;
  const out: ReferralBody = { ...always, identity: redactIdentity(identity, withheld) };
  if (childGuardian && !withheld.has('childGuardian')) out.childGuardian = childGuardian;
  if (traffickingContext && !withheld.has('traffickingContext')) out.traffickingContext = traffickingContext;
  if (riskSafety && !withheld.has('riskSafety')) out.riskSafety = riskSafety;
  if (healthNeeds && !withheld.has('healthNeeds')) out.healthNeeds = healthNeeds;
  if (attachments && !withheld.has('attachments')) {
    const kept = attachments.filter((file) => !file.relatesTo || !withheld.has(file.relatesTo));
    if (kept.length > 0) out.attachments = kept;
  }
  return out;
}

function redactIdentity(identity: ReferralBody['identity'], withheld: ReadonlySet<FieldGroup>): ReferralBody['identity'] {
  if (withheld.has('identity')) return { caseCode: identity.caseCode };
  if (!withheld.has('legalName')) return identity;
  const { firstName: _first, secondName: _second, ...rest } = identity;
  return rest;
}

/**
 * How long a consent may run when nothing else is configured: a year after
 * it was given. A consent people never renew turns into a standing licence
 * to share; a bound makes the caseworker ask again (HANDOVER_MAX_CONSENT_DAYS
 * changes it in the CLI, within MAX_CONSENT_DAYS_LIMIT).
 */
export const DEFAULT_MAX_CONSENT_DAYS = 365;
/** No setting makes a consent run longer than this (5 years). */
export const MAX_CONSENT_DAYS_LIMIT = 5 * 365;

export interface ConsentExpiryProblem {
  givenAt: number;
  expiresAt: number;
  maxDays: number;
  /** The latest `expiresAt` the bound allows. */
  latestAllowed: number;
}

/** Whether the consent runs longer than `maxDays` after it was given (null when it does not). */
export function consentExpiryProblem(consent: Pick<ConsentRecord, 'givenAt' | 'expiresAt'>, maxDays: number = DEFAULT_MAX_CONSENT_DAYS): ConsentExpiryProblem | null {
  const latestAllowed = consent.givenAt + maxDays * DAY_MS;
  return consent.expiresAt > latestAllowed ? { givenAt: consent.givenAt, expiresAt: consent.expiresAt, maxDays, latestAllowed } : null;
}

/**
 * Refuses (INVALID_EVENT, `details.reason` "consent-too-long") a referral
 * whose consent runs longer than the bound. Checked when a referral is sent,
 * never on receipt: a receiver's replay must not depend on its own settings.
 */
export function checkConsentExpiry(consent: Pick<ConsentRecord, 'givenAt' | 'expiresAt'>, maxDays: number = DEFAULT_MAX_CONSENT_DAYS): void {
  if (!Number.isInteger(maxDays) || maxDays < 1 || maxDays > MAX_CONSENT_DAYS_LIMIT) {
    throw new HandoverError('BAD_REQUEST', `the longest consent must be 1 to ${MAX_CONSENT_DAYS_LIMIT} days, not ${maxDays}`);
  }
  const problem = consentExpiryProblem(consent, maxDays);
  if (!problem) return;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  throw new HandoverError(
    'INVALID_EVENT',
    `the consent runs until ${day(problem.expiresAt)}, more than ${maxDays} days after it was given (${day(problem.givenAt)}); ` +
      `record an expiry no later than ${day(problem.latestAllowed)}, or ask the survivor again when it runs out`,
    { reason: 'consent-too-long', ...problem },
  );
}
