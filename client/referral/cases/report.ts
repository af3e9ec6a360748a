/**
 * The anonymous aggregate report donors ask for: how many referrals this
 * device's org handled, by month, by its role, by the type of the partner
 * orgs and by state, and how long the receiving org took to respond and to
 * accept (median and 90th percentile).
 *
 * Built in two steps so that survivor data cannot reach it: each thread is
 * first reduced to `ReportFacts` — a month, a role, org types, a state and
 * two durations, nothing the referral says about the person — and only
 * those are counted. Counts below the minimum cell size (5 by default) are
 * shown as "<5", and where such a cell could be worked out from the total
 * and the other cells of its breakdown, one more cell is masked. Thread ids,
 * case codes, names, org ids of partners and free text never appear.
 */
import type { OrgTypeName } from '../domain/schemas';
import type { IntakeState, ParticipantRole, ThreadState } from '../domain/state';
import type { CaseService } from './case-service';

/** Counts below this are not shown exactly (and it cannot be set lower). */
export const REPORT_MIN_CELL = 5;
const HOUR_MS = 60 * 60 * 1000;

/** What one thread contributes to the report: a month, a role, org types, a state and durations. */
export interface ReportFacts {
  /** The referral's month, `YYYY-MM` in UTC. */
  month: string;
  /** This org's role in the thread. */
  role: ParticipantRole;
  /** The distinct certified types of the other orgs in the thread. */
  partnerTypes: OrgTypeName[];
  state: IntakeState;
  /** Referral to the receiving org's first response (acknowledge, request-info, accept or decline). */
  hoursToAcknowledge: number | null;
  /** Referral to its acceptance. */
  hoursToAccept: number | null;
}

/** A count as published: exact, "<5" (too small to show), or "masked" (hidden so a "<5" cannot be worked out). */
export type ReportCell = number | `<${number}` | 'masked';

export interface TimingSummary {
  /** How many threads have this duration. */
  threads: ReportCell;
  /** Null when fewer threads than the minimum cell size have it. */
  medianHours: number | null;
  p90Hours: number | null;
}

export interface CaseReport {
  kind: 'handover-aggregate-report';
  v: 1;
  /** The reporting org (never a partner's id). */
  orgId: string;
  /** The day it was made (UTC). */
  generatedOn: string;
  minCell: number;
  /** The months covered (`YYYY-MM`, UTC, inclusive); null: unbounded. */
  period: { from: string | null; to: string | null };
  referrals: ReportCell;
  byMonth: Record<string, ReportCell>;
  byRole: Record<string, ReportCell>;
  /** A thread counts once for each distinct partner org type (the column does not add up to the total). */
  byPartnerOrgType: Record<string, ReportCell>;
  byState: Record<string, ReportCell>;
  /** Threads purged after the survivor withdrew consent, by the month of the withdrawal. */
  consentWithdrawn: ReportCell;
  timeToAcknowledge: TimingSummary;
  timeToAccept: TimingSummary;
}

export interface ReportOptions {
  orgId: string;
  now: number;
  minCell?: number;
  /** First and last month (`YYYY-MM`) to count, by the referral's month. */
  from?: string;
  to?: string;
}

const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);
const hours = (ms: number): number => ms / HOUR_MS;

/** The facts a thread contributes, or null when it holds no referral or this org takes no part in it. */
export function reportFacts(t: ThreadState, orgId: string): ReportFacts | null {
  const created = t.timeline.find((e) => e.type === 'referral.create');
  const me = t.participants.find((p) => p.orgId === orgId);
  if (!t.referral || !created || !me || !t.status) return null;
  const partnerTypes = [...new Set(t.participants.filter((p) => p.orgId !== orgId).map((p) => p.orgType))].sort();
  const accepted = t.decision?.outcome === 'accepted' ? t.decision.at : null;
  return {
    month: monthOf(created.at),
    role: me.role,
    partnerTypes,
    state: t.status,
    hoursToAcknowledge: t.firstResponseAt === null ? null : hours(Math.max(0, t.firstResponseAt - created.at)),
    hoursToAccept: accepted === null ? null : hours(Math.max(0, accepted - created.at)),
  };
}

function inPeriod(month: string, from: string | undefined, to: string | undefined): boolean {
  return (from === undefined || month >= from) && (to === undefined || month <= to);
}

/** One count as published. */
function cell(n: number, minCell: number): ReportCell {
  return n > 0 && n < minCell ? `<${minCell}` : n;
}

/**
 * A breakdown as published. When it adds up to a total shown exactly and
 * exactly one of its cells is suppressed, that cell would be the total
 * minus the others: the smallest shown cell is masked too.
 */
