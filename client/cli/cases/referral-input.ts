/**
 * The referral file as people write it: times may be ISO 8601 with a time
 * zone (`2026-11-28T15:00+05:00`) besides epoch milliseconds, converted
 * here before the schema sees the referral (which keeps epoch ms on the
 * wire). The consent's expiry is held to the org's bound, said in the
 * user's own time zone, and HANDOVER_MAX_CONSENT_DAYS sets that bound.
 */
import { DEFAULT_MAX_CONSENT_DAYS, MAX_CONSENT_DAYS_LIMIT, consentExpiryProblem } from '../../referral';
import { HandoverError } from '../../sdk';
import { localTime } from './local-time';
import { TIME_HELP, parseTime } from './options';

/** Where a referral file holds points in time (dates of birth are calendar dates, `YYYY-MM-DD`, and stay so). */
const TIME_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['consent', 'givenAt'],
  ['consent', 'expiresAt'],
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A time field as typed: epoch ms stay as they are; text must be ISO 8601 with a zone. */
function toEpochMs(value: unknown, name: string): unknown {
  if (typeof value !== 'string') return value;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value.trim())) {
    throw new HandoverError('BAD_REQUEST', `${name} "${value}" has no time and zone; write e.g. ${value.trim()}T12:00+03:00 (${TIME_HELP}), or epoch milliseconds`);
  }
  try {
    return parseTime(value.trim(), name);
  } catch {
    throw new HandoverError('BAD_REQUEST', `${name} "${value}" is not a time: use ${TIME_HELP}, or epoch milliseconds`);
  }
}

/** The referral JSON with its time fields as epoch milliseconds (a copy; anything else is left to the schema). */
export function referralTimesToEpoch(raw: unknown): unknown {
  if (!isObject(raw)) return raw;
  const out: Record<string, unknown> = { ...raw };
  for (const [group, field] of TIME_FIELDS) {
    const section = out[group];
    if (!isObject(section) || !(field in section)) continue;
    out[group] = { ...section, [field]: toEpochMs(section[field], `${group}.${field}`) };
  }
  return out;
}

/** The longest consent this org accepts, in days: HANDOVER_MAX_CONSENT_DAYS, or a year. */
export function maxConsentDays(): number {
  const text = process.env.HANDOVER_MAX_CONSENT_DAYS;
  if (text === undefined || text.trim() === '') return DEFAULT_MAX_CONSENT_DAYS;
  const days = Number(text);
  if (!Number.isInteger(days) || days < 1 || days > MAX_CONSENT_DAYS_LIMIT) {
    throw new HandoverError('BAD_REQUEST', `HANDOVER_MAX_CONSENT_DAYS must be a whole number of days from 1 to ${MAX_CONSENT_DAYS_LIMIT}, not "${text}"`);
  }
  return days;
}

/** Refuse, in the user's time zone, a consent that runs past the bound (the case layer checks again, in UTC). */
export function checkConsentBound(referral: unknown, maxDays: number): void {
  const consent = isObject(referral) && isObject(referral.consent) ? referral.consent : undefined;
  if (!consent || typeof consent.givenAt !== 'number' || typeof consent.expiresAt !== 'number') return; // the schema explains
  const problem = consentExpiryProblem({ givenAt: consent.givenAt, expiresAt: consent.expiresAt }, maxDays);
  if (!problem) return;
  throw new HandoverError(
    'INVALID_EVENT',
    `the consent runs until ${localTime(problem.expiresAt)}, more than ${maxDays} days after it was given (${localTime(problem.givenAt)}). ` +
      `Record an expiry no later than ${localTime(problem.latestAllowed)}, and ask the survivor again when it runs out` +
      (maxDays === DEFAULT_MAX_CONSENT_DAYS ? ' (HANDOVER_MAX_CONSENT_DAYS changes the bound if your policy differs).' : '.'),
    { reason: 'consent-too-long', ...problem },
  );
}
