/**
 * A case thread's id commits to the event that created it, so no other
 * `referral.create` can ever belong to the thread (issue 11, finding 2: a
 * device that knew a thread id could otherwise replace its referral).
 *
 *   threadId = base64url(BLAKE2b-256(signingInput('handover/v1/thread-id',
 *                                    create without its `threadId`))[0..16))
 *
 * Pure: the caller passes the hash (the crypto seam's `hash`, 32 bytes), so
 * the state machine never loads libsodium.
 */
import { signingInput, toB64u } from '../../../shared';
import { REFERRAL_DOMAIN } from './labels';
import type { EventOf } from './schemas';

/** Bytes of the hash kept in a thread id (128 bits, the size of every other id). */
export const THREAD_ID_BYTES = 16;

/** The exact bytes hashed: the domain label, 0x00, the create event's canonical JSON without `threadId`. */
export function threadIdInput(create: EventOf<'referral.create'>): Uint8Array {
  const { threadId: _derived, ...committed } = create;
  return signingInput(REFERRAL_DOMAIN.threadId, committed);
}

/** The thread id `create` commits to; `hash` must be BLAKE2b-256 (32 bytes out). */
export function deriveThreadId(hash: (message: Uint8Array) => Uint8Array, create: EventOf<'referral.create'>): string {
  const digest = hash(threadIdInput(create));
  if (digest.length < THREAD_ID_BYTES) throw new Error('the thread-id hash must give at least 16 bytes');
  return toB64u(digest.subarray(0, THREAD_ID_BYTES));
}
