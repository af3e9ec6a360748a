/**
 * Protocol version 2's envelope on the wire (PROTOCOL.md §4.12): a binary
 * header with a fixed field order, signed as the exact bytes that travel,
 * and one binary frame per envelope — `0x02 ‖ u32 header length ‖ header ‖
 * signature (64) ‖ ciphertext`. The relay reads the frame once (`readFrame`,
 * every length bounded before anything is allocated, nothing copied),
 * verifies the signature over the header bytes it received, hashes the
 * ciphertext in place and stores and delivers the same bytes. Clients turn
 * a frame into the usual `SealedEnvelope` (`envelopeFromFrame`); decoding is
 * strict, so `encodeHeader(decode(bytes))` gives back the same bytes.
 */
import { SIZES } from './crypto/types';
import { fromB64u, toB64u } from './encoding';
import { HandoverError } from './errors';
import { type EnvelopeHeader, LIMITS, type RecipientEntry, type SealedEnvelope } from './schemas';
import type { Delivery, WireEnvelope } from './socket-events';

export const WIRE_VERSION = 2 as const;
/** Bytes of one field; the header's layout is the table in PROTOCOL.md §4.12. */
const ID = 16;
const KEY = 32;
const NONCE = SIZES.aeadNonce; // 24
const PQ_CT = 1120;
const WRAPPED = 48;
const HASH = 32;
const SIG = 64;
const MAX_DEVICE_ID = 129;
const MAX_TIMESTAMP = 8_640_000_000_000_000;
const MIN_CIPHERTEXT = 16;
const MAX_CIPHERTEXT = 64 * 1024 * 1024;
/** Header bytes after the recipients: ciphertext length (4) and hash (32). The body's additional data covers all before them. */
export const HEADER_TAIL = 4 + HASH;
/** Before the first recipient: version, message id, thread id, sender id length (its bytes follow), sentAt, ephemeral key, body nonce, count. */
const FIXED = 1 + ID + ID + 1 + 8 + KEY + NONCE + 2;
/** A recipient entry without its device id bytes and without a one-time prekey id. */
const ENTRY_MIN = 1 + 4 + 4 + 1 + PQ_CT + WRAPPED;
/** The largest header any valid envelope has (at most LIMITS.maxRecipients entries with the longest ids). */
export const MAX_HEADER_BYTES = FIXED + MAX_DEVICE_ID + HEADER_TAIL + LIMITS.maxRecipients * (ENTRY_MIN + MAX_DEVICE_ID + 4);
/** Frame bytes around the header and ciphertext: version and header length before, signature after. */
export const FRAME_OVERHEAD = 1 + 4 + SIG;

const DEVICE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}:[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A version 2 header with its binary fields as bytes (what `encodeHeader` writes and `readFrame` reads). */
export interface HeaderFields {
  messageId: Uint8Array;
  threadId: Uint8Array;
  senderDeviceId: string;
  sentAt: number;
  ephemeralKey: Uint8Array;
  bodyNonce: Uint8Array;
  recipients: readonly RecipientFields[];
  ciphertextLength: number;
  ciphertextHash: Uint8Array;
}

export interface RecipientFields {
  deviceId: string;
  signedPrekeyId: number;
  pqPrekeyId: number;
  oneTimePrekeyId?: number;
  pqCiphertext: Uint8Array;
  wrappedKey: Uint8Array;
}

function bad(message: string): HandoverError {
  return new HandoverError('BAD_REQUEST', `envelope frame: ${message}`);
}

function checkBytes(name: string, value: Uint8Array, length: number): void {
  if (value.length !== length) throw bad(`${name} must be ${length} bytes`);
}

function checkUint32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw bad(`${name} must be a 32-bit unsigned integer`);
}

function checkDeviceId(name: string, value: string): void {
  if (value.length > MAX_DEVICE_ID || !DEVICE_ID_RE.test(value)) throw bad(`${name} is not a device id`);
}

