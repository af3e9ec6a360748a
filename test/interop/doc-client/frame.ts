/**
 * Why this exists: PROTOCOL.md §4.12, version 2 of the envelope, written
 * from its tables — the binary header (fixed field order, big-endian
 * integers, device ids as a length byte and ASCII), the frame
 * `0x02 ‖ u32 H ‖ header ‖ signature(64) ‖ ciphertext`, and the strict
 * reading rules (every length bounded before it is read, nothing left over).
 */
import { DocClientError, b64u, fromB64u } from './encoding';
import type { EnvelopeHeader, RecipientEntry } from './types';

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}:[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const MAX_ID = 129;
const MAX_RECIPIENTS = 500;
/** §4.12: "H ≤ 655,765". */
const MAX_HEADER = 655_765;
/** The smallest recipient entry (§4.12): 1 + 5 + 4 + 4 + 1 + 1120 + 48. */
const SMALLEST_ENTRY = 1_183;

function malformed(what: string): DocClientError {
  return new DocClientError('BAD_REQUEST', `malformed frame: ${what}`);
}

/** The header bytes of §4.12 for a version 2 header object. */
export function encodeHeaderV2(h: EnvelopeHeader): Uint8Array {
  const parts: number[] = [];
  const bytes = (b: Uint8Array) => {
    for (const x of b) parts.push(x);
  };
  const u32 = (n: number) => parts.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const id = (s: string) => {
    if (!DEVICE_ID.test(s)) throw malformed('device id');
    parts.push(s.length);
    for (let i = 0; i < s.length; i++) parts.push(s.charCodeAt(i));
  };
  parts.push(2);
  bytes(fromB64u(h.messageId, 16));
  bytes(fromB64u(h.threadId, 16));
  id(h.senderDeviceId);
  u32(Math.floor(h.sentAt / 2 ** 32));
  u32(h.sentAt % 2 ** 32);
  bytes(fromB64u(h.ephemeralKey, 32));
  bytes(fromB64u(h.bodyNonce, 24));
  parts.push((h.recipients.length >>> 8) & 0xff, h.recipients.length & 0xff);
  for (const r of h.recipients) {
    id(r.deviceId);
    u32(r.signedPrekeyId);
    u32(r.pqPrekeyId);
    if (r.oneTimePrekeyId === undefined) parts.push(0);
    else {
      parts.push(1);
      u32(r.oneTimePrekeyId);
    }
    bytes(fromB64u(r.pqCiphertext, 1120));
    bytes(fromB64u(r.wrappedKey, 48));
  }
  u32(h.ciphertextLength);
  bytes(fromB64u(h.ciphertextHash, 32));
  return Uint8Array.from(parts);
}

export function encodeFrame(header: Uint8Array, signature: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + 4 + header.length + 64 + ciphertext.length);
  out[0] = 2;
  new DataView(out.buffer).setUint32(1, header.length);
  out.set(header, 5);
  out.set(signature, 5 + header.length);
  out.set(ciphertext, 69 + header.length);
  return out;
}

/** A frame read by §4.12's rules: the header as an object (binary fields base64url), and the exact bytes. */
export interface DecodedFrame {
  header: EnvelopeHeader;
  headerBytes: Uint8Array;
  signature: Uint8Array;
  ciphertext: Uint8Array;
}

export function decodeFrame(frame: Uint8Array): DecodedFrame {
  if (frame.length < 5 || frame[0] !== 2) throw malformed('version');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const H = view.getUint32(1);
  if (H > MAX_HEADER) throw malformed('header length over the cap');
  if (5 + H + 64 > frame.length) throw malformed('header length past the frame');
  const end = 5 + H;
  let at = 5;
  const need = (n: number) => {
    if (at + n > end) throw malformed('field past the header');
  };
  const take = (n: number) => {
    need(n);
    at += n;
    return frame.slice(at - n, at);
  };
  const byte = () => take(1)[0]!;
  const u32 = () => {
    need(4);
    at += 4;
    return view.getUint32(at - 4);
  };
  const id = () => {
    const len = byte();
    if (len > MAX_ID) throw malformed('device id length');
    const s = String.fromCharCode(...take(len));
    if (!DEVICE_ID.test(s)) throw malformed('device id');
    return s;
  };
  if (byte() !== 2) throw malformed('header version');
  const messageId = b64u(take(16));
  const threadId = b64u(take(16));
  const senderDeviceId = id();
  const hi = u32();
  const lo = u32();
  const sentAt = hi * 2 ** 32 + lo;
  if (sentAt > 8.64e15) throw malformed('sentAt');
  const ephemeralKey = b64u(take(32));
  const bodyNonce = b64u(take(24));
  const n = (byte() << 8) | byte();
  if (n < 1 || n > MAX_RECIPIENTS || n * SMALLEST_ENTRY > end - at - 36) throw malformed('recipient count');
  const recipients: RecipientEntry[] = [];
  for (let i = 0; i < n; i++) {
    const deviceId = id();
    const signedPrekeyId = u32();
    const pqPrekeyId = u32();
    const flag = byte();
    if (flag !== 0 && flag !== 1) throw malformed('one-time flag');
    const oneTimePrekeyId = flag === 1 ? u32() : undefined;
    recipients.push({
      deviceId,
      signedPrekeyId,
      pqPrekeyId,
      ...(oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId }),
      pqCiphertext: b64u(take(1120)),
      wrappedKey: b64u(take(48)),
    });
  }
  const ciphertextLength = u32();
  const ciphertextHash = b64u(take(32));
  if (at !== end) throw malformed('bytes left over in the header');
  if (ciphertextLength < 16 || frame.length - end - 64 !== ciphertextLength) throw malformed('ciphertext length');
  return {
    header: { v: 2, messageId, senderDeviceId, threadId, sentAt, ephemeralKey, bodyNonce, ciphertextLength, ciphertextHash, recipients },
    headerBytes: frame.slice(5, end),
    signature: frame.slice(end, end + 64),
    ciphertext: frame.slice(end + 64),
  };
}

/** The message id of a frame that did not decode (bytes 6–21), to ack it away; undefined if there are not that many. */
export function frameMessageId(frame: Uint8Array): string | undefined {
  return frame.length >= 22 && frame[0] === 2 ? b64u(frame.slice(6, 22)) : undefined;
}
