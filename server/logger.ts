/**
 * Structured logs (pino). Log lines carry ids, sizes, codes and timings only.
 * As a second line of defence, any field that could hold a secret or a
 * ciphertext is censored by name wherever it appears.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const SECRET_FIELDS = ['token', 'authorization', 'signature', 'ciphertext', 'wrappedKey', 'privateKey', 'challenge', 'body', 'payload', 'envelope'];

export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `req.headers.${f}`]);

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'handover-relay' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
