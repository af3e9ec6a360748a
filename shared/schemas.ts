/**
 * Wire schemas for everything the relay and clients exchange outside the
 * encrypted body: certificates, revocations, prekeys, envelope headers and
 * the error shape. Strict objects (unknown keys refused) with capped sizes,
 * so hostile input is refused at the boundary before any crypto runs.
 */
import { z } from 'zod';
import { RELAY_ERROR_CODES } from './errors';

export const PROTOCOL_VERSION = 1 as const;

export const LIMITS = {
  idLength: 64,
  textLength: 200,
  maxServices: 20,
  maxRecipients: 500,
  maxOneTimePrekeysPerUpload: 200,
  maxRevocationsPerList: 10_000,
} as const;

/**
 * Unpadded, canonical base64url of exactly `bytes` bytes. Canonical: the
 * unused low bits of the last character are zero, so one value has exactly
 * one spelling and ids can be compared as text (PROTOCOL.md "Encoding").
 */
export function b64uBytes(bytes: number) {
  const len = Math.ceil((bytes * 4) / 3);
  // 1 byte left over -> the last character carries 2 bits (4 unused); 2 bytes -> 4 bits (2 unused).
  const last = bytes % 3 === 1 ? '[AQgw]' : bytes % 3 === 2 ? '[AEIMQUYcgkosw048]' : '[A-Za-z0-9_-]';
  const body = len > 0 ? `^[A-Za-z0-9_-]{${len - 1}}${last}$` : '^$';
  return z.string().length(len).regex(new RegExp(body), 'must be canonical unpadded base64url');
}

export const Id = z
  .string()
  .min(3)
  .max(LIMITS.idLength)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'ids use letters, digits, - and _');
/**
 * A device id is scoped by its org: `<orgId>:<name>` (the name follows the
 * id rules, 1 to 64 characters). Org ids cannot hold ':', so the org part is
 * unambiguous, and a device certificate is valid only when its id's org
 * part is the org that signed it: no org can register, squat or revoke a
 * device id of another org.
 */
export const DEVICE_ID_SEPARATOR = ':';
export const DeviceId = z
  .string()
  .max(LIMITS.idLength * 2 + 1)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}:[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'device ids are <orgId>:<name> (letters, digits, - and _)');
/** The org part of a device id (the id must already be a valid DeviceId). */
export function orgOfDeviceId(deviceId: string): string {
  const at = deviceId.indexOf(DEVICE_ID_SEPARATOR);
  return at < 0 ? '' : deviceId.slice(0, at);
}
export const Text = z.string().min(1).max(LIMITS.textLength);
/** Milliseconds since the Unix epoch. */
export const Timestamp = z.number().int().min(0).max(8_640_000_000_000_000);
export const Ed25519PublicKey = b64uBytes(32);
export const X25519PublicKey = b64uBytes(32);
export const XWingPublicKey = b64uBytes(1216);
export const Signature = b64uBytes(64);
export const Hash32 = b64uBytes(32);
export const MessageId = b64uBytes(16);
export const PrekeyId = z.number().int().min(0).max(2 ** 32 - 1);

export const ORG_TYPES = ['ngo', 'iom', 'shelter', 'authority'] as const;
export const OrgType = z.enum(ORG_TYPES);
export const DEVICE_ROLES = ['caseworker', 'admin'] as const;
export const DeviceRole = z.enum(DEVICE_ROLES);
export const CountryCode = z.string().regex(/^[A-Z]{2}$/, 'ISO 3166 alpha-2 code');

export const OrgCertificateBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('org'),
  networkId: Hash32,
  orgId: Id,
  name: Text,
  orgType: OrgType,
  country: CountryCode,
  region: z.string().max(LIMITS.textLength).optional(),
  services: z.array(z.string().min(1).max(64)).max(LIMITS.maxServices),
  publicKey: Ed25519PublicKey,
  serial: z.number().int().min(1).max(2 ** 53 - 1),
  issuedAt: Timestamp,
  expiresAt: Timestamp,
});
export const OrgCertificate = OrgCertificateBody.extend({ signature: Signature });
export type OrgCertificateBody = z.infer<typeof OrgCertificateBody>;
export type OrgCertificate = z.infer<typeof OrgCertificate>;

export const DeviceCertificateBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('device'),
  networkId: Hash32,
  orgId: Id,
  deviceId: DeviceId,
  label: Text,
  role: DeviceRole,
  signPublicKey: Ed25519PublicKey,
  dhPublicKey: X25519PublicKey,
  issuedAt: Timestamp,
  expiresAt: Timestamp,
});
export const DeviceCertificate = DeviceCertificateBody.extend({ signature: Signature });
export type DeviceCertificateBody = z.infer<typeof DeviceCertificateBody>;
export type DeviceCertificate = z.infer<typeof DeviceCertificate>;

