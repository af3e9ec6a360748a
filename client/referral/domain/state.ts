/**
 * A case thread's state, derived by replaying its signed events (docs/DOMAIN.md
 * "Lifecycle"). Pure: the caller has already checked signatures and
 * certificates (so `author` is the device that signed), parsed every event
 * with `EventEnvelope`, and computed each event's hash `id`.
 *
 * Replay order is `orderEvents` (topological by `prev`, then `at`, then
 * hash). Each event is checked against the state so far: an event from an
 * org that may not send it, one that does not fit the lifecycle, or a
 * repeat is not applied but kept in `rejected` with its reason, so
 * concurrent actions stay visible. `validateNextEvent` runs the same checks
 * on an event a client is about to send.
 *
 * Two facts come from outside the log, through `ThreadRules`: the thread id
 * a create commits to (only the create the id was derived from can start
 * the thread) and the root-certified type of each org (what a form or an
 * event says about an org's type is checked against it, never trusted).
 */
import { HandoverError, isHandoverError } from '../../../shared';
import { type ScopeDecision, checkConsentScope } from './consent';
import { orderEvents } from './order';
import { RESPONSE_WINDOW_MS } from './picklists';
import { EMPTY_RETURN_PATH, type ReturnPathState, applyReturnStep, returnStepProblem } from './return-path';
import type {
  DeclineBody,
  EventAuthor,
  EventEnvelope,
  EventOf,
  EventType,
  IntakeScheduleBody,
  OrgRef,
  OrgTypeName,
  Priority,
  Purpose,
  ReferralBody,
  ThreadEvent,
} from './schemas';

export const INTAKE_STATES = [
  'sent',
  'acknowledged',
  'info-requested',
  'accepted',
  'declined',
  'intake-scheduled',
  'arrived',
  'no-show',
  'in-service',
  'completed',
  'withdrawn',
  'consent-withdrawn',
  'expired',
  'closed',
] as const;
export type IntakeState = (typeof INTAKE_STATES)[number];

export type ParticipantRole = 'sender' | 'receiving' | 'coordinator';

export interface Participant {
  orgId: string;
  orgType: OrgTypeName;
  role: ParticipantRole;
  /** Hash of the event that brought the org in. */
  addedBy: string;
  addedAt: number;
}

export type RejectReason =
  | 'wrong-party'
  | 'invalid-transition'
  | 'duplicate'
  | 'consent-scope'
  | 'wrong-thread'
  | 'no-referral'
  /** A `referral.create` the thread id was not derived from (a hijack attempt, or another thread's create). */
  | 'thread-mismatch'
  /** An org named with another type than its root-certified certificate says. */
  | 'org-type-mismatch'
  /** An org this device holds no valid certificate for, so its type cannot be checked (re-checked on every replay). */
  | 'uncertified-org';
export type RejectCode = 'WRONG_PARTY' | 'INVALID_EVENT' | 'CONSENT_SCOPE' | 'UNTRUSTED_KEY';

/** What the replay needs from outside the log. */
export interface ThreadRules {
  /** The thread id a create commits to: `deriveThreadId` (thread-id.ts) with BLAKE2b-256. */
  threadIdOf(create: EventOf<'referral.create'>): string;
  /** The org type in the org's root-certified certificate, or undefined when this device holds none. */
  certifiedOrgType(orgId: string): OrgTypeName | undefined;
}

export interface DeriveOptions extends ThreadRules {
  now: number;
}

export interface RejectedEvent {
  id: string;
  eventId: string;
  type: EventType;
  at: number;
  author: EventAuthor;
  code: RejectCode;
  reason: RejectReason;
  message: string;
}

export interface TimelineEntry {
  id: string;
  eventId: string;
  type: EventType;
  at: number;
  author: EventAuthor;
  /** One line for people; ids and codes only, never survivor data. */
  summary: string;
  /** The intake state after this event. */
  state: IntakeState;
}

export interface Decision {
  outcome: 'accepted' | 'declined';
  id: string;
  at: number;
  author: EventAuthor;
  decline?: DeclineBody;
}

export interface PurgeConfirmation {
  orgId: string;
  /** When the org's first receipt was signed. */
  at: number;
  deviceIds: string[];
  itemsDeleted: number;
}

