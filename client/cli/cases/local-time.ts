/**
 * Times as the person at the terminal reads them: in their own time zone
 * (the system's, or TZ), with the zone written out, since a case spans
 * countries and a deadline read in the wrong zone is missed. Also the
 * durations people type (`24h`, `90m`, `2d`) and read ("in 2 h 5 min").
 */
import { HandoverError } from '../../sdk';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let formatter: Intl.DateTimeFormat | undefined;

/** The time zone times are shown in (IANA name). */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A point in time in the user's zone, e.g. "Sun 6 Dec 2026, 09:21 GMT+5". */
export function localTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  formatter ??= new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  });
  return formatter.format(new Date(ms));
}

let compact: Intl.DateTimeFormat | undefined;

/** A point in time in the user's zone for tables and timelines, sortable: "2026-12-06 09:21 GMT+5". */
export function compactLocalTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  compact ??= new Intl.DateTimeFormat('en-CA', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  });
  const part = Object.fromEntries(compact.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} ${part.timeZoneName}`;
}

/** A length of time for people: "3 d 4 h", "24 h", "1 h 5 min", "under a minute" (hours up to two days). */
export function span(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE) return 'under a minute';
  const days = abs < 2 * DAY ? 0 : Math.floor(abs / DAY);
  const hours = Math.floor((abs - days * DAY) / HOUR);
  const minutes = Math.floor((abs % HOUR) / MINUTE);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return `${minutes} min`;
}

/** "in 2 h 5 min" or "overdue by 3 h". */
export function untilText(dueAt: number, now: number): string {
  return dueAt >= now ? `in ${span(dueAt - now)}` : `overdue by ${span(now - dueAt)}`;
}

const UNITS: Record<string, number> = { s: 1000, m: MINUTE, min: MINUTE, h: HOUR, d: DAY };

/** A duration as typed: a whole number and a unit (s, m, h, d), e.g. 24h, 90m, 2d. */
export function parseDuration(value: string, name: string): number {
  const match = /^(\d{1,6})\s*(s|m|min|h|d)$/.exec(value.trim());
  const unit = match?.[2] ? UNITS[match[2]] : undefined;
  const ms = match?.[1] && unit ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new HandoverError('BAD_REQUEST', `${name} must be a whole number and a unit, e.g. 30s, 90m, 24h or 2d, not "${value}"`);
  return ms;
}

/** Durations separated by commas (e.g. "24h,2h"). */
export function parseDurations(value: string, name: string): number[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => parseDuration(part, name));
}
