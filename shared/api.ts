/**
 * The relay's HTTP API contract (all under /v1), shared by the server and
 * the client SDK: paths, request bodies and response bodies as zod schemas.
 * Authenticated routes take `Authorization: Bearer <session token>`.
 */
import { z } from 'zod';
import { DOMAIN, signingInput } from './canonical';
import {
  DeviceBundle,
  DeviceCertificate,
  DeviceId,
  Ed25519PublicKey,
  Hash32,
  LIMITS,
  OneTimePrekey,
  OrgCertificate,
  PqPrekey,
  Revocation,
  Signature,
  SignedPrekey,
  Timestamp,
  b64uBytes,
} from './schemas';

export const NetworkInfo = z.strictObject({
  networkId: Hash32,
  rootPublicKey: Ed25519PublicKey,
  development: z.boolean(),
  limits: z.strictObject({
    maxEnvelopeBytes: z.number().int(),
    maxRecipients: z.number().int(),
    retentionMs: z.number().int(),
    maxOneTimePrekeys: z.number().int(),
    oneTimePrekeyLowWater: z.number().int(),
    sessionTtlMs: z.number().int(),
  }),
});
export type NetworkInfo = z.infer<typeof NetworkInfo>;

/** POST /v1/orgs — register an org certificate signed by the network root. */
export const RegisterOrgRequest = z.strictObject({ certificate: OrgCertificate });
/** GET /v1/orgs — the directory (authenticated). */
export const OrgDirectory = z.strictObject({
  orgs: z.array(z.strictObject({ certificate: OrgCertificate, devices: z.array(DeviceCertificate) })),
});
export type OrgDirectory = z.infer<typeof OrgDirectory>;

/** POST /v1/devices — register a device certificate with its first prekeys. */
export const RegisterDeviceRequest = z.strictObject({
  certificate: DeviceCertificate,
  signedPrekey: SignedPrekey,
  pqPrekey: PqPrekey,
  oneTimePrekeys: z.array(OneTimePrekey).max(LIMITS.maxOneTimePrekeysPerUpload),
});
export type RegisterDeviceRequest = z.infer<typeof RegisterDeviceRequest>;

/** POST /v1/auth/challenge */
export const ChallengeRequest = z.strictObject({ deviceId: DeviceId });
export const ChallengeResponse = z.strictObject({
  challengeId: b64uBytes(16),
  challenge: b64uBytes(32),
  expiresAt: Timestamp,
});
export type ChallengeResponse = z.infer<typeof ChallengeResponse>;

/** POST /v1/auth/session — the device signs `authSigningInput(...)` with its device key. */
export const SessionRequest = z.strictObject({
  deviceId: DeviceId,
  challengeId: b64uBytes(16),
  signature: Signature,
});
export const SessionResponse = z.strictObject({ token: z.string().min(32).max(128), expiresAt: Timestamp });
export type SessionResponse = z.infer<typeof SessionResponse>;

/**
 * What a device signs to sign in. Bound to the network and the challenge,
 * so a signature made for one relay network or challenge is useless elsewhere.
 */
export function authSigningInput(fields: { networkId: string; deviceId: string; challengeId: string; challenge: string }): Uint8Array {
  return signingInput(DOMAIN.authChallenge, fields);
}

/**
 * POST /v1/auth/socket-ticket (authenticated): a single-use ticket, valid for
 * seconds, that the socket's upgrade request carries as `?ticket=`. The relay
 * checks it before it accepts the WebSocket upgrade, so nobody without a
 * session can open a socket or send the relay a single frame.
 */
export const SocketTicketResponse = z.strictObject({ ticket: b64uBytes(32), expiresAt: Timestamp });
export type SocketTicketResponse = z.infer<typeof SocketTicketResponse>;

/** PUT /v1/devices/me/signed-prekeys (authenticated) — weekly rotation. */
export const UploadSignedPrekeysRequest = z.strictObject({ signedPrekey: SignedPrekey, pqPrekey: PqPrekey });
/** POST /v1/devices/me/one-time-prekeys (authenticated) — refill. */
export const UploadOneTimePrekeysRequest = z.strictObject({
  prekeys: z.array(OneTimePrekey).min(1).max(LIMITS.maxOneTimePrekeysPerUpload),
});
/** GET /v1/devices/me/prekeys — how many one-time prekeys the relay still holds. */
export const PrekeyStatus = z.strictObject({ oneTimePrekeys: z.number().int(), signedPrekeyId: z.number().int().nullable() });

/** GET /v1/orgs/:orgId/bundles (authenticated, rate limited per requester and org). */
export const BundlesResponse = z.strictObject({ org: OrgCertificate, bundles: z.array(DeviceBundle) });
export type BundlesResponse = z.infer<typeof BundlesResponse>;

/**
 * GET /v1/revocations (authenticated); POST /v1/revocations to publish one.
 * `issuers` holds every org certificate the relay ever registered for an org
 * that issued a device revocation — also revoked, expired and superseded
 * ones — so a client can always check an old revocation's signature.
 */
export const RevocationList = z.strictObject({
  revocations: z.array(Revocation).max(LIMITS.maxRevocationsPerList),
  issuers: z.array(OrgCertificate).max(LIMITS.maxRevocationsPerList),
});
export type RevocationList = z.infer<typeof RevocationList>;
export const PublishRevocationRequest = z.strictObject({ revocation: Revocation });

export const ROUTES = {
  network: '/v1/network',
  orgs: '/v1/orgs',
  org: (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`,
  bundles: (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/bundles`,
  devices: '/v1/devices',
  challenge: '/v1/auth/challenge',
  session: '/v1/auth/session',
  socketTicket: '/v1/auth/socket-ticket',
  signedPrekeys: '/v1/devices/me/signed-prekeys',
  oneTimePrekeys: '/v1/devices/me/one-time-prekeys',
  prekeyStatus: '/v1/devices/me/prekeys',
  revocations: '/v1/revocations',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
} as const;