function breakdown(counts: Map<string, number>, minCell: number, addsUpToShownTotal: boolean): Record<string, ReportCell> {
  const out: Record<string, ReportCell> = {};
  for (const key of [...counts.keys()].sort()) out[key] = cell(counts.get(key) ?? 0, minCell);
  const suppressed = Object.values(out).filter((v) => typeof v === 'string').length;
  if (addsUpToShownTotal && suppressed === 1) {
    const shown = Object.entries(out).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0);
    const smallest = shown.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (smallest) out[smallest[0]] = 'masked';
  }
  return out;
}

function countBy<T>(items: readonly T[], keys: (item: T) => readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) for (const key of keys(item)) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/** The q-quantile (nearest rank) of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const oneDecimal = (n: number): number => Math.round(n * 10) / 10;

function timing(values: ReadonlyArray<number | null>, minCell: number): TimingSummary {
  const sorted = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (sorted.length < minCell) return { threads: cell(sorted.length, minCell), medianHours: null, p90Hours: null };
  return { threads: sorted.length, medianHours: oneDecimal(median(sorted)), p90Hours: oneDecimal(quantile(sorted, 0.9)) };
}

/**
 * Count the facts of the threads in the period. `withdrawals` are the
 * months in which threads were purged after a consent withdrawal.
 */
export function aggregateReport(all: readonly ReportFacts[], withdrawals: readonly string[], opts: ReportOptions): CaseReport {
  const minCell = Math.max(REPORT_MIN_CELL, opts.minCell ?? REPORT_MIN_CELL);
  const facts = all.filter((f) => inPeriod(f.month, opts.from, opts.to));
  const totalShown = facts.length >= minCell;
  return {
    kind: 'handover-aggregate-report',
    v: 1,
    orgId: opts.orgId,
    generatedOn: new Date(opts.now).toISOString().slice(0, 10),
    minCell,
    period: { from: opts.from ?? null, to: opts.to ?? null },
    referrals: cell(facts.length, minCell),
    byMonth: breakdown(countBy(facts, (f) => [f.month]), minCell, totalShown),
    byRole: breakdown(countBy(facts, (f) => [f.role]), minCell, totalShown),
    byPartnerOrgType: breakdown(countBy(facts, (f) => f.partnerTypes), minCell, false),
    byState: breakdown(countBy(facts, (f) => [f.state]), minCell, totalShown),
    consentWithdrawn: cell(withdrawals.filter((m) => inPeriod(m, opts.from, opts.to)).length, minCell),
    timeToAcknowledge: timing(facts.map((f) => f.hoursToAcknowledge), minCell),
    timeToAccept: timing(facts.map((f) => f.hoursToAccept), minCell),
  };
}

/** The report over every thread this device holds, as of `now`. */
export async function buildCaseReport(cases: CaseService, opts: ReportOptions): Promise<CaseReport> {
  const facts: ReportFacts[] = [];
  const withdrawals: string[] = [];
  for (const summary of await cases.listThreads()) {
    const t = await cases.thread(summary.threadId);
    if (t.purged) {
      // A purged thread keeps only the withdrawal and receipts: it is counted by the withdrawal's month.
      if (t.consentWithdrawal) withdrawals.push(monthOf(t.consentWithdrawal.withdrawnAt));
      continue;
    }
    const f = reportFacts(t, opts.orgId);
    if (f) facts.push(f);
  }
  return aggregateReport(facts, withdrawals, opts);
}

/** The report as CSV rows `measure,group,value` (no quoting needed: every field is a fixed word, a month or a number). */
export function reportCsv(r: CaseReport): string {
  const rows: Array<[string, string, string | number]> = [['referrals', 'total', r.referrals]];
  const add = (measure: string, cells: Record<string, ReportCell>) => {
    for (const [group, value] of Object.entries(cells)) rows.push([measure, group, value]);
  };
  add('referrals by month (UTC)', r.byMonth);
  add('referrals by our role', r.byRole);
  add('referrals by partner org type', r.byPartnerOrgType);
  add('referrals by state', r.byState);
  rows.push(['consent withdrawn (purged)', 'total', r.consentWithdrawn]);
  for (const [measure, t] of [
    ['time to acknowledge (hours)', r.timeToAcknowledge],
    ['time to accept (hours)', r.timeToAccept],
  ] as const) {
    rows.push([measure, 'threads', t.threads], [measure, 'median', t.medianHours ?? ''], [measure, 'p90', t.p90Hours ?? '']);
  }
  const header = `measure,group,value`;
  return `${[header, ...rows.map((row) => row.join(','))].join('\r\n')}\r\n`;
}
