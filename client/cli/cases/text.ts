/**
 * How case threads read on a terminal: the inbox lines, a thread's state
 * and timeline, and — marked so nobody mistakes them for the case's
 * history — refused events, dropped messages, security warnings and
 * messages that could not be opened.
 */
import type { CaseThread, DropReason, ThreadSummary } from '../../referral';
import type { FailedMessage } from '../../sdk';
import { compactLocalTime } from './local-time';

/** Times in the user's zone (TZ or the system's), written out: a case spans countries. */
export function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : compactLocalTime(ms);
}

/** One envelope that could not be opened: still waiting in the relay (retried) or given up (it can never be opened). */
export function failedLine(f: FailedMessage): string {
  const state = f.pending ? 'waiting, tried again automatically' : 'cannot be opened';
  return `  ${f.messageId} from ${f.senderDeviceId}, ${new Date(f.receivedAt).toISOString()}: ${f.code} (${state}): ${f.reason}`;
}

/** What each drop reason means, for people reading `show`. */
const DROP_REASONS: Record<DropReason, string> = {
  'forged-author': 'the event names another author than the device that signed it',
  'wrong-thread': 'the event names another thread than its envelope',
  malformed: 'not a readable case message',
  'forged-supplement': 'extra data from a device that did not write the event it completes',
  'unmatched-supplement': 'extra data for an event this device does not hold',
  'time-mismatch': "the event's time is more than 5 minutes from its envelope's signed send time",
};

function securityWarningLines(t: CaseThread): string[] {
  if (t.securityWarnings.length === 0) return [];
  const lines = [`  !! SECURITY WARNING: ${t.securityWarnings.length} message(s) of this case were also encrypted to organisations outside the thread`];
  for (const w of t.securityWarnings) {
    const from = w.direction === 'out' ? 'sent by this device' : `from ${w.senderDeviceId}`;
    lines.push(`  !!   message ${w.messageId} ${from}${w.type ? ` (${w.type})` : ''}: also to ${w.orgIds.join(', ')} (${w.deviceIds.join(', ')})`);
  }
  lines.push('  !!   The relay or a participant may be copying this case: tell your security contact before sending more.');
  return lines;
}

/** Refused events, dropped messages and security warnings, marked so nobody mistakes them for the case's history. */
function problemsText(t: CaseThread): string[] {
  const lines = securityWarningLines(t);
  if (t.rejected.length > 0) {
    lines.push('  REFUSED events (signed, but the thread does not accept them; not part of the case):');
    for (const r of t.rejected) {
      lines.push(`    ${iso(r.at)}  ${r.author.deviceId.padEnd(18)} ${r.type}: ${r.reason} (${r.code}) ${r.message}`);
    }
  }
  if (t.dropped.length > 0) {
    lines.push('  DROPPED messages (not replayed):');
    for (const d of t.dropped) lines.push(`    from ${d.senderDeviceId} (${d.senderOrgId})${d.type ? ` ${d.type}` : ''}: ${d.reason}, ${DROP_REASONS[d.reason]}`);
  }
  return lines;
}

/** The inbox's per-thread count of what `show` marks. */
function problemsCount(t: ThreadSummary): string {
  const parts: string[] = [];
  if (t.securityWarnings > 0) parts.push(`${t.securityWarnings} SECURITY WARNING(S)`);
  if (t.rejected > 0) parts.push(`${t.rejected} refused`);
  if (t.dropped > 0) parts.push(`${t.dropped} dropped`);
  return parts.length > 0 ? `  (${parts.join(', ')}: see handover show)` : '';
}

/** One line of `handover inbox`. */
export function inboxLine(t: ThreadSummary): string {
  const flag = t.overdue ? ' OVERDUE' : t.respondedLate ? ' late' : '';
  const code = t.caseCode ?? (t.purged ? '(purged)' : '-');
  return `${t.threadId}  ${(t.status ?? '?').padEnd(17)} ${(t.priority ?? '-').padEnd(9)} ${(t.role ?? '-').padEnd(11)} ${code}  ${iso(t.lastEventAt)}${flag}${problemsCount(t)}`;
}

/** The thread's state line and referral header, or its purge notice. */
function stateLines(t: CaseThread): string[] {
  if (t.purged) return [`  PURGED after the survivor withdrew consent (${iso(t.purged.purgedAt)}, ${t.purged.itemsDeleted} items deleted here)`];
  const overdue = t.overdue ? '  OVERDUE' : t.respondedLate ? '  (answered late)' : '';
  const lines = [`  status ${t.status ?? 'unknown'}   priority ${t.priority ?? '-'}   respond by ${iso(t.responseDeadline)}${overdue}`];
  if (t.referral) {
    const h = t.referral.header;
    lines.push(`  case ${t.referral.identity.caseCode}   ${h.kind}   purpose ${h.purpose}   services ${h.servicesRequested.join(', ')}`);
  }
  if (t.consentExpired) lines.push('  CONSENT EXPIRED: nothing more may be sent without a new consent');
  return lines;
}

/** Who takes part, what was decided, the intake and the return path. */
function progressLines(t: CaseThread): string[] {
  const lines = [`  participants: ${t.participants.map((p) => `${p.orgId} (${p.orgType}, ${p.role})`).join(', ') || '-'}`];
  if (t.decision) lines.push(`  decision: ${t.decision.outcome} by ${t.decision.author.orgId} at ${iso(t.decision.at)}`);
  if (t.intakeSchedule) {
    const s = t.intakeSchedule;
    lines.push(`  intake: ${iso(s.scheduledFor)}${s.location ? ` at ${s.location}` : ''}${s.transport ? `, ${s.transport}` : ''}`);
  }
  if (t.returnPath.steps.length > 0) {
    lines.push('  return path:');
    for (const s of t.returnPath.steps) {
      lines.push(`    ${s.step.padEnd(20)} ${s.status}${s.decision ? ` (${s.decision})` : ''}   ${s.responsibleOrgId}${s.date ? `   ${iso(s.date)}` : ''}`);
    }
  }
  return lines;
}

/** Consent overrides and the withdrawal with its purge receipts. */
function consentLines(t: CaseThread): string[] {
  const lines = t.overrides.map((o) => `  CONSENT OVERRIDE by ${o.byOrgId} for ${o.recipient.orgId} (${o.purpose}): ${o.reason}`);
  const w = t.consentWithdrawal;
  if (w) {
    lines.push(`  consent withdrawn ${iso(w.withdrawnAt)} (recorded by ${w.byOrgId})`);
    for (const c of w.confirmed) lines.push(`    purged: ${c.orgId} (${c.deviceIds.length} device(s), ${c.itemsDeleted} items)`);
    lines.push(w.complete ? '    every participant has confirmed the purge' : `    waiting for: ${w.pending.join(', ')}`);
  }
  return lines;
}

/** What `handover show` prints for people (without the referral itself). */
export function threadText(t: CaseThread): string {
  const lines = [`Thread ${t.threadId}`, ...stateLines(t), ...progressLines(t), ...consentLines(t)];
  lines.push('  timeline:');
  for (const e of t.timeline) lines.push(`    ${iso(e.at)}  ${e.author.deviceId.padEnd(18)} ${e.summary}`);
  lines.push(...problemsText(t));
  if (t.missingPrev.length > 0) lines.push(`  ${t.missingPrev.length} earlier event(s) not received yet`);
  return lines.join('\n');
}
