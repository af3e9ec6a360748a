/**
 * Case command options as people type them — times with a zone, lists of
 * field groups — checked here, before anything is built or sent.
 */
import { FIELD_GROUPS, type FieldGroup } from '../../referral';
import { HandoverError } from '../../sdk';

export const TIME_HELP = 'ISO 8601 with a time zone, e.g. 2026-11-29T10:00+03:00';
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A point in time from the command line: a zone is required, as cases span countries. */
export function parseTime(value: string, name: string): number {
  const ms = ISO_WITH_ZONE.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new HandoverError('BAD_REQUEST', `${name} must be ${TIME_HELP}`);
  return ms;
}

export function fieldGroups(value: string): FieldGroup[] {
  const groups = value.split(',').map((g) => g.trim()).filter(Boolean);
  const bad = groups.filter((g) => !(FIELD_GROUPS as readonly string[]).includes(g));
  if (bad.length > 0) throw new HandoverError('BAD_REQUEST', `unknown field group(s) ${bad.join(', ')}; use ${FIELD_GROUPS.join(', ')}`);
  return groups as FieldGroup[];
}

/** Only the options that were given, so optional event fields stay absent rather than undefined. */
export function given<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
