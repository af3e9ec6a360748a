/**
 * The relay's refusals as clients receive them — the `error` of an HTTP
 * body `{error}` or of a socket acknowledgement — decoded in one place into
 * one typed error. Whatever arrives is hostile input: an unknown code
 * becomes INTERNAL, the message is capped, details are kept only as an
 * object.
 */
import { HandoverError, RELAY_ERROR_CODES, type RelayErrorCode } from './errors';
import { ErrorBody } from './schemas';

export function relayErrorFrom(error: unknown, fallbackMessage: string): HandoverError {
  const raw = typeof error === 'object' && error !== null ? (error as { code?: unknown; message?: unknown; details?: unknown }) : {};
  const code = (RELAY_ERROR_CODES as readonly unknown[]).includes(raw.code) ? (raw.code as RelayErrorCode) : 'INTERNAL';
  const message = typeof raw.message === 'string' && raw.message !== '' ? raw.message.slice(0, 1000) : fallbackMessage;
  const details = typeof raw.details === 'object' && raw.details !== null && !Array.isArray(raw.details) ? (raw.details as Record<string, unknown>) : undefined;
  return new HandoverError(code, message, details);
}

/** The error of an HTTP refusal body (checked against the wire schema when it fits it). */
export function relayErrorFromBody(status: number, body: unknown): HandoverError {
  const parsed = ErrorBody.safeParse(body);
  const error = parsed.success ? parsed.data.error : typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  return relayErrorFrom(error, `the relay answered HTTP ${status}`);
}
