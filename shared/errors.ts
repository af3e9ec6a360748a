/**
 * Typed errors with stable codes. The relay's codes travel on the wire as
 * `{ "error": { "code", "message" } }`; the client codes never leave a client.
 */
export const RELAY_ERROR_CODES = [
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'UNKNOWN_DEVICE',
  'UNKNOWN_ORG',
  'REVOKED',
  'BAD_SIGNATURE',
  'REPLAY',
  'DEVICE_SET_MISMATCH',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export const CLIENT_ERROR_CODES = [
  'DECRYPT_FAILED',
  'UNTRUSTED_KEY',
  'CONSENT_SCOPE',
  'STALE_MESSAGE',
  'EXPIRED',
  'NOT_RECIPIENT',
  'WRONG_PASSPHRASE',
  'KEYSTORE_CORRUPT',
  'ROLLBACK',
  'WRONG_PARTY',
  'INVALID_EVENT',
] as const;

export type RelayErrorCode = (typeof RELAY_ERROR_CODES)[number];
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
export type ErrorCode = RelayErrorCode | ClientErrorCode;

export class HandoverError extends Error {
  override readonly name = 'HandoverError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable extra facts (ids only, never secrets). */
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Readonly<Record<string, unknown>> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export function isHandoverError(err: unknown, code?: ErrorCode): err is HandoverError {
  return err instanceof HandoverError && (code === undefined || err.code === code);
}
