/**
 * Domain labels of the referral layer's own hashes (PROTOCOL.md, signing
 * inputs): distinct from every protocol label, so an event hash can never
 * be confused with a signature input of the relay protocol.
 */
export const REFERRAL_DOMAIN = {
  /** Hash of a referral event: its id in the thread's `prev` links. */
  event: 'handover/v1/referral-event',
  /** Thread id of a case thread: derived from its `referral.create` event (thread-id.ts). */
  threadId: 'handover/v1/thread-id',
} as const;
