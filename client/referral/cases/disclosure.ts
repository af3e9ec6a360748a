/**
 * Consent gate and redaction for anything that carries survivor data (the
 * referral, and data sent later with `referral.provide-info`).
 *
 * For every recipient org: redact for it (`redactForRecipient`), then check
 * the consent scope for exactly what it would receive. One refusal stops
 * the whole send before anything leaves the device. The event sent to the
 * whole thread carries only the groups no recipient has withheld; a
 * recipient allowed more gets those groups in a supplement (payload.ts).
 */
import { canonicalJson } from '../../../shared';
import { checkConsentScope, fieldGroupsOf, redactForRecipient, withheldGroupsFor } from '../domain/consent';
import type { ScopeViolation } from '../domain/consent';
import type { ConsentRecord, FieldGroup, OrgRef, Purpose, ReferralBody, ReferralData } from '../domain/schemas';

export const DATA_KEYS = ['identity', 'childGuardian', 'traffickingContext', 'riskSafety', 'healthNeeds', 'attachments'] as const;
export type DataKey = (typeof DATA_KEYS)[number];

export interface RecipientDisclosure {
  orgId: string;
  orgType: OrgRef['orgType'];
  /** The groups this org receives (event plus its supplement). */
  fieldGroups: FieldGroup[];
  /** The groups the consent hides from this org. */
  withheld: FieldGroup[];
  /** Set when only a vital-interest override lets this org receive it. */
  override: { reason: string; violations: ScopeViolation[] } | null;
}

export interface DisclosurePlan<T> {
  /** What goes to the whole thread. */
  shared: T;
  /** Extra groups for some orgs: one supplement per distinct content. */
  supplements: Array<{ orgIds: string[]; data: ReferralData }>;
  recipients: RecipientDisclosure[];
}

export interface PlanOptions {
  recipients: readonly OrgRef[];
  purpose: Purpose;
  now: number;
  withdrawn?: boolean;
  overrideReason?: string;
}

function pick(body: ReferralBody | ReferralData, keys: readonly DataKey[]): ReferralData {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (body[key] !== undefined) out[key] = body[key];
  return out as ReferralData;
}

function same(a: unknown, b: unknown): boolean {
  return (a === undefined && b === undefined) || (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b));
}

/** What the recipient's view has beyond the shared one, over `keys`. */
function extra(shared: ReferralBody, view: ReferralBody, keys: readonly DataKey[]): ReferralData {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (view[key] !== undefined && !same(view[key], shared[key])) out[key] = view[key];
  return out as ReferralData;
}

/**
 * The body without every group the consent withholds from anyone, whether
 * or not that org is a recipient now: the shared event can then be shown,
 * as signed, to any org that joins the thread later (history sharing,
 * PROTOCOL.md §4.10). Recipients allowed more get it in supplements.
 */
function sharedView(body: ReferralBody, consent: ConsentRecord, recipients: readonly OrgRef[]): ReferralBody {
  const named = new Set<FieldGroup>(consent.withheld.flatMap((rule) => rule.fieldGroups));
  const first = recipients[0];
  if (named.size === 0 || !first) return body;
  // A rule that lists no org applies to everyone: redacting with it gives the common view.
  const everyone: ConsentRecord = { ...consent, withheld: [{ fieldGroups: [...named] }] };
  return redactForRecipient(body, everyone, first);
}

function plan(body: ReferralBody, consent: ConsentRecord, keys: readonly DataKey[], opts: PlanOptions): DisclosurePlan<ReferralBody> {
  const shared = sharedView(body, consent, opts.recipients);
  const recipients: RecipientDisclosure[] = [];
  const byContent = new Map<string, { orgIds: string[]; data: ReferralData }>();
  for (const r of opts.recipients) {
    const view = redactForRecipient(body, consent, r);
    const fieldGroups = fieldGroupsOf(pick(view, keys));
    const decision = checkConsentScope(consent, {
      recipientOrgId: r.orgId,
      recipientOrgType: r.orgType,
      fieldGroups,
      purpose: opts.purpose,
      now: opts.now,
      withdrawn: opts.withdrawn ?? false,
      lifeThreateningRisk: body.riskSafety?.lifeThreatening ?? false,
      ...(opts.overrideReason !== undefined ? { override: { reason: opts.overrideReason } } : {}),
    });
    recipients.push({
      orgId: r.orgId,
      orgType: r.orgType,
      fieldGroups,
      withheld: withheldGroupsFor(consent, r),
      override: decision.overridden ? { reason: decision.reason, violations: decision.violations } : null,
    });
    const more = extra(shared, view, keys);
    if (Object.keys(more).length === 0) continue;
    const key = canonicalJson(more);
    const entry = byContent.get(key) ?? { orgIds: [], data: more };
    entry.orgIds.push(r.orgId);
    byContent.set(key, entry);
  }
  return { shared, supplements: [...byContent.values()], recipients };
}

/** Plan sending a new referral to its receiving org and coordinators. Throws CONSENT_SCOPE. */
export function planReferral(body: ReferralBody, opts: PlanOptions): DisclosurePlan<ReferralBody> {
  return plan(body, body.consent, DATA_KEYS, opts);
}

/** Plan sending more data (provide-info) under the thread's referral and consent. Throws CONSENT_SCOPE. */
export function planData(referral: ReferralBody, data: ReferralData, opts: PlanOptions): DisclosurePlan<ReferralData> {
  const keys = DATA_KEYS.filter((k) => data[k] !== undefined);
  // Redaction works on a whole referral: wrap the data in the thread's header and consent.
  const wrapped: ReferralBody = {
    header: referral.header,
    consent: referral.consent,
    identity: data.identity ?? { caseCode: referral.identity.caseCode },
    ...pick(data, keys.filter((k) => k !== 'identity')),
  };
  const result = plan(wrapped, referral.consent, keys, opts);
  return { ...result, shared: pick(result.shared, keys) };
}

/**
 * Merge supplements into what the event carried. Redaction only removes,
 * so for identity the fullest version wins; attachment lists are unioned.
 */
export function mergeData<T extends ReferralBody | ReferralData>(base: T, supplements: readonly ReferralData[]): T {
  const out: Record<string, unknown> = { ...base };
  for (const data of supplements) {
    for (const key of DATA_KEYS) {
      const value = data[key];
      if (value === undefined) continue;
      const current = out[key];
      if (current === undefined) out[key] = value;
      else if (key === 'identity' && canonicalJson(value).length > canonicalJson(current).length) out[key] = value;
      else if (key === 'attachments') {
        const list = current as NonNullable<ReferralData['attachments']>;
        const known = new Set(list.map((a) => a.attachmentId));
        out[key] = [...list, ...(value as NonNullable<ReferralData['attachments']>).filter((a) => !known.has(a.attachmentId))];
      }
    }
  }
  return out as T;
}
