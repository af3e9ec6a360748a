/**
 * The inbox's view of a thread: one line per thread, kept in the case
 * index so `handover inbox` reads no thread, and brought up to date with
 * the clock when read (a referral turns overdue without any new message).
 */
import type { IndexEntry } from './case-store';
import { dueDatesOf } from './reminders';
import type { CaseThread, LoadedThread, ThreadSummary } from './thread-view';

/** A derived thread as its inbox line (ids, states and counts only; never survivor data beyond the case code). */
export function indexEntry(threadId: string, t: CaseThread, loaded: LoadedThread, myOrgId: string): IndexEntry {
    const last = t.timeline[t.timeline.length - 1];
    return {
      summary: {
        threadId,
        status: t.status,
        priority: t.priority,
        overdue: t.overdue,
        respondedLate: t.respondedLate,
        responseDeadline: t.responseDeadline,
        caseCode: t.referral?.identity.caseCode ?? null,
        role: t.participants.find((p) => p.orgId === myOrgId)?.role ?? null,
        participants: t.participants.map(({ orgId, orgType, role }) => ({ orgId, orgType, role })),
        lastEventAt: last ? last.at : null,
        rejected: t.rejected.length,
        dropped: t.dropped.length,
        securityWarnings: t.securityWarnings.length,
        purged: false,
      },
      firstResponseAt: t.firstResponseAt,
      withdrawn: t.consentWithdrawal !== null,
      messageCount: loaded.messageCount,
      due: dueDatesOf(t),
    };
  }

/** An inbox line as of `now`: a referral still unanswered past its deadline reads as overdue (expired). */
export function summaryAt(entry: IndexEntry, now: number): ThreadSummary {
  const { summary } = entry;
  const waiting = (summary.status === 'sent' || summary.status === 'expired') && entry.firstResponseAt === null && summary.responseDeadline !== null;
  if (!waiting || summary.responseDeadline === null) return summary;
  const overdue = now > summary.responseDeadline;
  return { ...summary, overdue, status: overdue ? 'expired' : 'sent' };
}

export function purgedSummary(threadId: string, t: CaseThread, orgId: string): ThreadSummary {
  const last = t.timeline[t.timeline.length - 1];
  return {
    threadId,
    status: t.status,
    priority: t.priority,
    overdue: t.overdue,
    respondedLate: t.respondedLate,
    responseDeadline: t.responseDeadline,
    caseCode: null,
    role: t.participants.find((p) => p.orgId === orgId)?.role ?? null,
    participants: t.participants.map(({ orgId: id, orgType, role }) => ({ orgId: id, orgType, role })),
    lastEventAt: last ? last.at : null,
    rejected: t.rejected.length,
    dropped: t.dropped.length,
    securityWarnings: t.securityWarnings.length,
    purged: true,
  };
}
