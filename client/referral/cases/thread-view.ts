/**
 * A thread as one device sees it, from the messages it holds (pure: the
 * case service loads, this derives). Also the view of a purged thread,
 * rebuilt from its tombstone.
 *
 * Besides the replayed state it reports what should worry people: messages
 * not replayed (`dropped`) and messages whose signed header names a device
 * of an org outside the thread (`securityWarnings`): a relay or a sender
 * that copied the case to someone else.
 */
import { orderEvents } from '../domain/order';
import { redactForRecipient } from '../domain/consent';
import type { EventAuthor, OrgRef, OrgTypeName, ReferralBody, ReferralData, ThreadEvent } from '../domain/schemas';
import { type ParticipantRole, type ThreadRules, type ThreadState, deriveThreadState } from '../domain/state';
import { orgOfDeviceId } from '../../../shared';
import { mergeData } from './disclosure';
import type { DroppedMessage, MessageRoute, ReceivedSupplement } from './payload';
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

export type SecurityWarningKind = 'unexpected-recipient';

/** Something about a message that may mean the case leaked. Ids only. */
export interface SecurityWarning {
  kind: SecurityWarningKind;
  messageId: string;
  senderDeviceId: string;
  senderOrgId: string;
  direction: 'in' | 'out';
  /** The event type the message carried, when it was an event. */
  type?: string;
  /** The orgs outside the thread whose devices the envelope was encrypted to. */
  orgIds: string[];
  deviceIds: string[];
  /** One line for people. */
  message: string;
}

/** A thread as this device sees it: the derived state plus what was not replayed. */
export interface CaseThread extends ThreadState {
  /** Messages not replayed: forged author, malformed, wrong thread, foreign supplements, time not the signed send time. */
  dropped: DroppedMessage[];
  /** Messages that reached (or were encrypted to) devices of orgs outside the thread. */
  securityWarnings: SecurityWarning[];
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
  /** Events the thread refused, messages dropped, and security warnings: each shown by `handover show`. */
  rejected: number;
  dropped: number;
  securityWarnings: number;
  purged: boolean;
}

/** A thread's stored messages, sorted by kind. */
export interface LoadedThread {
  events: ThreadEvent[];
  supplements: ReceivedSupplement[];
  dropped: DroppedMessage[];
  /** One per stored message: who it went to and what it carried. */
  routes: MessageRoute[];
  messageCount: number;
}

export interface ViewContext extends ThreadRules {
  now: number;
  /** This device's org with its certified type: the referral is shown as the consent lets this org see it. */
  viewer: OrgRef | null;
}

/**
 * The thread from its verified events and supplements: the derived state,
 * with each supplement merged into the event it completes (only when it came
 * from that event's author device) and every message not replayed listed.
 */
export function deriveCaseThread(threadId: string, loaded: LoadedThread, ctx: ViewContext): CaseThread {
  const { viewer, ...opts } = ctx;
  const state = deriveThreadState(loaded.events, opts);
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
  const merged = state.referral && state.referralId ? mergeData(state.referral, accepted.get(state.referralId) ?? []) : state.referral;
  const seeAs = viewerToRedactFor(state, viewer);
  const referral = merged && seeAs ? redactForRecipient(merged, merged.consent, seeAs) : merged;
  const provided: ProvidedInfo[] = [];
  for (const entry of state.timeline) {
    const event = byId.get(entry.id);
    if (event?.type !== 'referral.provide-info') continue;
    const extra = accepted.get(entry.id) ?? [];
    const full = event.body.data || extra.length ? mergeData(event.body.data ?? {}, extra) : undefined;
    const data = full && seeAs && state.referral ? redactData(state.referral, full, seeAs) : full;
    provided.push({
      id: entry.id,
      at: event.at,
      author: event.author,
      inReplyTo: event.body.inReplyTo,
      ...(event.body.details !== undefined ? { details: event.body.details } : {}),
      ...(data ? { data } : {}),
    });
  }
  const securityWarnings = unexpectedRecipients(loaded, state);
  return { ...state, threadId: state.threadId ?? threadId, referral, dropped, securityWarnings, provided, purged: null };
}