export interface PurgeTracking {
  /** Hash of the `consent.withdraw` event. */
  withdrawalId: string;
  withdrawnAt: number;
  byOrgId: string;
  confirmed: PurgeConfirmation[];
  /** Participant orgs that have not sent a purge receipt yet. */
  pending: string[];
  complete: boolean;
}

export interface ConsentOverrideEntry {
  id: string;
  at: number;
  byOrgId: string;
  recipient: OrgRef;
  purpose: Purpose;
  reason: string;
  via: 'consent.override' | 'participant.add';
}

export interface ThreadState {
  threadId: string | null;
  /** Hash of the `referral.create` event. */
  referralId: string | null;
  referral: ReferralBody | null;
  participants: Participant[];
  /** Null until the referral itself is held. */
  status: IntakeState | null;
  priority: Priority | null;
  /** Referral `at` + 24 h (emergency), 72 h (urgent) or 14 days (normal). */
  responseDeadline: number | null;
  /** First acknowledge, request-info, accept or decline by the receiving org. */
  firstResponseAt: number | null;
  /** No response yet and `now` is past the deadline (the status then reads `expired`). */
  overdue: boolean;
  respondedLate: boolean;
  decision: Decision | null;
  intakeSchedule: IntakeScheduleBody | null;
  returnPath: ReturnPathState;
  consentExpired: boolean;
  consentWithdrawal: PurgeTracking | null;
  overrides: ConsentOverrideEntry[];
  timeline: TimelineEntry[];
  rejected: RejectedEvent[];
  /** Hashes to put in the `prev` of the next event. */
  heads: string[];
  /** Hashes named in some `prev` that this client does not hold (yet). */
  missingPrev: string[];
}

// --- Who may send what, from which state ---

type Party = 'receiving' | 'sender' | 'sender-or-receiving' | 'iom' | 'any';
type Lifecycle = Exclude<IntakeState, 'expired'>;

const UNDECIDED: readonly Lifecycle[] = ['sent', 'acknowledged', 'info-requested'];
const AFTER_ACCEPT: readonly Lifecycle[] = ['accepted', 'intake-scheduled', 'no-show'];
const ENDED: readonly Lifecycle[] = ['declined', 'withdrawn', 'consent-withdrawn', 'completed', 'closed'];
const ALL: readonly Lifecycle[] = INTAKE_STATES.filter((s): s is Lifecycle => s !== 'expired');
const NOT_ENDED = ALL.filter((s) => !ENDED.includes(s));

interface Rule {
  party: Party;
  from: readonly Lifecycle[];
  to?: Lifecycle;
  /** Happens at most once per thread; a second one is a duplicate. */
  once?: true;
}

const RULES: Record<Exclude<EventType, 'referral.create'>, Rule> = {
  'referral.acknowledge': { party: 'receiving', from: ['sent'], to: 'acknowledged', once: true },
  'referral.request-info': { party: 'receiving', from: UNDECIDED, to: 'info-requested' },
  'referral.provide-info': { party: 'sender', from: ['info-requested'], to: 'acknowledged' },
  'referral.accept': { party: 'receiving', from: UNDECIDED, to: 'accepted', once: true },
  'referral.decline': { party: 'receiving', from: UNDECIDED, to: 'declined', once: true },
  'intake.schedule': { party: 'receiving', from: AFTER_ACCEPT, to: 'intake-scheduled' },
  'intake.arrived': { party: 'receiving', from: AFTER_ACCEPT, to: 'arrived', once: true },
  'intake.no-show': { party: 'receiving', from: ['intake-scheduled'], to: 'no-show' },
  'service.start': { party: 'receiving', from: ['arrived'], to: 'in-service', once: true },
  'service.complete': { party: 'receiving', from: ['in-service'], to: 'completed', once: true },
  'referral.withdraw': { party: 'sender', from: NOT_ENDED, to: 'withdrawn', once: true },
  note: { party: 'any', from: ALL.filter((s) => s !== 'consent-withdrawn') },
  // Bringing in an org and ending the case for everyone are the two parties' acts, not a coordinator's (DECISIONS.md).
  'participant.add': { party: 'sender-or-receiving', from: NOT_ENDED },
  'return.step': { party: 'iom', from: ALL.filter((s) => !['withdrawn', 'consent-withdrawn', 'closed'].includes(s)) },
  'consent.override': { party: 'sender', from: ALL.filter((s) => s !== 'consent-withdrawn' && s !== 'closed') },
  // Withdrawal still matters after closing: clients keep closed threads for their retention period.
  'consent.withdraw': { party: 'sender-or-receiving', from: ALL.filter((s) => s !== 'consent-withdrawn'), to: 'consent-withdrawn', once: true },
  'purge.receipt': { party: 'any', from: ['consent-withdrawn', 'closed'] },
  'case.close': { party: 'sender-or-receiving', from: ALL.filter((s) => s !== 'closed'), to: 'closed', once: true },
};

