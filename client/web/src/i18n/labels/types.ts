/** The shape of a pick-list label catalogue: one label per code of each list, checked by the compiler against the referral package's lists. */
import {
  CONSENT_GIVERS,
  CONSENT_METHODS,
  DECLINE_REASONS,
  FIELD_GROUPS,
  HTCDS_GENDERS,
  HTCDS_REFERRAL_REASONS,
  LEGAL_BASES,
  PRIORITIES,
  PURPOSES,
  REFERRAL_KINDS,
  RETURN_STEPS,
  RISK_DECISIONS,
  RISK_LEVELS,
  SERVICES,
  STEP_STATUSES,
  WITHDRAW_REASONS,
} from '../../../../referral/index';
import { ORG_TYPES } from '../../../../sdk/index';

/** Every pick-list with labels, and its codes (the referral package's own arrays). */
export const PICK_LISTS = {
  consentGiver: CONSENT_GIVERS,
  consentMethod: CONSENT_METHODS,
  purpose: PURPOSES,
  orgType: ORG_TYPES,
  legalBasis: LEGAL_BASES,
  referralKind: REFERRAL_KINDS,
  priority: PRIORITIES,
  service: SERVICES,
  referralReason: HTCDS_REFERRAL_REASONS,
  gender: HTCDS_GENDERS,
  riskLevel: RISK_LEVELS,
  fieldGroup: FIELD_GROUPS,
  declineReason: DECLINE_REASONS,
  withdrawReason: WITHDRAW_REASONS,
  returnStep: RETURN_STEPS,
  stepStatus: STEP_STATUSES,
  riskDecision: RISK_DECISIONS,
} as const;

export type PickList = keyof typeof PICK_LISTS;
export type LabelCatalogue = { [L in PickList]: Record<(typeof PICK_LISTS)[L][number], string> };
