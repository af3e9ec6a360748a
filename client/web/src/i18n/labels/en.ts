/**
 * English labels of the referral pick-lists (HTCDS 2.0 codes and the
 * workflow's own lists): the reference every other language follows.
 */
import type { LabelCatalogue } from './types';

export const enLabels: LabelCatalogue = {
  consentGiver: { survivor: 'The survivor', caregiver: 'A parent or caregiver' },
  consentMethod: { verbal: 'Verbally', written: 'In writing' },
  purpose: { services: 'Services', return: 'Return home', legal: 'Legal assistance', 'research-aggregate': 'Research (aggregate figures only)' },
  orgType: { ngo: 'NGO', iom: 'IOM', shelter: 'Shelter', authority: 'Public authority' },
  legalBasis: { consent: 'Consent', 'vital-interest': 'Vital interest (life or safety at risk)' },
  referralKind: { 'shelter-intake': 'Shelter intake', service: 'Service', 'case-transfer': 'Case transfer', return: 'Return' },
  priority: { emergency: 'Emergency', urgent: 'Urgent', normal: 'Normal' },
  service: {
    'safe-accommodation': 'Safe accommodation',
    medical: 'Medical care',
    psychosocial: 'Psychosocial support',
    legal: 'Legal assistance',
    interpretation: 'Interpretation',
    documents: 'Identity documents',
    'family-tracing': 'Family tracing',
    livelihoods: 'Livelihood support',
    return: 'Return home',
  },
  referralReason: { AdditionalServicesRequired: 'Additional services required', MigrationOrChangeOfLocation: 'Migration or change of location', Other: 'Other' },
  gender: {
    Feminine: 'Female',
    Masculine: 'Male',
    TransgenderFeminine: 'Transgender female',
    TransgenderMasculine: 'Transgender male',
    NonConforming: 'Gender non-conforming',
    NonSpecifiedUnknown: 'Not specified or unknown',
  },
  riskLevel: { high: 'High', medium: 'Medium', low: 'Low' },
  fieldGroup: {
    legalName: 'Legal name',
    identity: 'Identity',
    childGuardian: 'Child’s guardian',
    traffickingContext: 'Trafficking context',
    riskSafety: 'Risk and safety',
    healthNeeds: 'Health needs',
    attachments: 'Attachments',
  },
  declineReason: { 'no-capacity': 'No capacity', 'not-eligible': 'Not eligible', safety: 'Safety concern', 'outside-area': 'Outside our area', other: 'Other' },
  withdrawReason: { 'referred-elsewhere': 'Referred elsewhere', 'survivor-declined': 'The survivor declined', 'no-response': 'No response', other: 'Other' },
  returnStep: {
    'return-requested': 'Return requested',
    'receipt-confirmed': 'Request received',
    'risk-assessment': 'Risk assessment',
    'family-assessment': 'Family assessment',
    'travel-documents': 'Travel documents',
    'fit-to-travel': 'Fit to travel',
    'departure-confirmed': 'Departure confirmed',
    'not-departed': 'Did not depart',
    'arrival-confirmed': 'Arrival confirmed',
    'reintegration-plan': 'Reintegration plan',
    monitoring: 'Monitoring',
    closed: 'Closed',
  },
  stepStatus: { pending: 'Pending', 'in-progress': 'In progress', done: 'Done', blocked: 'Blocked' },
  riskDecision: { go: 'Go ahead', 'no-go': 'Do not go ahead' },
};