const FIRST_RESPONSES: readonly EventType[] = ['referral.acknowledge', 'referral.request-info', 'referral.accept', 'referral.decline'];

interface Rejection {
  code: RejectCode;
  reason: RejectReason;
  message: string;
}

/** What the checks need beyond the state: applied event ids and one-shot types, and the outside facts. */
interface Replay {
  state: ThreadState;
  /** `eventIdKey` of every applied event. */
  seenEventIds: Set<string>;
  appliedTypes: Set<EventType>;
  rules: ThreadRules;
}

/**
 * An event id is the author's own random id: a repeat counts only from the
 * same device, and only once applied. Otherwise any participant could burn
 * another device's event id (copy it into an earlier-dated event) and have
 * that event refused as a duplicate.
 */
function eventIdKey(author: EventAuthor, eventId: string): string {
  return `${author.deviceId} ${eventId}`;
}

function reject(code: RejectCode, reason: RejectReason, message: string): Rejection {
  return { code, reason, message };
}

function lifecycleOf(state: ThreadState): Lifecycle | null {
  return state.status === 'expired' ? 'sent' : state.status;
}

function participantOf(state: ThreadState, orgId: string): Participant | undefined {
  return state.participants.find((p) => p.orgId === orgId);
}

function partyProblem(party: Party, who: Participant): string | null {
  switch (party) {
    case 'any':
      return null;
    case 'iom':
      return who.orgType === 'iom' ? null : 'only an IOM office records return steps';
    case 'receiving':
      return who.role === 'receiving' ? null : 'only the receiving organisation can do this';
    case 'sender':
      return who.role === 'sender' ? null : "only the sender's organisation can do this";
    case 'sender-or-receiving':
      return who.role === 'coordinator' ? 'only the sender or receiving organisation can do this' : null;
  }
}

/** The org's type as named in an event, against its root-certified certificate. */
function orgTypeProblem(rules: ThreadRules, org: OrgRef): Rejection | null {
  const certified = rules.certifiedOrgType(org.orgId);
  if (certified === undefined) {
    return reject(
      'UNTRUSTED_KEY',
      'uncertified-org',
      `${org.orgId} has no valid org certificate on this device, so its type "${org.orgType}" cannot be checked; refresh the directory`,
    );
  }
  if (certified !== org.orgType) {
    return reject('UNTRUSTED_KEY', 'org-type-mismatch', `${org.orgId} is certified as ${certified}, not ${org.orgType} as the event says`);
  }
  return null;
}

function checkCreate(replay: Replay, event: EventOf<'referral.create'>): Rejection | null {
  const { state, rules } = replay;
  if (state.threadId !== null && event.threadId !== state.threadId) return reject('INVALID_EVENT', 'wrong-thread', 'the event belongs to another thread');
  if (state.referral) return reject('INVALID_EVENT', 'duplicate', 'the thread already has a referral');
  const { referredOrganisation, coordinators } = event.body.header;
  const orgIds = [event.author.orgId, referredOrganisation.orgId, ...coordinators.map((c) => c.orgId)];
  if (new Set(orgIds).size !== orgIds.length) {
    return reject('INVALID_EVENT', 'invalid-transition', 'sender, receiving organisation and coordinators must be different organisations');
  }
  for (const org of [{ orgId: event.author.orgId, orgType: event.author.orgType }, referredOrganisation, ...coordinators]) {
    const problem = orgTypeProblem(rules, org);
    if (problem) return problem;
  }
  return null;
}

