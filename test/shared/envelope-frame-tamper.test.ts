/**
 * Protocol version 2's binary frame (PROTOCOL.md §4.12), attacked byte by
 * byte and through its length fields.
 *
 * - Every bit position class of every byte of a real frame, flipped: the
 *   relay's path (`readFrame` + `verifyFrame`) and a recipient's path
 *   (`envelopeFromFrame` + `openEnvelope`) both refuse it, with a typed error.
 * - Length-prefix abuse: every truncation, trailing bytes, header lengths
 *   too short, too long and beyond the frame, device id lengths, recipient
 *   counts (zero, over the cap, beyond the bytes present — refused before
 *   the loop), flags, out-of-range numbers, bytes left over in the header.
 * - Decoding is canonical: re-encoding what was read gives the same bytes.
 */
import fc from 'fast-check';
import { loadCrypto } from '../../shared/crypto/sodium';
import type { Crypto } from '../../shared/crypto/types';
import { toB64u } from '../../shared/encoding';
import { openEnvelope, sealEnvelope, signingInputV2, verifyFrame } from '../../shared/envelope';
import { FRAME_OVERHEAD, MAX_HEADER_BYTES, encodeFrame, encodeHeader, envelopeFromFrame, frameOfEnvelope, readFrame, type FrameLimits } from '../../shared/envelope-wire';
import { isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson } from '../../shared/keystore';
import { LIMITS, type SealedEnvelope } from '../../shared/schemas';
import { DAY, T0, type TestDevice, TestNetwork } from '../support/network';

let crypto: Crypto;
let net: TestNetwork;
let sender: TestDevice;
let r1: TestDevice; // with a one-time prekey
let r2: TestDevice; // without
let sealed: SealedEnvelope;
let frame: Uint8Array;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'ok';
}

/** What the relay does with received bytes before storing them. */
function relayPath(bytes: Uint8Array, limits: FrameLimits = {}): void {
  verifyFrame(crypto, readFrame(bytes, limits), sender.keys.sign.publicKey);
}

/** What a recipient does with delivered bytes. */
function recipientPath(bytes: Uint8Array, device: TestDevice = r1): void {
  openEnvelope(crypto, {
    envelope: envelopeFromFrame(bytes),
    recipient: deviceKeysFromJson(deviceKeysToJson(device.keys)),
    sender: net.senderPublic(sender),
    now: T0,
    maxAgeMs: 30 * DAY,
  });
}

/** Offsets of the header's fields in `frame` (the layout table of PROTOCOL.md §4.12, written out again). */
function layout(): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  let at = 0;
  const field = (name: string, n: number) => {
    out.push([name, at, n]);
    at += n;
  };
  field('frame version', 1);
  field('header length', 4);
  field('header version', 1);
  field('messageId', 16);
  field('threadId', 16);
  const senderLen = frame[at] ?? 0;
  field('sender id length', 1);
  field('sender id', senderLen);
  field('sentAt', 8);
  field('ephemeralKey', 32);
  field('bodyNonce', 24);
  field('recipient count', 2);
  for (const r of sealed.header.recipients) {
    const len = frame[at] ?? 0;
    field(`${r.deviceId}: id length`, 1);
    field(`${r.deviceId}: id`, len);
    field(`${r.deviceId}: signedPrekeyId`, 4);
    field(`${r.deviceId}: pqPrekeyId`, 4);
    const flag = frame[at] ?? 0;
    field(`${r.deviceId}: one-time flag`, 1);
    if (flag === 1) field(`${r.deviceId}: oneTimePrekeyId`, 4);
    field(`${r.deviceId}: pqCiphertext`, 1120);
    field(`${r.deviceId}: wrappedKey`, 48);
  }
  field('ciphertextLength', 4);
  field('ciphertextHash', 32);
  field('signature', 64);
  field('ciphertext', frame.length - at);
  return out;
}

function offsetOf(name: string): number {
  const f = layout().find(([n]) => n === name);
  if (!f) throw new Error(`no field ${name}`);
  return f[1];
}

function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  out[at] = value;
  return out;
}

function withU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(at, value);
  return out;
}

