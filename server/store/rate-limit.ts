/** Fixed-window rate-limit arithmetic shared by both stores, on the caller's clock. */
import type { RateLimitResult } from './types';

export interface FixedWindow {
  /** Window number: floor(now / windowMs). */
  index: number;
  /** Ms left until the window ends (at least 1). */
  msToEnd: number;
}

export function fixedWindow(now: number, windowMs: number): FixedWindow {
  const index = Math.floor(now / windowMs);
  return { index, msToEnd: (index + 1) * windowMs - now };
}

export function rateLimitResult(count: number, max: number, window: FixedWindow): RateLimitResult {
  const allowed = count <= max;
  return { allowed, remaining: Math.max(0, max - count), retryAfterMs: allowed ? 0 : window.msToEnd };
}
