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
import { DOMAIN, signingInput } from '../../shared/canonical';
import type { Crypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import { EventEnvelope, ReferralData } from '../../shared/referral/schemas';
import { Hash32, MessageId } from '../../shared/schemas';
import type { StoredMessage } from '../sdk/messages';

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
  return toB64u(crypto.hash(signingInput(DOMAIN.referralEvent, event)));
}

/**
 * A fresh 128-bit random id (thread ids and event ids). Ids that start with
 * `-` or `_` are drawn again: people paste thread ids into commands, and a
 * leading `-` reads as an option. Costs under one bit of the 128.
 */
export function randomId(crypto: Crypto): string {
  for (;;) {
    const id = toB64u(crypto.random(16));
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

export type DropReason = 'forged-author' | 'wrong-thread' | 'malformed' | 'forged-supplement' | 'unmatched-supplement';

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

/**
 * Parse one stored message. An event whose author is not the device that
 * signed the envelope (or claims another org type than its certificate)
 * is a forgery by a participant and is dropped.
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
    return { kind: 'event', event };
  }
  const supplement = Supplement.safeParse(message.payload);
  if (supplement.success) {
    if (supplement.data.threadId !== message.threadId) return { kind: 'dropped', dropped: { ...who, reason: 'wrong-thread' } };
    return { kind: 'supplement', supplement: { ...who, supplement: supplement.data } };
  }
  return { kind: 'dropped', dropped: { ...who, reason: 'malformed' } };
}