/** The header's bytes (PROTOCOL.md §4.12). Throws BAD_REQUEST for a field that does not fit its slot. */
export function encodeHeader(h: HeaderFields): Uint8Array {
  checkBytes('messageId', h.messageId, ID);
  checkBytes('threadId', h.threadId, ID);
  checkDeviceId('senderDeviceId', h.senderDeviceId);
  if (!Number.isInteger(h.sentAt) || h.sentAt < 0 || h.sentAt > MAX_TIMESTAMP) throw bad('sentAt out of range');
  checkBytes('ephemeralKey', h.ephemeralKey, KEY);
  checkBytes('bodyNonce', h.bodyNonce, NONCE);
  if (h.recipients.length < 1 || h.recipients.length > LIMITS.maxRecipients) throw bad(`1 to ${LIMITS.maxRecipients} recipients`);
  if (!Number.isInteger(h.ciphertextLength) || h.ciphertextLength < MIN_CIPHERTEXT || h.ciphertextLength > MAX_CIPHERTEXT) throw bad('ciphertextLength out of range');
  checkBytes('ciphertextHash', h.ciphertextHash, HASH);
  let size = FIXED + h.senderDeviceId.length + HEADER_TAIL;
  for (const r of h.recipients) {
    checkDeviceId('recipient deviceId', r.deviceId);
    checkUint32('signedPrekeyId', r.signedPrekeyId);
    checkUint32('pqPrekeyId', r.pqPrekeyId);
    if (r.oneTimePrekeyId !== undefined) checkUint32('oneTimePrekeyId', r.oneTimePrekeyId);
    checkBytes('pqCiphertext', r.pqCiphertext, PQ_CT);
    checkBytes('wrappedKey', r.wrappedKey, WRAPPED);
    size += ENTRY_MIN + r.deviceId.length + (r.oneTimePrekeyId === undefined ? 0 : 4);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const bytes = (b: Uint8Array) => {
    out.set(b, at);
    at += b.length;
  };
  const ascii = (s: string) => {
    out[at++] = s.length;
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
  };
  const u32 = (n: number) => {
    view.setUint32(at, n);
    at += 4;
  };
  out[at++] = WIRE_VERSION;
  bytes(h.messageId);
  bytes(h.threadId);
  ascii(h.senderDeviceId);
  u32(Math.floor(h.sentAt / 2 ** 32));
  u32(h.sentAt % 2 ** 32);
  bytes(h.ephemeralKey);
  bytes(h.bodyNonce);
  view.setUint16(at, h.recipients.length);
  at += 2;
  for (const r of h.recipients) {
    ascii(r.deviceId);
    u32(r.signedPrekeyId);
    u32(r.pqPrekeyId);
    if (r.oneTimePrekeyId === undefined) out[at++] = 0;
    else {
      out[at++] = 1;
      u32(r.oneTimePrekeyId);
    }
    bytes(r.pqCiphertext);
    bytes(r.wrappedKey);
  }
  u32(h.ciphertextLength);
  bytes(h.ciphertextHash);
  return out;
}

/** The frame that travels: `0x02 ‖ u32 header length ‖ header ‖ signature ‖ ciphertext`, in one buffer. */
export function encodeFrame(headerBytes: Uint8Array, signature: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  checkBytes('signature', signature, SIG);
  const out = new Uint8Array(FRAME_OVERHEAD + headerBytes.length + ciphertext.length);
  out[0] = WIRE_VERSION;
  new DataView(out.buffer).setUint32(1, headerBytes.length);
  out.set(headerBytes, 5);
  out.set(signature, 5 + headerBytes.length);
  out.set(ciphertext, FRAME_OVERHEAD + headerBytes.length);
  return out;
}

/** A frame read in place: every byte field is a view into the received buffer, nothing is copied. */
export interface FrameView extends HeaderFields {
  /** The whole frame, as received. */
  frame: Uint8Array;
  /** The header's bytes: what the signature covers. */
  headerBytes: Uint8Array;
  signature: Uint8Array;
  ciphertext: Uint8Array;
  recipients: RecipientFields[];
}

/** Limits a reader applies on top of the protocol's own (the relay's configuration). */
export interface FrameLimits {
  maxRecipients?: number;
  maxCiphertextBytes?: number;
}

/**
 * Read a frame; throws BAD_REQUEST (PAYLOAD_TOO_LARGE for a ciphertext over
 * `maxCiphertextBytes`) on anything that is not exactly one well-formed
 * frame: a wrong version, a length or count beyond its cap or beyond the
 * bytes present, an id outside its alphabet, a flag other than 0 or 1,
 * bytes left over, a ciphertext whose length is not the header's. The
 * signature and hash are not checked here.
 */
export function readFrame(input: Uint8Array, limits: FrameLimits = {}): FrameView {
  const frame = input;
  const total = frame.length;
  if (total < FRAME_OVERHEAD + FIXED) throw bad('too short');
  if (frame[0] !== WIRE_VERSION) throw bad(`unknown version ${frame[0]}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const headerLength = view.getUint32(1);
  if (headerLength > MAX_HEADER_BYTES || headerLength < FIXED + HEADER_TAIL) throw bad('header length out of range');
  if (5 + headerLength + SIG > total) throw bad('header length beyond the frame');
  const end = 5 + headerLength; // the header is frame[5, end)
  let at = 5;
  const need = (n: number) => {
    if (at + n > end) throw bad('header truncated');
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = frame.subarray(at, at + n);
    at += n;
    return b;
  };
  const u32 = (): number => {
    need(4);
    const n = view.getUint32(at);
    at += 4;
    return n;
  };
  const deviceId = (name: string): string => {
    need(1);
    const len = frame[at++] ?? 0;
    if (len > MAX_DEVICE_ID) throw bad(`${name} too long`);
    need(len);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(frame[at + i] ?? 0);
    at += len;
    if (!DEVICE_ID_RE.test(s)) throw bad(`${name} is not a device id`);
    return s;
  };
  if (frame[at++] !== WIRE_VERSION) throw bad('header version is not 2');
  const messageId = take(ID);
  const threadId = take(ID);
  const senderDeviceId = deviceId('senderDeviceId');
  const hi = u32();
  const lo = u32();
  const sentAt = hi * 2 ** 32 + lo;
  if (hi >= 2 ** 21 || sentAt > MAX_TIMESTAMP) throw bad('sentAt out of range');
  const ephemeralKey = take(KEY);
  const bodyNonce = take(NONCE);
  need(2);
  const count = view.getUint16(at);
  at += 2;
  const maxRecipients = Math.min(LIMITS.maxRecipients, limits.maxRecipients ?? LIMITS.maxRecipients);
  if (count < 1) throw bad('no recipient');
  if (count > maxRecipients) throw bad(`more than ${maxRecipients} recipients`);
  // Every entry takes at least ENTRY_MIN + 5 bytes: a count the header cannot hold is refused before the loop.
  if (count * (ENTRY_MIN + 5) > end - at - HEADER_TAIL) throw bad('recipient count beyond the header');
  const recipients: RecipientFields[] = [];
  for (let i = 0; i < count; i++) {
    const id = deviceId('recipient deviceId');
    const signedPrekeyId = u32();
    const pqPrekeyId = u32();
    need(1);
    const flag = frame[at++];
    if (flag !== 0 && flag !== 1) throw bad('one-time prekey flag must be 0 or 1');
    const oneTimePrekeyId = flag === 1 ? u32() : undefined;
    const pqCiphertext = take(PQ_CT);
    const wrappedKey = take(WRAPPED);
    recipients.push({ deviceId: id, signedPrekeyId, pqPrekeyId, ...(oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId }), pqCiphertext, wrappedKey });
  }
  const ciphertextLength = u32();
  const ciphertextHash = take(HASH);
  if (at !== end) throw bad('bytes left over after the header');
  if (ciphertextLength < MIN_CIPHERTEXT || ciphertextLength > MAX_CIPHERTEXT) throw bad('ciphertextLength out of range');
  if (limits.maxCiphertextBytes !== undefined && ciphertextLength > limits.maxCiphertextBytes) {
    throw new HandoverError('PAYLOAD_TOO_LARGE', `the ciphertext is larger than ${limits.maxCiphertextBytes} bytes`);
  }
  const ciphertextStart = end + SIG;
  if (total - ciphertextStart !== ciphertextLength) throw bad('the ciphertext is not the length the header gives');
  return {
    frame,
    headerBytes: frame.subarray(5, end),
    signature: frame.subarray(end, ciphertextStart),
    ciphertext: frame.subarray(ciphertextStart),
    messageId,
    threadId,
    senderDeviceId,
    sentAt,
    ephemeralKey,
    bodyNonce,
    recipients,
    ciphertextLength,
    ciphertextHash,
  };
}

/** A version 2 header object (binary fields as base64url) from its fields. */
export function headerFromFields(f: HeaderFields): EnvelopeHeader {
  return {
    v: WIRE_VERSION,
    messageId: toB64u(f.messageId),
    senderDeviceId: f.senderDeviceId,
    threadId: toB64u(f.threadId),
    sentAt: f.sentAt,
    ephemeralKey: toB64u(f.ephemeralKey),
    bodyNonce: toB64u(f.bodyNonce),
    ciphertextLength: f.ciphertextLength,
    ciphertextHash: toB64u(f.ciphertextHash),
    recipients: f.recipients.map(
      (r): RecipientEntry => ({
        deviceId: r.deviceId,
        signedPrekeyId: r.signedPrekeyId,
        pqPrekeyId: r.pqPrekeyId,
        ...(r.oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId: r.oneTimePrekeyId }),
        pqCiphertext: toB64u(r.pqCiphertext),
        wrappedKey: toB64u(r.wrappedKey),
      }),
    ),
  };
}

const HEADER_KEYS = new Set(['v', 'messageId', 'senderDeviceId', 'threadId', 'sentAt', 'ephemeralKey', 'bodyNonce', 'ciphertextLength', 'ciphertextHash', 'recipients']);
const ENTRY_KEYS = new Set(['deviceId', 'signedPrekeyId', 'pqPrekeyId', 'oneTimePrekeyId', 'pqCiphertext', 'wrappedKey']);

function onlyKeys(value: object, allowed: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(value)) if (!allowed.has(key)) throw bad(`${what} has a field the binary header cannot carry: ${key.slice(0, 40)}`);
}

/**
 * The fields of a version 2 header object. Throws BAD_REQUEST for one that
 * is not version 2, not canonical base64url, or has a field the binary
 * header has no place for (which the signature could then not cover).
 */
export function fieldsFromHeader(h: EnvelopeHeader): HeaderFields {
  if (h.v !== WIRE_VERSION) throw bad('not a version 2 header');
  onlyKeys(h, HEADER_KEYS, 'the header');
  for (const r of h.recipients) onlyKeys(r, ENTRY_KEYS, 'a recipient entry');
  return {
    messageId: fromB64u(h.messageId),
    threadId: fromB64u(h.threadId),
    senderDeviceId: h.senderDeviceId,
    sentAt: h.sentAt,
    ephemeralKey: fromB64u(h.ephemeralKey),
    bodyNonce: fromB64u(h.bodyNonce),
    recipients: h.recipients.map((r) => ({
      deviceId: r.deviceId,
      signedPrekeyId: r.signedPrekeyId,
      pqPrekeyId: r.pqPrekeyId,
      ...(r.oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId: r.oneTimePrekeyId }),
      pqCiphertext: fromB64u(r.pqCiphertext),
      wrappedKey: fromB64u(r.wrappedKey),
    })),
    ciphertextLength: h.ciphertextLength,
    ciphertextHash: fromB64u(h.ciphertextHash),
  };
}

/** A received frame as the envelope object the SDK opens (the header decoded strictly, the ciphertext a view). */
export function envelopeFromFrame(frame: Uint8Array, limits: FrameLimits = {}): SealedEnvelope {
  const v = readFrame(frame, limits);
  return { header: headerFromFields(v), signature: toB64u(v.signature), ciphertext: v.ciphertext };
}

/** The frame of a version 2 envelope object. */
export function frameOfEnvelope(envelope: SealedEnvelope): Uint8Array {
  return encodeFrame(encodeHeader(fieldsFromHeader(envelope.header)), fromB64u(envelope.signature), envelope.ciphertext);
}

/** Socket.IO hands binary over as a Buffer (Node) or an ArrayBuffer (browser). */
export function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new HandoverError('BAD_REQUEST', 'expected binary data');
}

/**
 * The envelope of a delivery, whichever version it came in: a version 2
 * frame read strictly (throws BAD_REQUEST for a malformed one), a version 1
 * object as it came (the caller parses it).
 */
export function envelopeOfDelivery(delivery: Delivery): WireEnvelope {
  if ('frame' in delivery) return envelopeFromFrame(asBytes(delivery.frame));
  return delivery.envelope;
}

/** The message id of a delivery without reading the rest (a version 2 frame: header bytes 1–16). Not a check of anything else. */
export function messageIdOfDelivery(delivery: Delivery): string {
  if (!('frame' in delivery)) return delivery.envelope.header.messageId;
  const bytes = asBytes(delivery.frame);
  if (bytes.length < 5 + 1 + ID || bytes[0] !== WIRE_VERSION) throw bad('too short');
  return toB64u(bytes.subarray(6, 6 + ID));
}

/** What `envelope:send` carries for an envelope: its frame (version 2) or the object (version 1). */
export function wireOf(envelope: SealedEnvelope): Uint8Array | WireEnvelope {
  return envelope.header.v === WIRE_VERSION ? frameOfEnvelope(envelope) : envelope;
}
