/**
 * Labels of the referral pick-lists in the user's language: the codes stay
 * the HTCDS / workflow codes on the wire; people see these words. A code
 * with no label (a list that grew, a peer on a newer version) is shown as
 * words made from the code (`humanize`), never as nothing.
 */
import { type Language, humanize, language } from '../index';
import { arLabels } from './ar';
import { enLabels } from './en';
import { kkLabels } from './kk';
import { ruLabels } from './ru';
import { trLabels } from './tr';
import { type LabelCatalogue, PICK_LISTS, type PickList } from './types';

export { PICK_LISTS, type LabelCatalogue, type PickList } from './types';

export const LABELS: Record<Language, LabelCatalogue> = { en: enLabels, ru: ruLabels, kk: kkLabels, tr: trLabels, ar: arLabels };

/** Who wrote each label catalogue: machine-drafted ones wait for a native speaker's review. */
export const LABEL_META: Record<Language, { machineDrafted: boolean }> = {
  en: { machineDrafted: false },
  ru: { machineDrafted: true },
  kk: { machineDrafted: true },
  tr: { machineDrafted: true },
  ar: { machineDrafted: true },
};

/** Which pick-list the referral form's fields (paths into ReferralBody) take their codes from. */
export const FIELD_PICK_LISTS: Readonly<Record<string, PickList>> = {
  'consent.givenBy': 'consentGiver',
  'consent.method': 'consentMethod',
  'consent.purposes': 'purpose',
  'consent.coveredOrgTypes': 'orgType',
  'consent.legalBasis': 'legalBasis',
  'consent.withheld': 'fieldGroup',
  'header.kind': 'referralKind',
  'header.priority': 'priority',
  'header.purpose': 'purpose',
  'header.servicesRequested': 'service',
  'header.reasonForReferral': 'referralReason',
  'identity.gender': 'gender',
  'riskSafety.riskLevel': 'riskLevel',
  'traffickingContext.traffickingStatus': 'traffickingStatus',
  'traffickingContext.traffickingStatusDecisionMakingOrg': 'decisionMakingOrg',
  'traffickingContext.typeOfExploitation': 'exploitationType',
  'traffickingContext.forcedLabourIndustry': 'forcedLabourIndustry',
  'traffickingContext.methodsOfControl': 'methodOfControl',
  'traffickingContext.methodOfRecruitment': 'methodOfRecruitment',
  'healthNeeds.fitToTravel': 'fitToTravel',
  // Codes the thread view shows inside the referral's nested objects and arrays (a path names an array's elements too).
  'header.referredOrganisation.orgType': 'orgType',
  'header.coordinators.orgType': 'orgType',
  'identity.identityDocuments.documentType': 'documentType',
  'consent.withheld.fieldGroups': 'fieldGroup',
  'consent.withheld.fromOrgTypes': 'orgType',
  'attachments.relatesTo': 'fieldGroup',
};

export function isPickList(value: string): value is PickList {
  return value in PICK_LISTS;
}

/** The label of `code` in `list`, in the current language (English, then the code as words, when missing). */
export function pickLabel(list: PickList, code: string): string {
  const labels = LABELS[language()][list] as Record<string, string>;
  const english = enLabels[list] as Record<string, string>;
  return (Object.hasOwn(labels, code) ? labels[code] : undefined) ?? (Object.hasOwn(english, code) ? english[code] : undefined) ?? humanize(code);
}

/** The label of a code a form field (a path into ReferralBody) holds; fields without a list get the code as words. */
export function fieldOptionLabel(path: string, code: string): string {
  const list = FIELD_PICK_LISTS[path];
  return list ? pickLabel(list, code) : humanize(code);
}