/** What a new device sends to its org admin to be certified (self-signed: proves key possession). */
export const EnrolmentRequestBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('enrolment'),
  orgId: Id,
  deviceId: DeviceId,
  label: Text,
  signPublicKey: Ed25519PublicKey,
  dhPublicKey: X25519PublicKey,
  createdAt: Timestamp,
});
export const EnrolmentRequest = EnrolmentRequestBody.extend({ signature: Signature });
export type EnrolmentRequest = z.infer<typeof EnrolmentRequest>;

/**
 * A revocation, signed by its issuer: the network root (`issuer: 'root'`,
 * revoking an org) or an org key (`issuer: <orgId>`, revoking one of its
 * devices). `seq` counts from 1 per issuer with no gaps, so a client can
 * tell a truncated or rolled-back list.
 */
export const RevocationSubject = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('org'), orgId: Id }),
  z.strictObject({ type: z.literal('device'), orgId: Id, deviceId: DeviceId }),
]);
export const RevocationBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('revocation'),
  networkId: Hash32,
  issuer: z.union([z.literal('root'), Id]),
  seq: z.number().int().min(1).max(2 ** 53 - 1),
  subject: RevocationSubject,
  reason: z.string().max(LIMITS.textLength),
  revokedAt: Timestamp,
});
export const Revocation = RevocationBody.extend({ signature: Signature });
export type RevocationBody = z.infer<typeof RevocationBody>;
export type Revocation = z.infer<typeof Revocation>;

export const SignedPrekeyBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('signed-prekey'),
  deviceId: DeviceId,
  id: PrekeyId,
  publicKey: X25519PublicKey,
  createdAt: Timestamp,
});
export const SignedPrekey = SignedPrekeyBody.extend({ signature: Signature });
export type SignedPrekey = z.infer<typeof SignedPrekey>;

export const OneTimePrekeyBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('one-time-prekey'),
  deviceId: DeviceId,
  id: PrekeyId,
  publicKey: X25519PublicKey,
});
export const OneTimePrekey = OneTimePrekeyBody.extend({ signature: Signature });
export type OneTimePrekey = z.infer<typeof OneTimePrekey>;

export const PqPrekeyBody = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('pq-prekey'),
  deviceId: DeviceId,
  id: PrekeyId,
  publicKey: XWingPublicKey,
  createdAt: Timestamp,
});
export const PqPrekey = PqPrekeyBody.extend({ signature: Signature });
export type PqPrekey = z.infer<typeof PqPrekey>;

/** Everything a sender needs to encrypt to one device. */
export const DeviceBundle = z.strictObject({
  certificate: DeviceCertificate,
  signedPrekey: SignedPrekey,
  pqPrekey: PqPrekey,
  oneTimePrekey: OneTimePrekey.optional(),
});
export type DeviceBundle = z.infer<typeof DeviceBundle>;

export const RecipientEntry = z.strictObject({
  deviceId: DeviceId,
  signedPrekeyId: PrekeyId,
  pqPrekeyId: PrekeyId,
  oneTimePrekeyId: PrekeyId.optional(),
  pqCiphertext: b64uBytes(1120),
  /** Content key (32) + Poly1305 tag (16). */
  wrappedKey: b64uBytes(48),
});
export type RecipientEntry = z.infer<typeof RecipientEntry>;

/** The public header: everything the relay can see about a message. */
export const EnvelopeHeader = z.strictObject({
  /** 1: signed as canonical JSON; 2: signed as the binary header of PROTOCOL.md §4.12. */
  v: z.union([z.literal(PROTOCOL_VERSION), z.literal(2)]),
  messageId: MessageId,
  senderDeviceId: DeviceId,
  threadId: MessageId,
  sentAt: Timestamp,
  ephemeralKey: X25519PublicKey,
  bodyNonce: b64uBytes(24),
  ciphertextLength: z.number().int().min(16).max(64 * 1024 * 1024),
  ciphertextHash: Hash32,
  recipients: z.array(RecipientEntry).min(1).max(LIMITS.maxRecipients),
});
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

/**
 * A sealed envelope as it travels: the header, the sender's signature over
 * it, and the body ciphertext as raw bytes (binary on the socket).
 */
export interface SealedEnvelope {
  header: EnvelopeHeader;
  signature: string;
  ciphertext: Uint8Array;
}
export const SealedEnvelopeSchema = z.strictObject({
  header: EnvelopeHeader,
  signature: Signature,
  ciphertext: z.instanceof(Uint8Array),
});

export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.enum(RELAY_ERROR_CODES),
    message: z.string().max(1000),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
