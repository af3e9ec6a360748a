/**
 * What the case layer puts in a message payload, and how it reads one back.
 *
 * Two kinds travel: a thread event (the payload is exactly an
 * `EventEnvelope`) and a supplement. A supplement carries data groups that
 * the consent lets only some recipients see: the event itself (sent to the
 * whole thread) holds what every participant may see, and each recipient
 * allowed more gets the extra groups in a supplement addressed to its org
 * only. Every participant thus holds the very same event and computes the
 * same hash for it, so the `prev` links agree across orgs.
 */
import { z } from 'zod';
import { signingInput, type Crypto, toB64u, MAX_CLOCK_SKEW_MS, Hash32, MessageId } from '../../../shared';
import { REFERRAL_DOMAIN } from '../domain/labels';
import { EventEnvelope, type EventOf, type EventType, ReferralData } from '../domain/schemas';
import { deriveThreadId } from '../domain/thread-id';
import type { StoredMessage } from '../../sdk/messages';

export const Supplement = z.strictObject({
  kind: z.literal('referral.supplement'),
  threadId: MessageId,
  /** Hash of the event (`referral.create` or `referral.provide-info`) this completes. */
  eventHash: Hash32,
  data: ReferralData,
});
export type Supplement = z.infer<typeof Supplement>;

/** An event's id in `prev` links and timelines: BLAKE2b-256 over its domain-separated canonical JSON. */
export function eventHash(crypto: Crypto, event: EventEnvelope): string {
  return toB64u(crypto.hash(signingInput(REFERRAL_DOMAIN.event, event)));
}

/** The thread id a `referral.create` commits to (domain/thread-id.ts), with the seam's BLAKE2b-256. */
export function threadIdOf(crypto: Crypto, create: EventOf<'referral.create'>): string {
  return deriveThreadId((message) => crypto.hash(message), create);
}

/** Ids people may paste into commands: a leading `-` would read as an option. */
export function isPastableId(id: string): boolean {
  return /^[A-Za-z0-9]/.test(id);
}

/**
 * A fresh 128-bit random id (event ids). Ids that start with `-` or `_` are
 * drawn again (see `isPastableId`). Costs under one bit of the 128.
 */
export function randomId(crypto: Crypto): string {
  for (;;) {
    const id = toB64u(crypto.random(16));
    if (isPastableId(id)) return id;
  }
}

export type DropReason =
  | 'forged-author'
  | 'wrong-thread'
  | 'malformed'
  | 'forged-supplement'
  | 'unmatched-supplement'
  /** The event's `at` is more than MAX_CLOCK_SKEW_MS from the signed envelope's `sentAt`. */
  | 'time-mismatch';

/** A message that was not replayed, kept visible instead of silently ignored. Ids only. */
export interface DroppedMessage {
  messageId: string;
  senderDeviceId: string;
  senderOrgId: string;
  reason: DropReason;
  /** The event type it claimed, when it parsed. */
  type?: string;
}

export interface ReceivedSupplement {
  messageId: string;
  senderDeviceId: string;
  senderOrgId: string;
  supplement: Supplement;
}

export type Classified =
  | { kind: 'event'; event: EventEnvelope }
  | { kind: 'supplement'; supplement: ReceivedSupplement }
  | { kind: 'dropped'; dropped: DroppedMessage };

/** Who a stored message went to (from its signed header) and what it carried, for the recipient check. */
export interface MessageRoute {
  messageId: string;
  senderDeviceId: string;
  senderOrgId: string;
  direction: 'in' | 'out';
  /** The orgs the sender addressed (from the signed, encrypted body). */
  orgIds: string[];
  /** Every device the envelope was encrypted to (signed header). */
  recipientDeviceIds: string[];
  carries: { kind: 'event'; id: string; type: EventType } | { kind: 'supplement'; eventHash: string } | { kind: 'dropped' };
}

/** The time an event claims must be the time its envelope was signed, within the clock-skew window. */
export function timeMismatch(event: EventEnvelope, message: StoredMessage): boolean {
  return Math.abs(event.at - message.sentAt) > MAX_CLOCK_SKEW_MS;
}

/**
 * Parse one stored message. An event whose author is not the device that
 * signed the envelope (or claims another org type than its certificate)
 * is a forgery by a participant and is dropped; so is an event whose time
 * is not its envelope's signed send time (within MAX_CLOCK_SKEW_MS).
 */
export function classify(message: StoredMessage, orgTypeOf: (orgId: string) => string | undefined): Classified {
  const who = { messageId: message.messageId, senderDeviceId: message.senderDeviceId, senderOrgId: message.senderOrgId };
  const parsed = EventEnvelope.safeParse(message.payload);
  if (parsed.success) {
    const event = parsed.data;
    const drop = (reason: DropReason): Classified => ({ kind: 'dropped', dropped: { ...who, reason, type: event.type } });
    if (event.threadId !== message.threadId) return drop('wrong-thread');
    if (event.author.deviceId !== message.senderDeviceId || event.author.orgId !== message.senderOrgId) return drop('forged-author');
    const certified = orgTypeOf(message.senderOrgId);
    if (certified !== undefined && certified !== event.author.orgType) return drop('forged-author');
    if (timeMismatch(event, message)) return drop('time-mismatch');
    return { kind: 'event', event };
  }
  const supplement = Supplement.safeParse(message.payload);
  if (supplement.success) {
    if (supplement.data.threadId !== message.threadId) return { kind: 'dropped', dropped: { ...who, reason: 'wrong-thread' } };
    return { kind: 'supplement', supplement: { ...who, supplement: supplement.data } };
  }
  return { kind: 'dropped', dropped: { ...who, reason: 'malformed' } };
}
