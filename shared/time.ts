/**
 * Time spans the protocol and its users agree on, defined once. Times on the
 * wire are integer milliseconds since the Unix epoch.
 */
export const MINUTE_MS = 60 * 1000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/**
 * How far two honest clocks may disagree: a time up to this far in the
 * future is still accepted (envelope `sentAt`, certificate `issuedAt`,
 * prekey `createdAt`), and an event's `at` may differ this much from its
 * envelope's `sentAt`.
 */
export const MAX_CLOCK_SKEW_MS = 5 * MINUTE_MS;

/** How long the relay keeps an undelivered envelope, unless configured otherwise. */
export const DEFAULT_RETENTION_MS = 30 * DAY_MS;
