/**
 * Turning any failure into the wire error shape `{ error: { code, message } }`
 * with a relay error code. Client-side codes thrown by shared verification
 * code are mapped to the relay code that fits; unknown failures become
 * INTERNAL with a generic message (the details go to the log, not the wire).
 */
import { HandoverError, type RelayErrorCode, RELAY_ERROR_CODES, type WireError } from '../shared';

export const HTTP_STATUS: Record<RelayErrorCode, number> = {
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  UNKNOWN_DEVICE: 404,
  UNKNOWN_ORG: 404,
  REVOKED: 403,
  BAD_SIGNATURE: 400,
  REPLAY: 409,
  DEVICE_SET_MISMATCH: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

const CLIENT_TO_RELAY: Record<string, RelayErrorCode> = {
  UNTRUSTED_KEY: 'FORBIDDEN',
  EXPIRED: 'FORBIDDEN',
  ROLLBACK: 'BAD_REQUEST',
  STALE_MESSAGE: 'BAD_REQUEST',
};

export function toWireError(err: unknown): WireError & { code: RelayErrorCode } {
  if (err instanceof HandoverError) {
    const code = (RELAY_ERROR_CODES as readonly string[]).includes(err.code)
      ? (err.code as RelayErrorCode)
      : (CLIENT_TO_RELAY[err.code] ?? 'BAD_REQUEST');
    return { code, message: err.message, ...(err.details ? { details: { ...err.details } } : {}) };
  }
  return { code: 'INTERNAL', message: 'internal error' };
}

/** Parse with a zod schema or throw BAD_REQUEST naming the first problem. */
export { parseOrThrow as parseInput } from '../shared';


/** Name and message only: stacks and request bodies stay out of the log. */
export function errorSummary(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message.slice(0, 300) } : { name: 'non-error', message: typeof err };
}
