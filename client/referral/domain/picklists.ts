/**
 * Pick-lists of the referral workflow. Where the Human Trafficking Case Data
 * Standard (HTCDS 2.0, IOM) has a list, its value names are used unchanged so
 * an export maps one to one; the rest come from docs/DOMAIN.md.
 */
import { DAY_MS, HOUR_MS } from '../../../shared';

// --- Workflow lists (docs/DOMAIN.md) ---

export const REFERRAL_KINDS = ['shelter-intake', 'service', 'case-transfer', 'return'] as const;
export type ReferralKind = (typeof REFERRAL_KINDS)[number];

export const PRIORITIES = ['emergency', 'urgent', 'normal'] as const;

/** How long the receiving org has to respond, counted from the referral's `at`. */
export const RESPONSE_WINDOW_MS: Readonly<Record<(typeof PRIORITIES)[number], number>> = {
  emergency: 24 * HOUR_MS,
  urgent: 72 * HOUR_MS,
  normal: 14 * DAY_MS,
};

export const SERVICES = [
  'safe-accommodation',
  'medical',
  'psychosocial',
  'legal',
  'interpretation',
  'documents',
  'family-tracing',
  'livelihoods',
  'return',
] as const;
export type Service = (typeof SERVICES)[number];

/** What the survivor agreed their data may be used for. Research is in aggregate only. */
export const PURPOSES = ['services', 'return', 'legal', 'research-aggregate'] as const;

/**
 * Parts of a referral that consent can withhold. The header and the consent
 * record always travel (the recipient cannot act or check scope without
 * them); the case code always travels inside `identity`. Withholding
 * `identity` withholds `legalName` too.
 */
export const FIELD_GROUPS = [
  'legalName',
  'identity',
  'childGuardian',
  'traffickingContext',
  'riskSafety',
  'healthNeeds',
  'attachments',
] as const;

export const DECLINE_REASONS = ['no-capacity', 'not-eligible', 'safety', 'outside-area', 'other'] as const;
export type DeclineReason = (typeof DECLINE_REASONS)[number];

export const WITHDRAW_REASONS = ['referred-elsewhere', 'survivor-declined', 'no-response', 'other'] as const;

export const RISK_LEVELS = ['high', 'medium', 'low'] as const;

export const CONSENT_GIVERS = ['survivor', 'caregiver'] as const;
export const CONSENT_METHODS = ['verbal', 'written'] as const;
export const LEGAL_BASES = ['consent', 'vital-interest'] as const;

export const DOCUMENT_TYPES = [
  'passport',
  'national-id',
  'travel-document',
  'residence-permit',
  'birth-certificate',
  'other',
] as const;

/** IOM return path, in order. `not-departed` is the alternative to `departure-confirmed`. */
export const RETURN_STEPS = [
  'return-requested',
  'receipt-confirmed',
  'risk-assessment',
  'family-assessment',
  'travel-documents',
  'fit-to-travel',
  'departure-confirmed',
  'not-departed',
  'arrival-confirmed',
  'reintegration-plan',
  'monitoring',
  'closed',
] as const;
export type ReturnStep = (typeof RETURN_STEPS)[number];

export const STEP_STATUSES = ['pending', 'in-progress', 'done', 'blocked'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const RISK_DECISIONS = ['go', 'no-go'] as const;

// --- HTCDS 2.0 pick-lists (field name in the comment) ---

/** prs_Gender */
export const HTCDS_GENDERS = [
  'Feminine',
  'Masculine',
  'TransgenderFeminine',
  'TransgenderMasculine',
  'NonConforming',
  'NonSpecifiedUnknown',
] as const;

/** vic_TraffickingStatus */
export const HTCDS_TRAFFICKING_STATUSES = [
  'PossibleVictimOfTrafficking',
  'ActualVictimOfTrafficking',
  'NotAVictimOfTrafficking',
] as const;

/** vic_TraffickingStatusDecisionMakingOrg */
export const HTCDS_DECISION_MAKING_ORGS = [
  'Police',
  'NGO',
  'CourtOrProsecution',
  'NonPoliceGovernmentalOrganization',
  'Other',
] as const;

/** vic_MethodOfRecruitment */
export const HTCDS_METHODS_OF_RECRUITMENT = [
  'AtAPlaceOfBusiness',
  'AtAnEducationalInstitution',
  'AtWork',
  'ThroughOnlineSocialNetworks',
  'ThroughAnOnlineAdvertisement',
  'ThroughATelevisionAdvert',
  'ThroughANewspaperAdvert',
  'ThroughFamilyOrFamilyEvents',
  'ThroughFriendsOrSocialEvents',
  'Other',
] as const;

/** vic_MethodsOfControl */
export const HTCDS_METHODS_OF_CONTROL = [
  'PhysicalThreats',
  'ThreatsLawEnforcement',
  'ThreatensChildrenFamily',
  'DebtBondage',
  'FalsePromises',
  'PhysicalAbuse',
  'SexualAbuse',
  'TakesEarnings',
  'RestrictsFinancialAccess',
  'RestrictsMedicalCare',
  'WithholdsNecessities',
  'PsychologicalAbuse',
  'PsychoactiveSubstance',
  'ExcessiveWorkingHours',
  'WithholdsDocuments',
  'Other',
] as const;

/** vic_TypeOfExploitation */
export const HTCDS_EXPLOITATION_TYPES = [
  'ForcedLabour',
  'SexualExploitation',
  'ChildLabour',
  'ForcedMarriage',
  'Servitude',
  'ForcedMilitaryByNonStateActors',
  'OrganRemoval',
  'ForcedBegging',
  'ForcedAdoption',
  'Surrogacy',
  'Other',
] as const;

/** vic_ForcedLabourIndustry (ISIC sections) */
export const HTCDS_FORCED_LABOUR_INDUSTRIES = [
  'A_AgricultureForestryAndFishing',
  'B_MiningAndQuarrying',
  'C_Manufacturing',
  'D_ElectricityGasSteamAndAirConditioningSupply',
  'E_WaterSupplySewerageWasteManagement',
  'F_Construction',
  'G_WholesaleAndRetailTradeRepairOfMotorVehicles',
  'H_TransportationAndStorage',
  'I_AccommodationAndFoodServiceActivities',
  'J_InformationAndCommunication',
  'K_FinancialAndInsuranceActivities',
  'L_RealEstateActivities',
  'M_ProfessionalScientificAndTechnicalActivities',
  'N_AdministrativeAndSupportServiceActivities',
  'O_PublicAdministrationAndDefence',
  'P_Education',
  'Q_HumanHealthAndSocialWorkActivities',
  'R_ArtsEntertainmentAndRecreation',
  'S_OtherServiceActivities',
  'T_ActivitiesOfHouseholdsAsEmployers',
  'U_ActivitiesOfExtraterritorialOrganizations',
] as const;

/** cas_ReasonForOutgoingReferral / cas_ReasonForIncomingReferral */
export const HTCDS_REFERRAL_REASONS = ['AdditionalServicesRequired', 'MigrationOrChangeOfLocation', 'Other'] as const;

/** cas_Status */
export const HTCDS_CASE_STATUSES = ['Active', 'FollowUp', 'Closed', 'ClosedReferred'] as const;
export type HtcdsCaseStatus = (typeof HTCDS_CASE_STATUSES)[number];
