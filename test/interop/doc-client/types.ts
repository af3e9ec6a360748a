/**
 * Why this exists: the wire objects of PROTOCOL.md §2–§5, typed from the
 * tables there and docs/schemas/*.json, so the rest of the doc client is
 * checked by the compiler against the document rather than against the
 * project's own zod schemas (which it must not import).
 */
export type OrgType = 'ngo' | 'iom' | 'shelter' | 'authority';

export interface OrgCertificate {
  v: 1;
  kind: 'org';
  networkId: string;
  orgId: string;
  name: string;
  orgType: OrgType;
  country: string;
  region?: string;
  services: string[];
  publicKey: string;
  serial: number;
  issuedAt: number;
  expiresAt: number;
  signature: string;
}

export interface EnrolmentRequest {
  v: 1;
  kind: 'enrolment';
  orgId: string;
  deviceId: string;
  label: string;
  signPublicKey: string;
  dhPublicKey: string;
  createdAt: number;
  signature: string;
}

export interface DeviceCertificate {
  v: 1;
  kind: 'device';
  networkId: string;
  orgId: string;
  deviceId: string;
  label: string;
  role: 'caseworker' | 'admin';
  signPublicKey: string;
  dhPublicKey: string;
  issuedAt: number;
  expiresAt: number;
  signature: string;
}

export interface Revocation {
  v: 1;
  kind: 'revocation';
  networkId: string;
  issuer: string;
  seq: number;
  subject: { type: 'org'; orgId: string } | { type: 'device'; orgId: string; deviceId: string };
  reason: string;
  revokedAt: number;
  signature: string;
}

export interface SignedPrekey {
  v: 1;
  kind: 'signed-prekey';
  deviceId: string;
  id: number;
  publicKey: string;
  createdAt: number;
  signature: string;
}

export interface PqPrekey {
  v: 1;
  kind: 'pq-prekey';
  deviceId: string;
  id: number;
  publicKey: string;
  createdAt: number;
  signature: string;
}

export interface OneTimePrekey {
  v: 1;
  kind: 'one-time-prekey';
  deviceId: string;
  id: number;
  publicKey: string;
  signature: string;
}

export interface DeviceBundle {
  certificate: DeviceCertificate;
  signedPrekey: SignedPrekey;
  pqPrekey: PqPrekey;
  oneTimePrekey?: OneTimePrekey;
}

export interface RecipientEntry {
  deviceId: string;
  signedPrekeyId: number;
  pqPrekeyId: number;
  oneTimePrekeyId?: number;
  pqCiphertext: string;
  wrappedKey: string;
}

export interface EnvelopeHeader {
  /** 1: signed as JSON (§4.5); 2: signed as the binary header (§4.12). */
  v: 1 | 2;
  messageId: string;
  senderDeviceId: string;
  threadId: string;
  sentAt: number;
  ephemeralKey: string;
  bodyNonce: string;
  ciphertextLength: number;
  ciphertextHash: string;
  recipients: RecipientEntry[];
}

/** A version 1 envelope on the socket (§4.1, §5.9): the ciphertext is raw bytes. Version 2 also keeps the header's exact bytes. */
export interface WireEnvelope {
  header: EnvelopeHeader;
  signature: string;
  ciphertext: Uint8Array;
  /** Version 2 (§4.12): the header bytes as they travel — what the signature covers. */
  headerBytes?: Uint8Array;
}

export interface MessageBody {
  v: 1;
  threadId: string;
  orgIds: string[];
  payload: unknown;
}

export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface NetworkInfo {
  networkId: string;
  rootPublicKey: string;
  development: boolean;
  limits: {
    maxEnvelopeBytes: number;
    maxRecipients: number;
    retentionMs: number;
    maxOneTimePrekeys: number;
    oneTimePrekeyLowWater: number;
    sessionTtlMs: number;
  };
}
