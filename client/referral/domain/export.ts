/**
 * Client-side export of an org's own threads as an HTCDS-shaped CSV, for
 * import into its case system. Columns use HTCDS 2.0 field names; the few
 * columns HTCDS has no field for start with `hnd_`. Multiselect values are
 * joined with `;` (the Salesforce convention HTCDS builds on), dates are
 * `YYYY-MM-DD` in UTC.
 *
 * Threads without a referral and threads whose consent was withdrawn are
 * left out: their data must be purged, not exported.
 */
import type { HtcdsCaseStatus } from './picklists';
import type { IntakeState, ThreadState } from './state';
import type { ReferralBody } from './schemas';

type Row = { thread: ThreadState; referral: ReferralBody };
type Column = readonly [name: string, value: (row: Row) => string | readonly string[] | undefined];

/** HTCDS cas_Status for each intake state. */
const CASE_STATUS: Record<IntakeState, HtcdsCaseStatus> = {
  sent: 'Active',
  acknowledged: 'Active',
  'info-requested': 'Active',
  accepted: 'Active',
  'intake-scheduled': 'Active',
  arrived: 'Active',
  'in-service': 'Active',
  'no-show': 'FollowUp',
  expired: 'FollowUp',
  declined: 'Closed',
  withdrawn: 'Closed',
  completed: 'Closed',
  closed: 'Closed',
  'consent-withdrawn': 'Closed',
};

function isoDate(ms: number | undefined | null): string | undefined {
  return ms === undefined || ms === null ? undefined : new Date(ms).toISOString().slice(0, 10);
}

const orgOfRole = (thread: ThreadState, role: 'sender' | 'receiving') => thread.participants.find((p) => p.role === role)?.orgId;

const COLUMNS: readonly Column[] = [
  ['hnd_ThreadId', ({ thread }) => thread.threadId ?? undefined],
  ['hnd_CaseCode', ({ referral }) => referral.identity.caseCode],
  ['hnd_Priority', ({ referral }) => referral.header.priority],
  ['hnd_IntakeState', ({ thread }) => thread.status ?? undefined],
  ['prs_FirstName', ({ referral }) => referral.identity.firstName],
  ['prs_SecondName', ({ referral }) => referral.identity.secondName],
  ['prs_Birthdate', ({ referral }) => referral.identity.birthdate],
  ['prs_Gender', ({ referral }) => referral.identity.gender],
  ['prs_Citizenship', ({ referral }) => referral.identity.citizenship],
  ['prs_MobilePhone', ({ referral }) => referral.identity.mobilePhone],
  ['vic_TraffickingStatus', ({ referral }) => referral.traffickingContext?.traffickingStatus],
  ['vic_TraffickingStatusDecisionMakingOrg', ({ referral }) => referral.traffickingContext?.traffickingStatusDecisionMakingOrg],
  ['vic_TypeOfExploitation', ({ referral }) => referral.traffickingContext?.typeOfExploitation],
  ['vic_ForcedLabourIndustry', ({ referral }) => referral.traffickingContext?.forcedLabourIndustry],
  ['vic_MethodsOfControl', ({ referral }) => referral.traffickingContext?.methodsOfControl],
  ['vic_MethodOfRecruitment', ({ referral }) => referral.traffickingContext?.methodOfRecruitment],
  ['cas_Status', ({ thread }) => (thread.status ? CASE_STATUS[thread.status] : undefined)],
  ['cas_ReferringOrganisation', ({ thread }) => orgOfRole(thread, 'sender')],
  ['cas_ReferringPrimaryCaseWorker', ({ referral }) => referral.header.referringPrimaryCaseWorker.name],
  ['cas_ReferredOrganisation', ({ thread }) => orgOfRole(thread, 'receiving')],
  ['cas_ReasonForOutgoingReferral', ({ referral }) => referral.header.reasonForReferral],
  ['cas_OutgoingReferralDate', ({ thread }) => isoDate(thread.timeline.find((t) => t.id === thread.referralId)?.at)],
  ['cas_OutgoingReferralDetails', ({ referral }) => referral.header.referralDetails],
  ['cas_IncomingReferralDate', ({ thread }) => (thread.decision?.outcome === 'accepted' ? isoDate(thread.decision.at) : undefined)],
  ['con_Consent', ({ referral }) => (referral.consent.legalBasis === 'consent' ? 'TRUE' : 'FALSE')],
];

export const HTCDS_CSV_COLUMNS: readonly string[] = COLUMNS.map(([name]) => name);

// A spreadsheet runs a cell that starts with one of these as a formula.
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",;\r\n]/;

/** One CSV cell: formula-looking text is defused with a leading `'`, then quoted as RFC 4180 needs. */
export function csvCell(value: string): string {
  const defused = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

function cellText(value: string | readonly string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(';');
}

/** A CSV document (CRLF line ends, header row first) with one row per exportable thread. */
export function toHtcdsCsv(threads: readonly ThreadState[]): string {
  const lines = [HTCDS_CSV_COLUMNS.map(csvCell).join(',')];
  for (const thread of threads) {
    const referral = thread.referral;
    if (!referral || thread.consentWithdrawal) continue;
    lines.push(COLUMNS.map(([, value]) => csvCell(cellText(value({ thread, referral })))).join(','));
  }
  return lines.map((line) => `${line}\r\n`).join('');
}
