/**
 * One way to turn a failed schema check into a typed refusal people can
 * act on: the path and message of the first problems, never the value
 * (which may be hostile or secret).
 */
import type { z } from 'zod';
import { type ErrorCode, HandoverError } from './errors';

/** `path: message` of up to `max` problems, joined with "; ". */
export function describeIssues(error: z.ZodError, max = 1): string {
  const text = error.issues
    .slice(0, max)
    .map((i) => `${i.path.length > 0 ? `${i.path.map(String).join('.')}: ` : ''}${i.message}`)
    .join('; ');
  return (text || 'bad shape').slice(0, 300);
}

/** Parse `value` with `schema`, or throw `code` (BAD_REQUEST) naming what was invalid and why. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, code: ErrorCode = 'BAD_REQUEST', maxIssues = 1): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HandoverError(code, `invalid ${what}: ${describeIssues(parsed.error, maxIssues)}`);
  return parsed.data;
}
