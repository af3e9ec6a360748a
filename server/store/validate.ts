/**
 * Argument checks shared by both store implementations, so they refuse the
 * same input. Ids end up inside Redis key names (and hash tags), so they are
 * held to a strict alphabet: no `{`, `}` or whitespace can reshape a key.
 * Device ids hold one `:` (`<orgId>:<name>`); they only ever appear inside
 * a hash tag or after a fixed `<orgId>:` prefix, where a colon is inert.
 */
import { HandoverError, DAY_MS } from '../../shared';
import type { EnqueueRequest, OneTimePrekeyItem } from './types';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}(:[A-Za-z0-9_-]{1,64})?$/;
/** Rate-limit keys are composed by the relay (ids, IP addresses): printable ASCII without braces. */
const RATE_KEY_PATTERN = /^[\x21-\x7a\x7c\x7e]{1,256}$/;
/** Largest duration the store accepts (about 10 years); keeps arithmetic far from overflow. */
const MAX_DURATION_MS = 10 * 365 * DAY_MS;

function bad(message: string, field: string): HandoverError {
  return new HandoverError('BAD_REQUEST', message, { field });
}

export function checkId(value: string, field: string): void {
  if (!ID_PATTERN.test(value)) throw bad(`${field} is not a valid id`, field);
}

export function checkRateKey(value: string): void {
  if (!RATE_KEY_PATTERN.test(value)) throw bad('rate-limit key is not valid', 'key');
}

export function checkPositiveInt(value: number, field: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw bad(`${field} must be a positive integer`, field);
}

/** Largest batch one call may read or take (also bounds Lua's unpack()). */
export const MAX_BATCH = 1000;

export function checkBatchLimit(value: number): void {
  checkPositiveInt(value, 'limit', MAX_BATCH);
}

export function checkDuration(value: number, field: string): void {
  checkPositiveInt(value, field, MAX_DURATION_MS);
}

export function checkTimestamp(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw bad(`${field} must be a timestamp in ms`, field);
}

export function checkPrekeyItems(deviceId: string, items: readonly OneTimePrekeyItem[], cap: number): void {
  checkId(deviceId, 'deviceId');
  checkPositiveInt(cap, 'cap');
  const seen = new Set<number>();
  for (const item of items) {
    if (!Number.isSafeInteger(item.id) || item.id < 0) throw bad('prekey id must be a non-negative integer', 'id');
    if (seen.has(item.id)) throw bad('prekey ids in one upload must be distinct', 'id');
    seen.add(item.id);
  }
}

/** Checks an enqueue request and returns its recipients without repeats, in the given order. */
export function checkEnqueue(request: EnqueueRequest): string[] {
  checkId(request.messageId, 'messageId');
  checkId(request.fingerprint, 'fingerprint');
  checkId(request.senderDeviceId, 'senderDeviceId');
  checkTimestamp(request.expiresAt, 'expiresAt');
  if (!(request.blob instanceof Uint8Array)) throw bad('blob must be bytes', 'blob');
  const recipients = [...new Set(request.recipientDeviceIds)];
  if (recipients.length === 0) throw bad('an envelope needs at least one recipient', 'recipientDeviceIds');
  for (const id of recipients) checkId(id, 'recipientDeviceId');
  return recipients;
}

/** Notice ids are Redis stream ids ("<ms>-<seq>"); the embedded store uses the same form. */
export const NOTICE_ID = /^\d{1,20}-\d{1,20}$/;

export function checkNoticeId(noticeId: unknown): void {
  if (typeof noticeId !== 'string' || !NOTICE_ID.test(noticeId)) throw new HandoverError('BAD_REQUEST', 'noticeId is malformed');
}

export function checkNoticeJson(json: unknown, maxBytes: number): void {
  if (typeof json !== 'string' || json.length === 0 || Buffer.byteLength(json) > maxBytes) {
    throw new HandoverError('BAD_REQUEST', `a notice must be 1..${maxBytes} bytes of JSON`);
  }
}