function withU16(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint16(at, value);
  return out;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

/** Re-sign a frame's (changed) header as the genuine sender: what the bindings must then catch. */
function resigned(bytes: Uint8Array): Uint8Array {
  const v = readFrame(bytes);
  const sig = crypto.sign(signingInputV2(v.headerBytes), sender.keys.sign.privateKey);
  return encodeFrame(v.headerBytes.slice(), sig, v.ciphertext.slice());
}

beforeAll(async () => {
  crypto = await loadCrypto();
  net = new TestNetwork(crypto);
  const ngo = net.addOrg('ngo-taraz');
  const shelter = net.addOrg('shelter-ist', 'shelter');
  sender = net.addDevice(ngo, 'ngo-taraz:ngo-dev-1', { oneTimePrekeys: 0 });
  r1 = net.addDevice(shelter, 'shelter-ist:sh-dev-1', { oneTimePrekeys: 2 });
  r2 = net.addDevice(shelter, 'shelter-ist:sh-dev-2', { oneTimePrekeys: 1 });
  sealed = sealEnvelope(crypto, {
    sender: net.senderKeys(sender),
    recipients: [net.recipientKeys(r1), net.recipientKeys(r2, false)],
    threadId: toB64u(new Uint8Array(16).fill(7)),
    sentAt: T0,
    body: new TextEncoder().encode('{"type":"note","text":"frame tamper test"}'),
    version: 2,
  });
  frame = frameOfEnvelope(sealed);
});

describe('the untouched frame', () => {
  test('passes the relay checks and opens for both recipients', () => {
    expect(code(() => relayPath(frame))).toBe('ok');
    expect(code(() => recipientPath(frame, r1))).toBe('ok');
    expect(code(() => recipientPath(frame, r2))).toBe('ok');
  });

  test('the layout covers the frame exactly, and the header length is the header', () => {
    const fields = layout();
    const last = fields[fields.length - 1]!;
    expect(last[1] + last[2]).toBe(frame.length);
    const v = readFrame(frame);
    expect(v.headerBytes.length).toBe(offsetOf('signature') - 5);
    expect(frame.length).toBe(FRAME_OVERHEAD + v.headerBytes.length + sealed.ciphertext.length);
  });

  test('reading is canonical: the object and the bytes are one and the same', () => {
    const v = readFrame(frame);
    expect(encodeHeader(v)).toEqual(v.headerBytes);
    expect(envelopeFromFrame(frame)).toEqual({ header: sealed.header, signature: sealed.signature, ciphertext: sealed.ciphertext });
    expect(frameOfEnvelope(envelopeFromFrame(frame))).toEqual(frame);
  });

  test('the relay reads in place: header, signature and ciphertext are views of the received buffer', () => {
    const v = readFrame(frame);
    for (const part of [v.headerBytes, v.signature, v.ciphertext, v.ciphertextHash]) expect(part.buffer).toBe(frame.buffer);
  });
});

describe('any flipped bit, anywhere in the frame, is refused on both paths', () => {
  // Every byte, with the lowest and the highest bit: ~3,900 positions of a two-recipient frame.
  test.each([0x01, 0x80])('xor 0x%s at every byte', (mask) => {
    const relayCodes = new Set<string>();
    const recipientCodes = new Set<string>();
    const fields = layout();
    for (let i = 0; i < frame.length; i++) {
      const changed = withByte(frame, i, (frame[i] ?? 0) ^ mask);
      const field = fields.find(([, at, n]) => i >= at && i < at + n)?.[0] ?? '?';
      const relay = code(() => relayPath(changed));
      if (relay === 'ok' || relay.startsWith('non-Handover')) throw new Error(`relay accepted or crashed on byte ${i} (${field}): ${relay}`);
      relayCodes.add(relay);
      // The recipient's path costs more (it may decapsulate); every 7th byte and every byte of the header's small fields.
      if (i % 7 === 0 || i < 120) {
        const recipient = code(() => recipientPath(changed));
        if (recipient === 'ok' || recipient.startsWith('non-Handover')) throw new Error(`recipient opened or crashed on byte ${i} (${field}): ${recipient}`);
        recipientCodes.add(recipient);
      }
    }
    expect([...relayCodes].every((c) => ['BAD_REQUEST', 'BAD_SIGNATURE'].includes(c))).toBe(true);
    expect([...recipientCodes].every((c) => ['BAD_REQUEST', 'BAD_SIGNATURE'].includes(c))).toBe(true);
  });
});

describe('re-signed by the sender: the bindings still refuse a changed field', () => {
  const FIELDS: Array<[string, string, number]> = [
    // field, expected code when opened by r1, byte offset within the field
    ['threadId', 'DECRYPT_FAILED', 3],
    ['sentAt', 'DECRYPT_FAILED', 7],
    ['ephemeralKey', 'DECRYPT_FAILED', 0],
    ['bodyNonce', 'DECRYPT_FAILED', 5],
    ['shelter-ist:sh-dev-1: signedPrekeyId', 'DECRYPT_FAILED', 3],
    ['shelter-ist:sh-dev-1: pqPrekeyId', 'DECRYPT_FAILED', 3],
    ['shelter-ist:sh-dev-1: oneTimePrekeyId', 'DECRYPT_FAILED', 3],
    ['shelter-ist:sh-dev-1: pqCiphertext', 'DECRYPT_FAILED', 100],
    ['shelter-ist:sh-dev-1: wrappedKey', 'DECRYPT_FAILED', 47],
    ['shelter-ist:sh-dev-2: wrappedKey', 'DECRYPT_FAILED', 0],
    ['shelter-ist:sh-dev-2: pqCiphertext', 'DECRYPT_FAILED', 0],
  ];
  test.each(FIELDS)('%s -> %s', (name, expected, offset) => {
    const at = offsetOf(name) + offset;
    const changed = resigned(withByte(frame, at, (frame[at] ?? 0) ^ 0x04));
    expect(code(() => relayPath(changed))).toBe('ok'); // the relay cannot tell: the signature is genuine
    expect(code(() => recipientPath(changed))).toBe(expected);
  });

  test('the ciphertext changed and re-hashed -> DECRYPT_FAILED', () => {
    const changed = frame.slice();
    const ct = offsetOf('ciphertext');
    changed[ct + 10] = (changed[ct + 10] ?? 0) ^ 1;
    const hashAt = offsetOf('ciphertextHash');
    changed.set(crypto.hash(changed.subarray(ct), 32), hashAt);
    const again = resigned(changed);
    expect(code(() => relayPath(again))).toBe('ok');
    expect(code(() => recipientPath(again))).toBe('DECRYPT_FAILED');
  });

  test('a recipient entry moved to another device id -> NOT_RECIPIENT for the device it was for', () => {
    const at = offsetOf('shelter-ist:sh-dev-1: id');
    const changed = resigned(withByte(frame, at + 19, '9'.charCodeAt(0))); // sh-dev-1 -> sh-dev-9
    expect(code(() => recipientPath(changed, r1))).toBe('NOT_RECIPIENT');
    expect(code(() => recipientPath(changed, r2))).toBe('DECRYPT_FAILED');
  });

  test('the same recipient listed twice -> the relay refuses it (BAD_REQUEST)', () => {
    const id2 = offsetOf('shelter-ist:sh-dev-2: id');
    const changed = resigned(withByte(frame, id2 + 19, '1'.charCodeAt(0)));
    expect(code(() => relayPath(changed))).toBe('BAD_REQUEST');
  });
});

describe('length-prefix abuse -> BAD_REQUEST before anything is allocated or verified', () => {
  test('every truncation of the frame', () => {
    for (let n = 0; n < frame.length; n++) {
      const c = code(() => relayPath(frame.subarray(0, n)));
      if (c !== 'BAD_REQUEST') throw new Error(`truncated to ${n} bytes: ${c}`);
    }
  });

  test.each([1, 16, 1024])('%i trailing byte(s)', (n) => {
    const longer = new Uint8Array(frame.length + n);
    longer.set(frame);
    expect(code(() => relayPath(longer))).toBe('BAD_REQUEST');
    expect(code(() => recipientPath(longer))).toBe('BAD_REQUEST');
  });

  test.each([
    ['one short', -1],
    ['one over', 1],
    ['64 over (into the signature)', 64],
  ])('header length %s', (_name, delta) => {
    const v = readFrame(frame);
    expect(code(() => relayPath(withU32(frame, 1, v.headerBytes.length + delta)))).toBe('BAD_REQUEST');
  });

  test.each([
    ['zero', 0],
    ['below the smallest header', 100],
    ['the cap + 1', MAX_HEADER_BYTES + 1],
    ['2^31', 2 ** 31],
    ['2^32 - 1', 2 ** 32 - 1],
  ])('header length %s', (_name, value) => {
    expect(code(() => relayPath(withU32(frame, 1, value)))).toBe('BAD_REQUEST');
  });

  test.each([
    ['frame version 1', 0, 1],
    ['frame version 3', 0, 3],
    ['header version 1', 5, 1],
    ['header version 0xff', 5, 0xff],
  ])('%s', (_name, at, value) => {
    expect(code(() => relayPath(withByte(frame, at, value)))).toBe('BAD_REQUEST');
  });

  test.each([0, 4, 130, 255])('sender id length %i', (len) => {
    expect(code(() => relayPath(withByte(frame, offsetOf('sender id length'), len)))).toBe('BAD_REQUEST');
  });

  test.each([
    ['a slash', '/'],
    ['a space', ' '],
    ['a non-ASCII byte', '\u00e9'],
    ['a NUL', '\u0000'],
  ])('sender id with %s', (_name, ch) => {
    expect(code(() => relayPath(withByte(frame, offsetOf('sender id') + 4, ch.charCodeAt(0))))).toBe('BAD_REQUEST');
  });

  test.each([
    ['zero', 0],
    ['one more than listed', 3],
    ['the protocol cap + 1', LIMITS.maxRecipients + 1],
    ['0xffff', 0xffff],
  ])('recipient count %s', (_name, count) => {
    expect(code(() => relayPath(withU16(frame, offsetOf('recipient count'), count)))).toBe('BAD_REQUEST');
  });

  test('recipient count above the relay configuration', () => {
    expect(code(() => relayPath(frame, { maxRecipients: 1 }))).toBe('BAD_REQUEST');
    expect(code(() => relayPath(frame, { maxRecipients: 2 }))).toBe('ok');
  });

  test('a ciphertext over the relay configuration -> PAYLOAD_TOO_LARGE', () => {
    expect(code(() => relayPath(frame, { maxCiphertextBytes: 1024 }))).toBe('PAYLOAD_TOO_LARGE');
  });

  test('a count of 500 recipients with the bytes of 2 is refused before the loop', () => {
    // Only the count check can refuse it: the first two entries are real.
    expect(code(() => readFrame(withU16(frame, offsetOf('recipient count'), 500)))).toBe('BAD_REQUEST');
  });

  test.each([0, 130, 255])('recipient id length %i', (len) => {
    expect(code(() => relayPath(withByte(frame, offsetOf('shelter-ist:sh-dev-1: id length'), len)))).toBe('BAD_REQUEST');
  });

  test.each([2, 0x80, 0xff])('one-time prekey flag %i', (flag) => {
    expect(code(() => relayPath(withByte(frame, offsetOf('shelter-ist:sh-dev-1: one-time flag'), flag)))).toBe('BAD_REQUEST');
  });

  test('one-time prekey flag 1 -> 0 (4 bytes fewer read: the rest no longer lines up)', () => {
    expect(code(() => relayPath(withByte(frame, offsetOf('shelter-ist:sh-dev-1: one-time flag'), 0)))).toBe('BAD_REQUEST');
  });

  test.each([
    ['2^21 in the high word (beyond 2^53)', 2 ** 21, 0],
    ['above the largest timestamp (8.64e15)', 2_011_657, 0],
  ])('sentAt %s', (_name, hi, lo) => {
    const at = offsetOf('sentAt');
    expect(code(() => relayPath(withU32(withU32(frame, at, hi), at + 4, lo)))).toBe('BAD_REQUEST');
  });

  test.each([0, 15, 1024, 2 ** 32 - 1])('ciphertextLength %i (not the bytes that follow)', (n) => {
    expect(code(() => relayPath(withU32(frame, offsetOf('ciphertextLength'), n)))).toBe('BAD_REQUEST');
  });

  test('bytes left over inside the header (header length grown to take them)', () => {
    const v = readFrame(frame);
    const at = 5 + v.headerBytes.length;
    const grown = withU32(splice(frame, at, 0, new Uint8Array(4)), 1, v.headerBytes.length + 4);
    expect(code(() => relayPath(grown))).toBe('BAD_REQUEST');
  });

  test('an entry cut short with the header length shrunk to match', () => {
    const at = offsetOf('shelter-ist:sh-dev-2: wrappedKey');
    const v = readFrame(frame);
    const cut = withU32(splice(frame, at, 10), 1, v.headerBytes.length - 10);
    expect(code(() => relayPath(cut))).toBe('BAD_REQUEST');
  });

  test('random bytes and random frames never crash the reader with anything but a typed refusal', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (bytes, keepPrefix) => {
        const input = keepPrefix ? splice(frame, 60, frame.length - 60, bytes) : bytes;
        const c = code(() => readFrame(input));
        expect(c).toBe('BAD_REQUEST');
      }),
      { numRuns: 500 },
    );
  });
});
