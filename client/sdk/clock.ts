/**
 * Clock trouble in words people can act on. Certificates and envelopes
 * carry times, so a clock a few minutes off shows up as "not valid yet" or a
 * refused send — which reads like a key problem and sends people comparing
 * fingerprints. Here the difference is measured against the relay's clock
 * (the Date header of its answers) and named: "your clock is 12 minutes
 * ahead of the relay's".
 *
 * The relay is trusted for nothing here: a relay lying about its time only
 * changes the wording of an error, never what is accepted.
 */
import { HandoverError, MAX_CLOCK_SKEW_MS, MINUTE_MS, ROUTES, isHandoverError } from '../../shared';

/** Below this, two clocks count as agreeing (the Date header has one-second steps; networks add delay). */
export const CLOCKS_AGREE_MS = MINUTE_MS;

/**
 * How far this device's clock is from the relay's, in ms (positive: this
 * device is ahead), from the Date header of GET /v1/network; undefined when
 * the relay cannot be asked or sends no usable date.
 */
export async function relayClockOffset(
  baseUrl: string,
  now: () => number = Date.now,
  fetchImpl: typeof fetch = (...args) => fetch(...args),
  timeoutMs = 3_000,
): Promise<number | undefined> {
  try {
    const before = now();
    const res = await fetchImpl(new URL(ROUTES.network, baseUrl), { method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
    const after = now();
    await res.body?.cancel();
    const relay = Date.parse(res.headers.get('date') ?? '');
    if (!Number.isFinite(relay)) return undefined;
    // The header is cut to the second: the relay's time was somewhere in the second it names.
    return (before + after) / 2 - (relay + 500);
  } catch {
    return undefined;
  }
}

/** A span of time as people say it: "3 minutes", "2 hours", "4 days". */
export function spanText(ms: number): string {
  const abs = Math.abs(ms);
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (abs < MINUTE_MS) return 'less than a minute';
  if (abs < 120 * MINUTE_MS) return unit(Math.round(abs / MINUTE_MS), 'minute');
  if (abs < 48 * 60 * MINUTE_MS) return unit(Math.round(abs / (60 * MINUTE_MS)), 'hour');
  return unit(Math.round(abs / (24 * 60 * MINUTE_MS)), 'day');
}

/** "your clock is 12 minutes ahead of the relay's", or null when the clocks agree. */
export function clockOffsetText(offsetMs: number): string | null {
  if (Math.abs(offsetMs) < CLOCKS_AGREE_MS) return null;
  return `your clock is ${spanText(offsetMs)} ${offsetMs > 0 ? 'ahead of' : 'behind'} the relay's`;
}

/** What a certificate's dates look like as read from a file someone handed over (unknown shape). */
export function certificateTimes(value: unknown): { issuedAt: number; expiresAt: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { issuedAt, expiresAt } = value as { issuedAt?: unknown; expiresAt?: unknown };
  return typeof issuedAt === 'number' && typeof expiresAt === 'number' ? { issuedAt, expiresAt } : undefined;
}

/**
 * Refuse a certificate dated further in the future than honest clocks
 * disagree (the protocol's window): EXPIRED ("not valid yet") with the
 * facts a caller needs to explain whose clock is off (`explainClockError`).
 */
export function checkNotFutureDated(what: string, value: unknown, now: number): void {
  const times = certificateTimes(value);
  if (!times || times.issuedAt <= now + MAX_CLOCK_SKEW_MS) return;
  const aheadMs = times.issuedAt - now;
  throw new HandoverError(
    'EXPIRED',
    `${what} is not valid yet: it is dated ${spanText(aheadMs)} ahead of this device's clock, so either your clock is ${spanText(aheadMs)} behind or the clock of the machine that issued it is ${spanText(aheadMs)} ahead`,
    { clock: 'not-valid-yet', what, aheadMs },
  );
}

/** The relay's refusal of an envelope stamped in its future (server/services/envelopes.ts). */
export function isFutureSendRefusal(err: unknown): boolean {
  return isHandoverError(err, 'BAD_REQUEST') && /sentAt/.test(err.message) && /future/.test(err.message);
}

/** Whether `err` is one of the clock errors `explainClockError` can put in words. */
export function isClockError(err: unknown): err is HandoverError {
  return isFutureSendRefusal(err) || (isHandoverError(err) && err.details?.clock === 'not-valid-yet');
}

/**
 * A clock error rephrased with the measured offset to the relay's clock
 * (`offsetMs`, positive: this device is ahead; undefined: unknown). Any
 * other error comes back unchanged.
 */
export function explainClockError(err: unknown, offsetMs: number | undefined): unknown {
  if (!isClockError(err)) return err;
  const offset = offsetMs === undefined ? undefined : { clockOffsetMs: Math.round(offsetMs) };
  if (isFutureSendRefusal(err)) {
    const how = offsetMs !== undefined && offsetMs >= CLOCKS_AGREE_MS ? `${clockOffsetText(offsetMs)} (more than the 5 minutes allowed)` : 'your clock is ahead of the relay\'s';
    return new HandoverError('BAD_REQUEST', `the relay refused the message because ${how}: set this device's clock right (automatic date and time), then try again. Nothing was sent.`, {
      clock: 'ahead',
      ...offset,
    });
  }
  const { what, aheadMs } = err.details as { what: string; aheadMs: number };
  const ahead = spanText(aheadMs);
  if (offsetMs === undefined) {
    return new HandoverError('EXPIRED', `${err.message}. The relay could not be asked for its time: check this device's clock and the issuer's, then try again.`, err.details);
  }
  if (offsetMs <= -CLOCKS_AGREE_MS) {
    return new HandoverError(
      'EXPIRED',
      `${what} is not valid yet for this device: ${clockOffsetText(offsetMs)}. Set this device's clock right (automatic date and time), then run this again.`,
      { ...err.details, ...offset },
    );
  }
  const wait = spanText(Math.max(aheadMs - MAX_CLOCK_SKEW_MS, MINUTE_MS));
  return new HandoverError(
    'EXPIRED',
    `${what} was issued ${ahead} in the future: the clock of the machine that issued it is about ${ahead} ahead (${clockOffsetText(offsetMs) ?? "this device's clock agrees with the relay's"}). ` +
      `Ask whoever issued it to set that clock right and issue it again, or wait ${wait} and run this again.`,
    { ...err.details, ...offset },
  );
}
