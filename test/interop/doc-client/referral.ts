/**
 * Why this exists: the referral layer's part of the wire format that another
 * client must reproduce exactly (PROTOCOL.md §4.8, §4.8.1): the thread id
 * that commits to the first event, the event hash used in `prev` links, and
 * a `referral.create` with its message body `{v, threadId, orgIds, payload}`.
 */
import { blake2b256, systemRandom } from './crypto';
import { LABEL, b64u, concat, jcs, utf8 } from './encoding';
import type { MessageBody, OrgType } from './types';

export interface EventAuthor {
  deviceId: string;
  orgId: string;
  orgType: OrgType;
}

export interface CreateEvent {
  type: 'referral.create';
  eventId: string;
  threadId: string;
  prev: string[];
  author: EventAuthor;
  at: number;
  body: ReferralBody;
}

/** Only the parts the doc client reads; the whole body is sent as given. */
export interface ReferralBody {
  header: {
    referredOrganisation: { orgId: string; orgType: OrgType };
    coordinators: { orgId: string; orgType: OrgType }[];
    [k: string]: unknown;
  };
  identity: Record<string, unknown>;
  consent: Record<string, unknown>;
  [k: string]: unknown;
}

/** §4.8.1 step 2: first 16 bytes of BLAKE2b-256(label ‖ 0x00 ‖ JCS(event without `threadId`)). */
export function deriveThreadId(event: Omit<CreateEvent, 'threadId'> | CreateEvent): string {
  const { threadId: _drop, ...rest } = event as CreateEvent;
  const input = concat(utf8(LABEL.threadId), new Uint8Array([0]), utf8(jcs(rest)));
  return b64u(blake2b256(input).subarray(0, 16));
}

/** §4.8: BLAKE2b-256(signingInput("handover/v1/referral-event", event)), base64url. */
export function eventHash(event: object): string {
  return b64u(blake2b256(concat(utf8(LABEL.referralEvent), new Uint8Array([0]), utf8(jcs(event)))));
}

/**
 * §4.8.1 steps 1–4: the create event (a fresh eventId, redrawn until the
 * thread id starts with a letter or digit) and its message body, addressed
 * to the sender's org, the referred org and every coordinator.
 */
export function buildCreate(author: EventAuthor, body: ReferralBody, at = Date.now()): { event: CreateEvent; message: MessageBody } {
  for (;;) {
    const draft = { type: 'referral.create' as const, eventId: b64u(systemRandom('eventId', 16)), prev: [] as string[], author, at, body };
    const threadId = deriveThreadId(draft);
    if (!/^[A-Za-z0-9]/.test(threadId)) continue;
    const event: CreateEvent = { ...draft, threadId };
    const orgIds = [...new Set([author.orgId, body.header.referredOrganisation.orgId, ...body.header.coordinators.map((c) => c.orgId)])];
    return { event, message: { v: 1, threadId, orgIds, payload: event } };
  }
}
