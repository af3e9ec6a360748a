/**
 * Reminders: what is overdue or soon due in this device's case threads, so
 * deadlines reach people without anyone happening to run `inbox`.
 *
 * Read from the inbox index (each thread's line keeps its due dates, set
 * whenever the thread is derived), so listing them opens no thread. What
 * the domain has deadlines for (docs/DOMAIN.md, domain/state.ts):
 *  - the receiving org's first response (acknowledge, request info, accept
 *    or decline) within the priority's window: 24 h / 72 h / 14 days. The
 *    domain has no separate "accept within 72 h": a first response of any
 *    of the four meets the deadline, and nothing times a decision after an
 *    acknowledgement;
 *  - a scheduled intake (`intake.schedule` `scheduledFor`) until arrival or
 *    no-show is recorded;
 *  - return-path steps with a date that are not done yet.
 *
 * Everything here is ids, org ids, step names and times: no survivor data.
 * Alerts (`DeadlineAlerts`) fire once per item per threshold and remember
 * that across runs in the vault.
 */
import { HOUR_MS } from '../../../shared';
import type { StoredMessage } from '../../sdk/messages';
import type { ReturnStep, StepStatus } from '../domain/picklists';
import type { Priority } from '../domain/schemas';
import type { IntakeState, ThreadState } from '../domain/state';
import { classify } from './payload';
import type { ThreadSummary } from './thread-view';
import type { CaseTransport } from './transport';

/** How far ahead `due` looks by default. */
export const DEFAULT_DUE_WINDOW_MS = 24 * HOUR_MS;

/** The dates a thread's inbox line keeps for reminders (org ids, step names, times). */
export interface DueDates {
  /** The receiving org has not responded yet: its deadline. */
  response: { by: number; orgId: string } | null;
  /** An intake is scheduled and neither arrival nor no-show is recorded. */
  intake: { at: number; orgId: string } | null;
  /** Return steps with a date that are not done. */
  returnSteps: Array<{ step: ReturnStep; status: StepStatus; date: number; orgId: string }>;
}

const NO_RETURN_AFTER: readonly IntakeState[] = ['withdrawn', 'consent-withdrawn', 'closed'];

/** A derived thread's due dates. */
export function dueDatesOf(t: ThreadState): DueDates {
  const receiving = t.participants.find((p) => p.role === 'receiving')?.orgId ?? null;
  const waiting = (t.status === 'sent' || t.status === 'expired') && t.firstResponseAt === null;
  const response = waiting && t.responseDeadline !== null && receiving ? { by: t.responseDeadline, orgId: receiving } : null;
  const intake = t.status === 'intake-scheduled' && t.intakeSchedule && receiving ? { at: t.intakeSchedule.scheduledFor, orgId: receiving } : null;
  const returnOpen = t.status !== null && !NO_RETURN_AFTER.includes(t.status) && !t.returnPath.closed;
  const returnSteps = returnOpen
    ? t.returnPath.steps.flatMap((s) => (s.date !== undefined && s.status !== 'done' ? [{ step: s.step, status: s.status, date: s.date, orgId: s.responsibleOrgId }] : []))
    : [];
  return { response, intake, returnSteps };
}

export type DueKind = 'response' | 'intake' | 'return-step';

/** One thing due in a thread. */
export interface DueItem {
  threadId: string;
  kind: DueKind;
  /** The return step, for `return-step`. */
  step?: ReturnStep;
  dueAt: number;
  /** `dueAt` has passed. */
  overdue: boolean;
  /** The org that has to act. */
  orgId: string;
  /** That org is this device's. */
  mine: boolean;
  priority: Priority | null;
  /** The thread's case code, for the user's own screen (`due`); never given to a notification hook. */
  caseCode: string | null;
  /** What is due, in a few words (ids and step names only). */
  what: string;
}

/** What reminders read of an inbox line (an index entry). */
export interface DueSource {
  summary: ThreadSummary;
  /** Absent in lines written before reminders existed: the case service derives those threads again. */
  due?: DueDates;
}

export interface DueOptions {
  now: number;
  /** Items due within this long from `now` are listed, besides the overdue ones. */
  windowMs: number;
  /** This device's org. */
  orgId: string;
}

function describe(kind: DueKind, mine: boolean, orgId: string, step?: ReturnStep, status?: StepStatus): string {
  switch (kind) {
    case 'response':
      return mine ? 'respond: acknowledge, request info, accept or decline' : `first response from ${orgId}`;
    case 'intake':
      return mine ? 'intake: record arrival or no-show' : `intake at ${orgId}`;
    case 'return-step':
      return `return step ${step} (${status}, ${mine ? 'yours' : orgId})`;
  }
}

