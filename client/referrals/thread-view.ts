/**
 * A thread as one device sees it, from the messages it holds (pure: the
 * case service loads, this derives). Also the view of a purged thread,
 * rebuilt from its tombstone.
 */
import type { EventAuthor, OrgTypeName, ReferralData, ThreadEvent } from '../../shared/referral/schemas';
import { type ParticipantRole, type ThreadState, deriveThreadState } from '../../shared/referral/state';
import { mergeData } from './disclosure';
import type { DroppedMessage, ReceivedSupplement } from './payload';
import { type PurgeRecord, type Tombstone, tombstoneState } from './tombstone';

export interface ProvidedInfo {
  id: string;
  at: number;
  author: EventAuthor;
  inReplyTo: string;
  details?: string;
  /** What this org may see of the data sent (the event plus its supplement). */
  data?: ReferralData;
}

/** A thread as this device sees it: the derived state plus what was not replayed. */
export interface CaseThread extends ThreadState {
  /** Messages not replayed: forged author, malformed, wrong thread, foreign supplements. */
  dropped: DroppedMessage[];
  /** Answers to information requests (applied `referral.provide-info` events). */
  provided: ProvidedInfo[];
  /** Set once this device purged the thread after a consent withdrawal; the state is then rebuilt from the tombstone. */
  purged: PurgeRecord | null;
}

export interface ThreadSummary {
  threadId: string;
  status: ThreadState['status'];
  priority: ThreadState['priority'];
  overdue: boolean;
  respondedLate: boolean;
  responseDeadline: number | null;
  /** The case code (never a name); null once purged. */
  caseCode: string | null;
  /** This org's role in the thread. */
  role: ParticipantRole | null;
  participants: Array<{ orgId: string; orgType: OrgTypeName; role: ParticipantRole }>;
  lastEventAt: number | null;
  rejected: number;
  dropped: number;
  purged: boolean;
}

/** A thread's stored messages, sorted by kind. */
export interface LoadedThread {
  events: ThreadEvent[];
  supplements: ReceivedSupplement[];
  dropped: DroppedMessage[];
  messageCount: number;
}

/**
 * The thread from its verified events and supplements: the derived state,
 * with each supplement merged into the event it completes (only when it came
 * from that event's author device) and every message not replayed listed.
 */
export function deriveCaseThread(threadId: string, loaded: LoadedThread, now: number): CaseThread {
  const state = deriveThreadState(loaded.events, { now });
  const dropped = [...loaded.dropped];
  const byId = new Map(loaded.events.map((e) => [e.id, e.event]));
  // Supplements count only from the device that authored the event they complete.
  const accepted = new Map<string, ReferralData[]>();
  for (const s of loaded.supplements) {
    const target = byId.get(s.supplement.eventHash);
    const who = { messageId: s.messageId, senderDeviceId: s.senderDeviceId, senderOrgId: s.senderOrgId };
    if (!target) {
      dropped.push({ ...who, reason: 'unmatched-supplement' });
    } else if (target.author.deviceId !== s.senderDeviceId || target.author.orgId !== s.senderOrgId) {
      dropped.push({ ...who, reason: 'forged-supplement' });
    } else {
      const list = accepted.get(s.supplement.eventHash) ?? [];
      list.push(s.supplement.data);
      accepted.set(s.supplement.eventHash, list);
    }
  }
  const referral = state.referral && state.referralId ? mergeData(state.referral, accepted.get(state.referralId) ?? []) : state.referral;
  const provided: ProvidedInfo[] = [];
  for (const entry of state.timeline) {
    const event = byId.get(entry.id);
    if (event?.type !== 'referral.provide-info') continue;
    const extra = accepted.get(entry.id) ?? [];
    const data = event.body.data || extra.length ? mergeData(event.body.data ?? {}, extra) : undefined;
    provided.push({
      id: entry.id,
      at: event.at,
      author: event.author,
      inReplyTo: event.body.inReplyTo,
      ...(event.body.details !== undefined ? { details: event.body.details } : {}),
      ...(data ? { data } : {}),
    });
  }
  return { ...state, threadId: state.threadId ?? threadId, referral, dropped, provided, purged: null };
}

/** The view of a purged thread: the withdrawal and the purge receipts, nothing else. */
export function purgedCaseThread(tomb: Tombstone): CaseThread {
  return {
    ...tombstoneState(tomb),
    dropped: [],
    provided: [],
    purged: {
      purgedAt: tomb.purgedAt,
      itemsDeleted: tomb.itemsDeleted,
      discardedLater: tomb.discardedLater,
      receiptPending: tomb.pendingReceipt !== null,
    },
  };
}