/**
 * Whom to redact the view for: every org but the sender's sees only what the
 * consent lets its certified type see, whatever a sender put in the messages
 * (defence in depth: an honest sender never sends more). The sender's org
 * wrote the referral and sees it whole.
 */
function viewerToRedactFor(state: ThreadState, viewer: OrgRef | null): OrgRef | null {
  if (!viewer || !state.referral) return null;
  const sender = state.participants.find((p) => p.role === 'sender');
  return sender?.orgId === viewer.orgId ? null : viewer;
}

/** Data sent later (provide-info), redacted as the referral is: wrapped in the thread's header and consent. */
function redactData(referral: ReferralBody, data: ReferralData, viewer: OrgRef): ReferralData | undefined {
  const wrapped: ReferralBody = { header: referral.header, consent: referral.consent, ...data, identity: data.identity ?? { caseCode: referral.identity.caseCode } };
  const { header: _h, consent: _c, identity, ...rest } = redactForRecipient(wrapped, referral.consent, viewer);
  const out: ReferralData = { ...rest, ...(data.identity ? { identity } : {}) };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Every message's recipient devices, checked against the orgs it may reach:
 * the thread's participants at that point of its own signed history (for the
 * create, its own participants; for a participant.add, with the added org)
 * and the sender's org; for a supplement, the participant orgs it is
 * addressed to and the sender's org. An event that replays before the
 * create (refused) is checked against the create's participants; a message
 * that carries no replayed event, against today's. Checked only once this
 * device holds the referral (without it, nobody's participation is known).
 */
function unexpectedRecipients(loaded: LoadedThread, state: ThreadState): SecurityWarning[] {
  if (!state.referral || !state.referralId) return [];
  const position = new Map(orderEvents(loaded.events).ordered.map((e, i) => [e.id, i]));
  const created = position.get(state.referralId) ?? 0;
  const joinedAt = state.participants.map((p) => ({ orgId: p.orgId, at: position.get(p.addedBy) ?? Number.POSITIVE_INFINITY }));
  const participantsAt = (eventId: string | undefined): string[] => {
    const at = eventId === undefined ? undefined : position.get(eventId);
    return joinedAt.filter((p) => at === undefined || p.at <= Math.max(at, created)).map((p) => p.orgId);
  };
  const warnings: SecurityWarning[] = [];
  for (const route of loaded.routes) {
    const allowed = new Set([route.senderOrgId]);
    const { carries } = route;
    if (carries.kind === 'event') for (const orgId of participantsAt(carries.id)) allowed.add(orgId);
    else if (carries.kind === 'supplement') {
      for (const orgId of participantsAt(carries.eventHash)) if (route.orgIds.includes(orgId)) allowed.add(orgId);
    } else for (const orgId of participantsAt(undefined)) allowed.add(orgId);

    const deviceIds = route.recipientDeviceIds.filter((d) => !allowed.has(orgOfDeviceId(d)));
    if (deviceIds.length === 0) continue;
    const orgIds = [...new Set(deviceIds.map(orgOfDeviceId))].sort();
    warnings.push({
      kind: 'unexpected-recipient',
      messageId: route.messageId,
      senderDeviceId: route.senderDeviceId,
      senderOrgId: route.senderOrgId,
      direction: route.direction,
      ...(carries.kind === 'event' ? { type: carries.type } : {}),
      orgIds,
      deviceIds: [...deviceIds].sort(),
      message:
        `${route.direction === 'out' ? 'a message this device sent' : `a message from ${route.senderDeviceId}`} was also encrypted to ` +
        `${orgIds.join(', ')}, outside this thread: the relay or the sender may have copied the case; tell your security contact`,
    });
  }
  return warnings;
}

/** The view of a purged thread: the withdrawal and the purge receipts, nothing else. */
export function purgedCaseThread(tomb: Tombstone): CaseThread {
  return {
    ...tombstoneState(tomb),
    dropped: [],
    securityWarnings: [],
    provided: [],
    purged: {
      purgedAt: tomb.purgedAt,
      itemsDeleted: tomb.itemsDeleted,
      discardedLater: tomb.discardedLater,
      receiptPending: tomb.pendingReceipt !== null,
    },
  };
}
