/** The client-side referral case layer: CaseService over any CaseTransport (HandoverClient in practice). */
export * from './case-service';
export type { CaseTransport } from './transport';
export { type DroppedMessage, type DropReason, type Supplement, eventHash, threadIdOf } from './payload';
export { type DisclosurePlan, type RecipientDisclosure, mergeData, planData, planReferral } from './disclosure';
export type { PurgeRecord, Tombstone } from './tombstone';
export { deriveCaseThread } from './thread-view';
