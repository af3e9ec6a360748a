/** The referral workflow: event schemas, thread state, consent gate and export. Pure, client-side only. */
export * from './picklists';
export * from './schemas';
export { orderEvents, type OrderedEvents } from './order';
export { type ReturnPathState, type ReturnStepState, returnStepProblem } from './return-path';
export * from './state';
export { THREAD_ID_BYTES, deriveThreadId, threadIdInput } from './thread-id';
export * from './consent';
export { HTCDS_CSV_COLUMNS, csvCell, toHtcdsCsv } from './export';