/** Checks for one event type beyond party and state. */
function checkSpecific(replay: Replay, event: EventEnvelope): Rejection | null {
  const { state } = replay;
  switch (event.type) {
    case 'referral.provide-info': {
      const asked = state.timeline.some((t) => t.id === event.body.inReplyTo && t.type === 'referral.request-info');
      return asked ? null : reject('INVALID_EVENT', 'invalid-transition', 'provide-info must answer a request-info event of this thread');
    }
    case 'participant.add': {
      if (participantOf(state, event.body.orgId)) return reject('INVALID_EVENT', 'duplicate', `${event.body.orgId} is already a participant`);
      // The consent check below reads the type: it must be the certified one, not what the adder typed.
      return orgTypeProblem(replay.rules, event.body) ?? consentProblem(state, event);
    }
    case 'return.step': {
      const problem = returnStepProblem(state.returnPath, event.body);
      return problem ? reject('INVALID_EVENT', 'invalid-transition', problem) : null;
    }
    case 'purge.receipt': {
      const withdrawal = state.consentWithdrawal;
      if (!withdrawal) return reject('INVALID_EVENT', 'invalid-transition', 'no consent withdrawal to confirm');
      if (event.body.withdrawalId !== withdrawal.withdrawalId) {
        return reject('INVALID_EVENT', 'invalid-transition', 'the receipt names another withdrawal');
      }
      const already = withdrawal.confirmed.find((c) => c.orgId === event.author.orgId);
      if (already?.deviceIds.includes(event.author.deviceId)) {
        return reject('INVALID_EVENT', 'duplicate', 'this device already confirmed the purge');
      }
      return null;
    }
    default:
      return null;
  }
}

function consentProblem(state: ThreadState, event: EventOf<'participant.add'>): Rejection | null {
  if (!state.referral) return null;
  try {
    checkConsentScope(state.referral.consent, scopeRequestFor(event));
    return null;
  } catch (err) {
    if (!isHandoverError(err, 'CONSENT_SCOPE')) throw err;
    return reject('CONSENT_SCOPE', 'consent-scope', err.message);
  }
}

function scopeRequestFor(event: EventOf<'participant.add'>) {
  const reason = event.body.consentOverrideReason;
  return {
    recipientOrgId: event.body.orgId,
    recipientOrgType: event.body.orgType,
    // A new participant sees only what is sent after it joins.
    fieldGroups: [],
    purpose: event.body.purpose,
    now: event.at,
    ...(reason !== undefined ? { override: { reason } } : {}),
  };
}

/** Why `event` cannot be applied to the state, or null when it can. */
function check(replay: Replay, event: EventEnvelope): Rejection | null {
  // Whatever its time or id, a create the thread id was not derived from never belongs to the thread.
  if (event.type === 'referral.create' && replay.rules.threadIdOf(event) !== event.threadId) {
    return reject('INVALID_EVENT', 'thread-mismatch', 'this referral.create is not the one the thread id was derived from; it cannot start or replace the thread');
  }
  if (replay.seenEventIds.has(eventIdKey(event.author, event.eventId))) {
    return reject('INVALID_EVENT', 'duplicate', 'an event with this id was already recorded');
  }
  if (event.type === 'referral.create') return checkCreate(replay, event);
  const { state } = replay;
  const status = lifecycleOf(state);
  if (!status) return reject('INVALID_EVENT', 'no-referral', 'the thread has no referral yet');
  if (event.threadId !== state.threadId) return reject('INVALID_EVENT', 'wrong-thread', 'the event belongs to another thread');
  if (event.prev.length === 0) return reject('INVALID_EVENT', 'invalid-transition', 'the event must name the events its author saw');

  const who = participantOf(state, event.author.orgId);
  if (!who) return reject('WRONG_PARTY', 'wrong-party', `${event.author.orgId} is not a participant of this thread`);
  if (who.orgType !== event.author.orgType) {
    return reject('WRONG_PARTY', 'wrong-party', `${event.author.orgId} joined as ${who.orgType}, not ${event.author.orgType}`);
  }
  const rule = RULES[event.type];
  const notAllowed = partyProblem(rule.party, who);
  if (notAllowed) return reject('WRONG_PARTY', 'wrong-party', `${event.type}: ${notAllowed}`);
  if (rule.once && replay.appliedTypes.has(event.type)) {
    return reject('INVALID_EVENT', 'duplicate', `${event.type} was already recorded (first one wins)`);
  }
  if (!rule.from.includes(status)) return reject('INVALID_EVENT', 'invalid-transition', `${event.type} is not possible when the referral is ${status}`);
  return checkSpecific(replay, event);
}

