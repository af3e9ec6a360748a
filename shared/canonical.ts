/**
 * Canonical encoding (RFC 8785 JSON canonicalisation) and domain-separated
 * signing inputs: `label || 0x00 || canonical JSON`. Every signed or hashed
 * structure has its own label, so a signature over one kind of object can
 * never be replayed as another.
 */
import canonicalizeJson from 'canonicalize';
import { concatBytes, utf8 } from './encoding';
import { HandoverError } from './errors';

export const DOMAIN = {
  orgCertificate: 'handover/v1/org-certificate',
  deviceCertificate: 'handover/v1/device-certificate',
  enrolmentRequest: 'handover/v1/enrolment-request',
  revocation: 'handover/v1/revocation',
  signedPrekey: 'handover/v1/signed-prekey',
  oneTimePrekey: 'handover/v1/one-time-prekey',
  pqPrekey: 'handover/v1/pq-prekey',
  envelope: 'handover/v1/envelope',
  headerHash: 'handover/v1/header-hash',
  /** Version 2 envelopes: the signature and body binding over the binary header (PROTOCOL.md §4.12). */
  envelopeV2: 'handover/v2/envelope',
  headerHashV2: 'handover/v2/header-hash',
  authChallenge: 'handover/v1/auth-challenge',
  keyEncryptionKey: 'handover/v1/kek',
  fingerprint: 'handover/v1/fingerprint',
  keystore: 'handover/v1/keystore',
} as const;

/**
 * A domain label: the protocol's own (`DOMAIN`) or an application's built on
 * it (the referral package adds its own), always under `handover/v1/`.
 */
export type DomainLabel = (typeof DOMAIN)[keyof typeof DOMAIN] | `handover/v1/${string}`;

export function canonicalJson(value: unknown): string {
  const text = canonicalizeJson(value);
  if (text === undefined) throw new HandoverError('BAD_REQUEST', 'value cannot be canonicalised');
  return text;
}

/** The exact bytes that get signed or hashed for `value` under `label`. */
export function signingInput(label: DomainLabel, value: unknown): Uint8Array {
  return signingInputOfCanonical(label, canonicalJson(value));
}

/** `signingInput` for a value whose canonical JSON the caller already has (it keeps it for other uses). */
export function signingInputOfCanonical(label: DomainLabel, canonical: string): Uint8Array {
  return concatBytes(utf8(label), new Uint8Array([0]), utf8(canonical));
}
