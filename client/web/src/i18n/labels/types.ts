/** The shape of a pick-list label catalogue: one label per code of each list, checked by the compiler against the referral package's lists. */
import {
  CONSENT_GIVERS,
  CONSENT_METHODS,
  DECLINE_REASONS,
  DOCUMENT_TYPES,
  FIELD_GROUPS,
  HTCDS_CASE_STATUSES,
  HTCDS_DECISION_MAKING_ORGS,
  HTCDS_EXPLOITATION_TYPES,
  HTCDS_FORCED_LABOUR_INDUSTRIES,
  HTCDS_GENDERS,
  HTCDS_METHODS_OF_CONTROL,
  HTCDS_METHODS_OF_RECRUITMENT,
  HTCDS_REFERRAL_REASONS,
  HTCDS_TRAFFICKING_STATUSES,
  HealthNeeds,
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
  traffickingStatus: HTCDS_TRAFFICKING_STATUSES,
  decisionMakingOrg: HTCDS_DECISION_MAKING_ORGS,
  exploitationType: HTCDS_EXPLOITATION_TYPES,
  forcedLabourIndustry: HTCDS_FORCED_LABOUR_INDUSTRIES,
  methodOfControl: HTCDS_METHODS_OF_CONTROL,
  methodOfRecruitment: HTCDS_METHODS_OF_RECRUITMENT,
  caseStatus: HTCDS_CASE_STATUSES,
  documentType: DOCUMENT_TYPES,
  /** healthNeeds.fitToTravel: a list of the schema's own (no named array in the pick-lists). */
  fitToTravel: HealthNeeds.shape.fitToTravel.unwrap().options,
} as const;

export type PickList = keyof typeof PICK_LISTS;
export type LabelCatalogue = { [L in PickList]: Record<(typeof PICK_LISTS)[L][number], string> };