// --- Applying an accepted event ---

function apply(replay: Replay, id: string, event: EventEnvelope): void {
  const { state } = replay;
  const participant = (org: OrgRef, role: ParticipantRole): Participant => ({ ...org, role, addedBy: id, addedAt: event.at });

  switch (event.type) {
    case 'referral.create': {
      const { header } = event.body;
      state.threadId = event.threadId;
      state.referralId = id;
      state.referral = event.body;
      state.status = 'sent';
      state.priority = header.priority;
      state.responseDeadline = event.at + RESPONSE_WINDOW_MS[header.priority];
      state.participants = [
        participant({ orgId: event.author.orgId, orgType: event.author.orgType }, 'sender'),
        participant(header.referredOrganisation, 'receiving'),
        ...header.coordinators.map((c) => participant(c, 'coordinator')),
      ];
      break;
    }
    case 'referral.accept':
    case 'referral.decline':
      state.decision = {
        outcome: event.type === 'referral.accept' ? 'accepted' : 'declined',
        id,
        at: event.at,
        author: event.author,
        ...(event.type === 'referral.decline' ? { decline: event.body } : {}),
      };
      break;
    case 'intake.schedule':
      state.intakeSchedule = event.body;
      break;
    case 'participant.add': {
      state.participants.push(participant({ orgId: event.body.orgId, orgType: event.body.orgType }, 'coordinator'));
      // `check` already passed, so this only tells whether the override was needed.
      const decision: ScopeDecision = state.referral ? checkConsentScope(state.referral.consent, scopeRequestFor(event)) : { overridden: false };
      if (decision.overridden) {
        state.overrides.push({
          id,
          at: event.at,
          byOrgId: event.author.orgId,
          recipient: { orgId: event.body.orgId, orgType: event.body.orgType },
          purpose: event.body.purpose,
          reason: decision.reason,
          via: 'participant.add',
        });
      }
      break;
    }
    case 'consent.override':
      state.overrides.push({
        id,
        at: event.at,
        byOrgId: event.author.orgId,
        recipient: event.body.recipient,
        purpose: event.body.purpose,
        reason: event.body.reason,
        via: 'consent.override',
      });
      break;
    case 'return.step':
      state.returnPath = applyReturnStep(state.returnPath, event.body, id, event.at);
      break;
    case 'consent.withdraw':
      state.consentWithdrawal = {
        withdrawalId: id,
        withdrawnAt: event.at,
        byOrgId: event.author.orgId,
        confirmed: [],
        pending: state.participants.map((p) => p.orgId),
        complete: false,
      };
      break;
    case 'purge.receipt':
      if (state.consentWithdrawal) recordPurge(state.consentWithdrawal, event);
      break;
    default:
      break;
  }

  if (event.type !== 'referral.create') {
    const rule = RULES[event.type];
    if (rule.to) state.status = rule.to;
  }
  const fromReceiving = participantOf(state, event.author.orgId)?.role === 'receiving';
  if (state.firstResponseAt === null && fromReceiving && FIRST_RESPONSES.includes(event.type)) state.firstResponseAt = event.at;
  replay.appliedTypes.add(event.type);
  state.timeline.push({
    id,
    eventId: event.eventId,
    type: event.type,
    at: event.at,
    author: event.author,
    summary: summarise(event),
    state: state.status ?? 'sent',
  });
}

