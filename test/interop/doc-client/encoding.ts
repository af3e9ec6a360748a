/**
 * Why this exists: every byte the doc client signs, hashes or sends is
 * spelled the way docs/PROTOCOL.md §1.2–§1.3 says — canonical unpadded
 * base64url, 4-byte big-endian length prefixes, and
 * `signingInput(label, value) = UTF-8(label) ‖ 0x00 ‖ UTF-8(JCS(value))`
 * with the domain labels of the §1.3 table. Written from the document only
 * (no import from shared/, client/ or server/).
 */
import canonicalize from 'canonicalize';

/** The domain labels of PROTOCOL.md §1.3 (relay protocol and referral layer). */
export const LABEL = {
  orgCertificate: 'handover/v1/org-certificate',
  deviceCertificate: 'handover/v1/device-certificate',
  enrolmentRequest: 'handover/v1/enrolment-request',
  revocation: 'handover/v1/revocation',
  signedPrekey: 'handover/v1/signed-prekey',
  oneTimePrekey: 'handover/v1/one-time-prekey',
  pqPrekey: 'handover/v1/pq-prekey',
  envelope: 'handover/v1/envelope',
  headerHash: 'handover/v1/header-hash',
  /** §4.12: version 2 signs and binds the binary header under these. */
  envelopeV2: 'handover/v2/envelope',
  headerHashV2: 'handover/v2/header-hash',
  authChallenge: 'handover/v1/auth-challenge',
  kek: 'handover/v1/kek',
  fingerprint: 'handover/v1/fingerprint',
  referralEvent: 'handover/v1/referral-event',
  threadId: 'handover/v1/thread-id',
} as const;

/** A client-side refusal with one of the codes of PROTOCOL.md §6. */
export class DocClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(`${code}: ${message}`);
  }
}

const B64U = /^[A-Za-z0-9_-]*$/;

export function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Canonical unpadded base64url only (§1.2): anything else is BAD_REQUEST. */
export function fromB64u(text: string, expectedLength?: number): Uint8Array {
  if (typeof text !== 'string' || !B64U.test(text) || text.length % 4 === 1) {
    throw new DocClientError('BAD_REQUEST', 'not base64url');
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (b64u(bytes) !== text) throw new DocClientError('BAD_REQUEST', 'non-canonical base64url');
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new DocClientError('BAD_REQUEST', `expected ${expectedLength} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** LP(x): 4-byte big-endian length, then x (§2.8, §4.3). */
export function lp(x: Uint8Array | string): Uint8Array {
  const bytes = typeof x === 'string' ? utf8(x) : x;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, false);
  out.set(bytes, 4);
  return out;
}

/** RFC 8785 text of a JSON value. */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new DocClientError('BAD_REQUEST', 'value has no JSON form');
  return text;
}

/** The object without its `signature` key (what every signature covers, §1.3). */
export function unsigned<T extends object>(value: T): Omit<T, 'signature'> {
  const { signature: _ignored, ...rest } = value as T & { signature?: unknown };
  return rest;
}

/** signingInput(label, value) = UTF-8(label) ‖ 0x00 ‖ UTF-8(JCS(value)), `signature` left out. */
export function signingInput(label: string, value: object): Uint8Array {
  return concat(utf8(label), new Uint8Array([0]), utf8(jcs(unsigned(value))));
}
