/**
 * The referral package: everything the apps (CLI, demo, web app) use to work
 * cases, and nothing else. Two halves, one feature:
 *  - the pure domain (`domain/`): event and referral schemas, pick-lists,
 *    the thread state machine and its replay order, the consent gate, the
 *    HTCDS export; no I/O, no crypto library;
 *  - the case layer (`cases/`): CaseService over the SDK (any CaseTransport),
 *    which builds, checks, sends, receives and purges case events.
 * Apps import this file only; deep imports are not part of the API.
 */
export * from './domain/picklists';
export * from './domain/schemas';
export { orderEvents, type OrderedEvents } from './domain/order';
export { type ReturnPathState, type ReturnStepState, returnStepProblem } from './domain/return-path';
export * from './domain/state';
export { THREAD_ID_BYTES, deriveThreadId, threadIdInput } from './domain/thread-id';
export { REFERRAL_DOMAIN } from './domain/labels';
export * from './domain/consent';
export { HTCDS_CSV_COLUMNS, csvCell, toHtcdsCsv } from './domain/export';

export * from './cases/case-service';
export type { CaseTransport } from './cases/transport';
export { type DroppedMessage, type DropReason, type Supplement, eventHash, threadIdOf } from './cases/payload';
export { type DisclosurePlan, type RecipientDisclosure, mergeData, planData, planReferral } from './cases/disclosure';
export type { PurgeRecord, Tombstone } from './cases/tombstone';
export { deriveCaseThread } from './cases/thread-view';
export { DEFAULT_DUE_WINDOW_MS, type DeadlineAlert, DeadlineAlerts, type DueDates, type DueItem, type DueKind, type MessageNotice, dueItemKey, dueItems, messageNotice } from './cases/reminders';
export type { OutboxRun, PendingReferral, ReferralOptions, SentReferral } from './cases/outbox';
export type { EarlierWithdrawal } from './cases/purge';
export { type CaseReport, type ReportCell, type ReportFacts, type ReportOptions, type TimingSummary, REPORT_MIN_CELL, aggregateReport, buildCaseReport, reportCsv, reportFacts } from './cases/report';
export { ACCESS_ACTIONS, type AccessAction, type AccessEntry, AccessLog, accessLogCsv } from './cases/access-log';