function recordPurge(withdrawal: PurgeTracking, event: EventOf<'purge.receipt'>): void {
  const { orgId, deviceId } = event.author;
  const entry = withdrawal.confirmed.find((c) => c.orgId === orgId);
  if (entry) {
    entry.deviceIds.push(deviceId);
    entry.itemsDeleted += event.body.itemsDeleted;
  } else {
    withdrawal.confirmed.push({ orgId, at: event.at, deviceIds: [deviceId], itemsDeleted: event.body.itemsDeleted });
  }
  withdrawal.pending = withdrawal.pending.filter((id) => id !== orgId);
  withdrawal.complete = withdrawal.pending.length === 0;
}

function summarise(event: EventEnvelope): string {
  const by = event.author.orgId;
  switch (event.type) {
    case 'referral.create':
      return `${by} referred the case to ${event.body.header.referredOrganisation.orgId} (${event.body.header.priority})`;
    case 'referral.decline':
      return `${by} declined: ${event.body.reasonCode}${event.body.suggestedOrgId ? `, suggests ${event.body.suggestedOrgId}` : ''}`;
    case 'participant.add':
      return `${by} added ${event.body.orgId} (${event.body.orgType})${event.body.consentOverrideReason ? ' with a consent override' : ''}`;
    case 'return.step':
      return `${by} set return step ${event.body.step} to ${event.body.status}${event.body.decision ? ` (${event.body.decision})` : ''}`;
    case 'consent.override':
      return `${by} overrode the consent scope for ${event.body.recipient.orgId}`;
    case 'purge.receipt':
      return `${by} confirmed the purge (${event.body.itemsDeleted} items)`;
    default:
      return `${by}: ${event.type}`;
  }
}

// --- Public API ---

function emptyState(): ThreadState {
  return {
    threadId: null,
    referralId: null,
    referral: null,
    participants: [],
    status: null,
    priority: null,
    responseDeadline: null,
    firstResponseAt: null,
    overdue: false,
    respondedLate: false,
    decision: null,
    intakeSchedule: null,
    returnPath: EMPTY_RETURN_PATH,
    consentExpired: false,
    consentWithdrawal: null,
    overrides: [],
    timeline: [],
    rejected: [],
    heads: [],
    missingPrev: [],
  };
}

/** Replays the thread's events; the result depends on the set of events, `now` and the rules' answers only. */
export function deriveThreadState(events: readonly ThreadEvent[], opts: DeriveOptions): ThreadState {
  const { ordered, heads, missingPrev } = orderEvents(events);
  const rules: ThreadRules = { threadIdOf: opts.threadIdOf, certifiedOrgType: opts.certifiedOrgType };
  const replay: Replay = { state: emptyState(), seenEventIds: new Set(), appliedTypes: new Set(), rules };
  const { state } = replay;
  for (const { id, event } of ordered) {
    const problem = check(replay, event);
    if (problem) {
      state.rejected.push({ id, eventId: event.eventId, type: event.type, at: event.at, author: event.author, ...problem });
    } else {
      apply(replay, id, event);
      replay.seenEventIds.add(eventIdKey(event.author, event.eventId));
    }
  }
  state.heads = heads;
  state.missingPrev = missingPrev;

  const deadline = state.responseDeadline;
  if (deadline !== null) {
    state.overdue = state.status === 'sent' && state.firstResponseAt === null && opts.now > deadline;
    state.respondedLate = state.firstResponseAt !== null && state.firstResponseAt > deadline;
    if (state.overdue) state.status = 'expired';
  }
  if (state.referral) state.consentExpired = opts.now >= state.referral.consent.expiresAt;
  return state;
}

/**
 * Throws HandoverError (WRONG_PARTY, INVALID_EVENT, CONSENT_SCOPE or
 * UNTRUSTED_KEY) when `event` would be rejected on top of `state`, so a
 * client can refuse before sending. `details.reason` carries the finer
 * reason code.
 */
export function validateNextEvent(state: ThreadState, event: EventEnvelope, rules: ThreadRules): void {
  const replay: Replay = {
    state,
    seenEventIds: new Set(state.timeline.map((t) => eventIdKey(t.author, t.eventId))),
    appliedTypes: new Set(state.timeline.map((t) => t.type)),
    rules,
  };
  const problem = check(replay, event);
  if (problem) throw new HandoverError(problem.code, problem.message, { reason: problem.reason, type: event.type });
}