/** Overdue and soon-due items of the threads, overdue first, then soonest first. */
export function dueItems(entries: Iterable<[string, DueSource]>, opts: DueOptions): DueItem[] {
  const out: DueItem[] = [];
  const horizon = opts.now + opts.windowMs;
  for (const [threadId, entry] of entries) {
    const { summary, due } = entry;
    if (!due || summary.purged) continue;
    const add = (kind: DueKind, dueAt: number, orgId: string, step?: ReturnStep, status?: StepStatus) => {
      if (dueAt > horizon) return;
      const mine = orgId === opts.orgId;
      out.push({
        threadId,
        kind,
        ...(step ? { step } : {}),
        dueAt,
        overdue: opts.now > dueAt,
        orgId,
        mine,
        priority: summary.priority,
        caseCode: summary.caseCode,
        what: describe(kind, mine, orgId, step, status),
      });
    };
    if (due.response) add('response', due.response.by, due.response.orgId);
    if (due.intake) add('intake', due.intake.at, due.intake.orgId);
    for (const s of due.returnSteps) add('return-step', s.date, s.orgId, s.step, s.status);
  }
  return out.sort((a, b) => Number(b.overdue) - Number(a.overdue) || a.dueAt - b.dueAt || (a.threadId < b.threadId ? -1 : 1));
}

/** Identifies an item across runs; a new date (a rescheduled intake) makes a new item. */
export function dueItemKey(item: DueItem): string {
  return [item.threadId, item.kind, item.step ?? '', item.dueAt].join(' ');
}

/* -------------------------------------------------------------- alerts -- */

const ALERTS_RECORD = 'reminders/alerted';

/** An alert to raise: the item and the threshold it crossed (0: it is overdue). */
export interface DeadlineAlert {
  item: DueItem;
  /** How long before the due time this threshold lies; 0 means "overdue". */
  thresholdMs: number;
}

/**
 * One alert per item per threshold. Thresholds are times before the due
 * time (e.g. 24 h and 2 h) plus 0 for "overdue". An item seen only after
 * crossing several gets one alert, for the tightest; the looser ones count
 * as given. What was alerted is kept in the vault so a restarted `watch`
 * does not repeat itself; items no longer due are forgotten.
 */
export class DeadlineAlerts {
  readonly thresholds: number[];

  constructor(
    private readonly records: Pick<CaseTransport, 'getRecord' | 'putRecord'>,
    thresholdsMs: readonly number[],
  ) {
    this.thresholds = [...new Set([...thresholdsMs, 0])].filter((t) => Number.isFinite(t) && t >= 0).sort((a, b) => b - a);
  }

  /** The alerts due now for these items (call with every item currently listed). */
  async check(items: readonly DueItem[], now: number): Promise<DeadlineAlert[]> {
    const given = await this.load();
    const next: Record<string, number[]> = {};
    const alerts: DeadlineAlert[] = [];
    for (const item of items) {
      const key = dueItemKey(item);
      const before = given[key] ?? [];
      const crossed = this.thresholds.filter((t) => now >= item.dueAt - t && (t > 0 || now > item.dueAt));
      const tightest = crossed[crossed.length - 1];
      if (tightest !== undefined && !before.includes(tightest)) alerts.push({ item, thresholdMs: tightest });
      next[key] = [...new Set([...before, ...crossed])];
    }
    await this.records.putRecord(ALERTS_RECORD, next);
    return alerts;
  }

  private async load(): Promise<Record<string, number[]>> {
    const value = await this.records.getRecord(ALERTS_RECORD);
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    const out: Record<string, number[]> = {};
    for (const [key, list] of Object.entries(value as Record<string, unknown>)) {
      if (Array.isArray(list)) out[key] = list.filter((n): n is number => typeof n === 'number');
    }
    return out;
  }
}

/* ------------------------------------------------------ message notices -- */

/** A received message as `watch` shows it: ids and the event type only. */
export interface MessageNotice {
  threadId: string;
  messageId: string;
  /** The verified sender (from the certificate chain, never from the payload). */
  fromOrgId: string;
  fromDeviceId: string;
  /** The event type, `referral.supplement`, or `unreadable` for a message the case layer drops. */
  type: string;
  /** A `referral.create` from another org: a new case for this one. */
  newReferral: boolean;
}

/** What a received message is, without reading any of its data. */
export function messageNotice(message: StoredMessage, myOrgId: string): MessageNotice {
  const c = classify(message, () => undefined);
  const type = c.kind === 'event' ? c.event.type : c.kind === 'supplement' ? 'referral.supplement' : 'unreadable';
  return {
    threadId: message.threadId,
    messageId: message.messageId,
    fromOrgId: message.senderOrgId,
    fromDeviceId: message.senderDeviceId,
    type,
    newReferral: type === 'referral.create' && message.senderOrgId !== myOrgId,
  };
}
