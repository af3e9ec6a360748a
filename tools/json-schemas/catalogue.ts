/**
 * Which wire objects get a published JSON Schema (docs/schemas/), and from
 * which zod schema. The zod schemas in shared/ and client/sdk are the
 * authority: the JSON files are generated from them (`npm run schemas`) and
 * a test fails when a committed file drifts, so an implementer reading only
 * docs/ never works from a stale shape.
 *
 * A few wire shapes have no exported zod schema because the relay builds
 * them inline (small HTTP answers) or because shared/socket-events.ts types
 * them as TypeScript interfaces only. They are written here as zod schemas,
 * and compile-time checks below tie each one to the type the code really
 * uses, so a change there breaks the type check instead of the document.
 */
import { z } from 'zod';
import * as api from '../../shared/api';
import { RELAY_ERROR_CODES } from '../../shared/errors';
import * as wire from '../../shared/schemas';
import type { ClientToServerEvents, Delivery, ServerToClientEvents, WireEnvelope, WireError } from '../../shared/socket-events';
import { EventEnvelope } from '../../client/referral/domain/schemas';
import { Supplement } from '../../client/referral/cases/payload';
import { MessageBody } from '../../client/sdk/messages';
import type { Registry } from '../../server/services/registry';
import { NOTICE_ID } from '../../server/store/validate';

export interface CatalogueEntry {
  /** File name under docs/schemas/. */
  file: string;
  title: string;
  description: string;
  /** Where the zod schema lives, for the generated `$comment`. */
  source: string;
  schema: z.ZodType;
}

/** Binary on the socket (a Socket.IO binary attachment), not base64: JSON Schema can only describe it. */
export const Binary = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'must be binary');
export const BINARY_DESCRIPTION =
  'binary: raw bytes carried as a Socket.IO binary attachment (never base64 text); in a version 1 envelope the body ciphertext, padded length + 16 bytes (PROTOCOL.md §4.4); as `frame` the whole version 2 envelope (PROTOCOL.md §4.12)';

/* ------------------------------------------------------------ socket -- */

export const WireErrorSchema = wire.ErrorBody.shape.error;
export const WireEnvelopeSchema = z.strictObject({ header: wire.EnvelopeHeader, signature: wire.Signature, ciphertext: Binary });
export const DeliverySchema = z.union([
  z.strictObject({ envelope: WireEnvelopeSchema, storedAt: wire.Timestamp }),
  z.strictObject({ frame: Binary, storedAt: wire.Timestamp }),
]);
export const EnvelopeAckRequest = z.strictObject({ messageId: wire.MessageId });
export const NoticeAckRequest = z.strictObject({ noticeId: z.string().regex(NOTICE_ID) });
export const DeliveredNotice = z.strictObject({
  messageId: wire.MessageId,
  recipientDeviceId: wire.DeviceId,
  at: wire.Timestamp,
  noticeId: z.string().regex(NOTICE_ID).optional(),
});
export const ExpiredNotice = z.strictObject({
  messageId: wire.MessageId,
  recipientDeviceIds: z.array(wire.DeviceId).max(10_000),
  at: wire.Timestamp,
  noticeId: z.string().regex(NOTICE_ID).optional(),
});
export const PrekeysLowNotice = z.strictObject({ remaining: z.number().int().min(0) });
export const RevocationsChangedNotice = z.strictObject({ issuer: z.union([z.literal('root'), wire.Id]), seq: z.number().int().min(1) });

/** An acknowledgement callback's argument: `{ok: true, ...result}` or `{ok: false, error}`. */
function ackOf<T extends z.ZodRawShape>(result: T) {
  return z.union([z.strictObject({ ok: z.literal(true), ...result }), z.strictObject({ ok: z.literal(false), error: WireErrorSchema })]);
}
export const SendAck = ackOf({ messageId: wire.MessageId, storedAt: wire.Timestamp });
export const EmptyAck = ackOf({});
export const SyncAck = ackOf({ pending: z.number().int().min(0) });

/* --------------------------------------------- HTTP answers built inline -- */

export const OkResponse = z.strictObject({ ok: z.literal(true) });
export const RegisterOrgResponse = z.strictObject({ orgId: wire.Id, replaced: z.boolean() });
export const RegisterDeviceResponse = z.strictObject({ deviceId: wire.DeviceId, oneTimePrekeys: z.number().int().min(0) });
export const UploadOneTimePrekeysResponse = z.strictObject({ count: z.number().int().min(0) });
export const PublishRevocationResponse = z.strictObject({ issuer: z.union([z.literal('root'), wire.Id]), seq: z.number().int().min(1) });
export const OrgEntry = api.OrgDirectory.shape.orgs.element;

/* -------------------------------- compile-time ties to the code's types -- */

/** Same values both ways and the same keys (so an optional field on one side only is caught too). */
type Assignable<A, B> = [A] extends [B] ? true : false;
type Equal<A, B> = [Assignable<A, B>, Assignable<B, A>, Assignable<keyof A, keyof B>, Assignable<keyof B, keyof A>] extends [true, true, true, true] ? true : false;
type ArgOf<F> = F extends (arg: infer A, ...rest: never[]) => unknown ? A : never;
type AckArgOf<F> = F extends (...args: infer P) => unknown ? (P extends [...unknown[], infer Last] ? ArgOf<Last> : never) : never;
type Answer<M extends keyof Registry> = Registry[M] extends (...args: never[]) => Promise<infer R> ? R : never;

/** Each line fails to compile when a hand-written schema above stops matching the code. */
export const TYPE_CHECKS: Record<string, true> = {
  wireError: true satisfies Equal<z.infer<typeof WireErrorSchema>, Omit<WireError, 'code'> & { code: (typeof RELAY_ERROR_CODES)[number] }>,
  wireEnvelope: true satisfies Equal<z.infer<typeof WireEnvelopeSchema>, WireEnvelope>,
  delivery: true satisfies Equal<z.infer<typeof DeliverySchema>, Delivery>,
  envelopeAck: true satisfies Equal<z.infer<typeof EnvelopeAckRequest>, ArgOf<ClientToServerEvents['envelope:ack']>>,
  noticeAck: true satisfies Equal<z.infer<typeof NoticeAckRequest>, ArgOf<ClientToServerEvents['notice:ack']>>,
  sendAck: true satisfies Equal<z.infer<typeof SendAck>, Exclude<AckArgOf<ClientToServerEvents['envelope:send']>, { ok: false }> | { ok: false; error: z.infer<typeof WireErrorSchema> }>,
  syncAck: true satisfies Equal<Extract<z.infer<typeof SyncAck>, { ok: true }>, Extract<AckArgOf<ClientToServerEvents['inbox:sync']>, { ok: true }>>,
  delivered: true satisfies Equal<z.infer<typeof DeliveredNotice>, ArgOf<ServerToClientEvents['envelope:delivered']>>,
  expired: true satisfies Equal<z.infer<typeof ExpiredNotice>, ArgOf<ServerToClientEvents['envelope:expired']>>,
  prekeysLow: true satisfies Equal<z.infer<typeof PrekeysLowNotice>, ArgOf<ServerToClientEvents['prekeys:low']>>,
  revocationsChanged: true satisfies Equal<z.infer<typeof RevocationsChangedNotice>, ArgOf<ServerToClientEvents['revocations:changed']>>,
  registerOrg: true satisfies Equal<z.infer<typeof RegisterOrgResponse>, Answer<'registerOrg'>>,
  registerDevice: true satisfies Equal<z.infer<typeof RegisterDeviceResponse>, Answer<'registerDevice'>>,
  uploadOneTimePrekeys: true satisfies Equal<z.infer<typeof UploadOneTimePrekeysResponse>, Answer<'uploadOneTimePrekeys'>>,
  publishRevocation: true satisfies Equal<z.infer<typeof PublishRevocationResponse>, Answer<'publishRevocation'>>,
  orgEntry: true satisfies Equal<z.infer<typeof OrgEntry>, Answer<'orgEntry'>>,
};

/* ------------------------------------------------------------ catalogue -- */

const signed = (label: string, signer: string) =>
  `Signed by ${signer}: signature = Ed25519 over UTF-8("${label}") || 0x00 || RFC 8785 JSON of the object without "signature".`;

export const CATALOGUE: readonly CatalogueEntry[] = [
  // Signed objects and what they are built from.
  { file: 'org-certificate.schema.json', title: 'Org certificate', description: signed('handover/v1/org-certificate', 'the network root'), source: 'shared/schemas.ts OrgCertificate', schema: wire.OrgCertificate },
  { file: 'device-certificate.schema.json', title: 'Device certificate', description: `${signed('handover/v1/device-certificate', 'the org key')} deviceId must be <orgId>:<name> with this orgId.`, source: 'shared/schemas.ts DeviceCertificate', schema: wire.DeviceCertificate },
  { file: 'enrolment-request.schema.json', title: 'Enrolment request', description: `${signed('handover/v1/enrolment-request', 'the device signing key it names (proof of possession)')} deviceId must be <orgId>:<name> with this orgId.`, source: 'shared/schemas.ts EnrolmentRequest', schema: wire.EnrolmentRequest },
  { file: 'revocation.schema.json', title: 'Revocation', description: `${signed('handover/v1/revocation', 'its issuer (the root for issuer "root", else that org\'s key)')} The root revokes orgs only; an org only devices <issuer>:<name>. seq runs 1, 2, 3 ... per issuer.`, source: 'shared/schemas.ts Revocation', schema: wire.Revocation },
  { file: 'signed-prekey.schema.json', title: 'Signed prekey (X25519)', description: signed('handover/v1/signed-prekey', 'the device signing key'), source: 'shared/schemas.ts SignedPrekey', schema: wire.SignedPrekey },
  { file: 'pq-prekey.schema.json', title: 'Post-quantum prekey (X-Wing)', description: signed('handover/v1/pq-prekey', 'the device signing key'), source: 'shared/schemas.ts PqPrekey', schema: wire.PqPrekey },
  { file: 'one-time-prekey.schema.json', title: 'One-time prekey (X25519)', description: signed('handover/v1/one-time-prekey', 'the device signing key'), source: 'shared/schemas.ts OneTimePrekey', schema: wire.OneTimePrekey },
  { file: 'device-bundle.schema.json', title: 'Device bundle', description: 'Everything a sender needs to encrypt to one device; every part is verified by the sender, none is trusted from the relay.', source: 'shared/schemas.ts DeviceBundle', schema: wire.DeviceBundle },
  { file: 'recipient-entry.schema.json', title: 'Envelope recipient entry', description: 'One recipient device of an envelope: the prekeys used, the X-Wing ciphertext and the wrapped content key (32 + 16 bytes).', source: 'shared/schemas.ts RecipientEntry', schema: wire.RecipientEntry },
  { file: 'envelope-header.schema.json', title: 'Envelope header', description: 'The public header the sender signs under "handover/v1/envelope" (RFC 8785 JSON); ciphertextLength is the ciphertext length = padded length + 16.', source: 'shared/schemas.ts EnvelopeHeader', schema: wire.EnvelopeHeader },
  { file: 'envelope.schema.json', title: 'Envelope on the socket', description: 'A version 1 envelope (envelope:send and envelope:deliver): the header, the base64url signature over it, and the ciphertext as binary. A version 2 envelope is one binary frame instead (PROTOCOL.md §4.12).', source: 'tools/json-schemas/catalogue.ts WireEnvelopeSchema (shared/socket-events.ts WireEnvelope)', schema: WireEnvelopeSchema },
  { file: 'message-body.schema.json', title: 'Message body (inside the envelope)', description: 'The plaintext of every envelope, as UTF-8 JSON before padding. threadId must equal the signed header\'s threadId. payload is application data (the referral layer: referral-event or referral-supplement).', source: 'client/sdk/messages.ts MessageBody', schema: MessageBody },
  { file: 'referral-event.schema.json', title: 'Referral thread event (message payload)', description: 'A case-thread event as the referral layer puts it in MessageBody.payload. Uniqueness of list items and cross-field rules are checked by the zod schema and are not expressed here.', source: 'client/referral/domain/schemas.ts EventEnvelope', schema: EventEnvelope },
  { file: 'referral-supplement.schema.json', title: 'Referral supplement (message payload)', description: 'Data groups the consent lets only some recipient orgs see, sent to those orgs only, completing the event with hash eventHash.', source: 'client/referral/cases/payload.ts Supplement', schema: Supplement },
  { file: 'error-body.schema.json', title: 'Relay error body', description: 'Every HTTP refusal, and the body of a refused socket upgrade (always status 400, PROTOCOL.md §5.8); on the socket the same inner object is an acknowledgement\'s "error".', source: 'shared/schemas.ts ErrorBody', schema: wire.ErrorBody },

  // HTTP bodies (shared/api.ts), by route.
  { file: 'http-network-info.schema.json', title: 'GET /v1/network answer', description: 'Public, unauthenticated. A client compares rootPublicKey with the root it pins.', source: 'shared/api.ts NetworkInfo', schema: api.NetworkInfo },
  { file: 'http-register-org-request.schema.json', title: 'POST /v1/orgs body', description: 'Register an org certificate signed by the network root. Unauthenticated.', source: 'shared/api.ts RegisterOrgRequest', schema: api.RegisterOrgRequest },
  { file: 'http-register-org-response.schema.json', title: 'POST /v1/orgs answer (201)', description: 'replaced: an older certificate of this org was replaced.', source: 'tools/json-schemas/catalogue.ts RegisterOrgResponse (server/services/registry.ts registerOrg)', schema: RegisterOrgResponse },
  { file: 'http-org-directory.schema.json', title: 'GET /v1/orgs answer', description: 'The directory: every registered, unexpired, unrevoked org with its active devices. Authenticated.', source: 'shared/api.ts OrgDirectory', schema: api.OrgDirectory },
  { file: 'http-org-entry.schema.json', title: 'GET /v1/orgs/{orgId} answer', description: 'One active org and its active devices. Authenticated.', source: 'shared/api.ts OrgDirectory.orgs[]', schema: OrgEntry },
  { file: 'http-register-device-request.schema.json', title: 'POST /v1/devices body', description: 'Register a certified device with its first prekeys. Unauthenticated (the certificate chain is the authority).', source: 'shared/api.ts RegisterDeviceRequest', schema: api.RegisterDeviceRequest },
  { file: 'http-register-device-response.schema.json', title: 'POST /v1/devices answer (201)', description: 'oneTimePrekeys: how many the relay now holds for the device.', source: 'tools/json-schemas/catalogue.ts RegisterDeviceResponse (server/services/registry.ts registerDevice)', schema: RegisterDeviceResponse },
  { file: 'http-challenge-request.schema.json', title: 'POST /v1/auth/challenge body', description: 'Ask for a sign-in challenge for a device.', source: 'shared/api.ts ChallengeRequest', schema: api.ChallengeRequest },
  { file: 'http-challenge-response.schema.json', title: 'POST /v1/auth/challenge answer', description: 'A single-use challenge; sign UTF-8("handover/v1/auth-challenge") || 0x00 || JCS({networkId, deviceId, challengeId, challenge}).', source: 'shared/api.ts ChallengeResponse', schema: api.ChallengeResponse },
  { file: 'http-session-request.schema.json', title: 'POST /v1/auth/session body', description: 'The signed challenge.', source: 'shared/api.ts SessionRequest', schema: api.SessionRequest },
  { file: 'http-session-response.schema.json', title: 'POST /v1/auth/session answer', description: 'A bearer session token for Authorization: Bearer <token>.', source: 'shared/api.ts SessionResponse', schema: api.SessionResponse },
  { file: 'http-socket-ticket-response.schema.json', title: 'POST /v1/auth/socket-ticket answer', description: 'A single-use ticket (32 random bytes) for one socket upgrade: /socket.io/?EIO=4&transport=websocket&ticket=<ticket>. Good until expiresAt (30 s, never past the session). Authenticated; no request body.', source: 'shared/api.ts SocketTicketResponse', schema: api.SocketTicketResponse },
  { file: 'http-upload-signed-prekeys-request.schema.json', title: 'PUT /v1/devices/me/signed-prekeys body', description: 'The weekly rotation. Authenticated; prekey ids may only move forward.', source: 'shared/api.ts UploadSignedPrekeysRequest', schema: api.UploadSignedPrekeysRequest },
  { file: 'http-ok-response.schema.json', title: 'PUT /v1/devices/me/signed-prekeys answer', description: 'Stored.', source: 'server/http/app.ts (inline)', schema: OkResponse },
  { file: 'http-upload-one-time-prekeys-request.schema.json', title: 'POST /v1/devices/me/one-time-prekeys body', description: 'A refill. Authenticated.', source: 'shared/api.ts UploadOneTimePrekeysRequest', schema: api.UploadOneTimePrekeysRequest },
  { file: 'http-upload-one-time-prekeys-response.schema.json', title: 'POST /v1/devices/me/one-time-prekeys answer', description: 'count: how many the relay now holds for the device.', source: 'tools/json-schemas/catalogue.ts UploadOneTimePrekeysResponse (server/services/registry.ts uploadOneTimePrekeys)', schema: UploadOneTimePrekeysResponse },
  { file: 'http-prekey-status.schema.json', title: 'GET /v1/devices/me/prekeys answer', description: 'How many one-time prekeys the relay holds, and the current signed prekey id. Authenticated.', source: 'shared/api.ts PrekeyStatus', schema: api.PrekeyStatus },
  { file: 'http-bundles-response.schema.json', title: 'GET /v1/orgs/{orgId}/bundles answer', description: 'The org certificate and one bundle per active device (each with at most one one-time prekey, never handed out twice). Authenticated, rate limited per (requester, org).', source: 'shared/api.ts BundlesResponse', schema: api.BundlesResponse },
  { file: 'http-revocation-list.schema.json', title: 'GET /v1/revocations answer', description: 'Every revocation, ordered by issuer then seq, and in issuers every org certificate the relay ever accepted for each org that issued one (superseded, revoked and expired ones too), so old revocations stay checkable. Authenticated.', source: 'shared/api.ts RevocationList', schema: api.RevocationList },
  { file: 'http-publish-revocation-request.schema.json', title: 'POST /v1/revocations body', description: 'Publish a signed revocation. Unauthenticated (the signature is the authority).', source: 'shared/api.ts PublishRevocationRequest', schema: api.PublishRevocationRequest },
  { file: 'http-publish-revocation-response.schema.json', title: 'POST /v1/revocations answer (201)', description: 'The revocation now at the head of its issuer\'s list.', source: 'tools/json-schemas/catalogue.ts PublishRevocationResponse (server/services/registry.ts publishRevocation)', schema: PublishRevocationResponse },

  // Socket.IO events (shared/socket-events.ts).
  { file: 'socket-send-ack.schema.json', title: 'envelope:send acknowledgement', description: 'Sent only after the envelope is in every recipient inbox (ok: true), or the refusal.', source: 'tools/json-schemas/catalogue.ts SendAck', schema: SendAck },
  { file: 'socket-envelope-ack-request.schema.json', title: 'envelope:ack payload', description: 'This device stored the envelope: the relay may drop it from this device\'s inbox.', source: 'tools/json-schemas/catalogue.ts EnvelopeAckRequest', schema: EnvelopeAckRequest },
  { file: 'socket-empty-ack.schema.json', title: 'envelope:ack and notice:ack acknowledgement', description: 'ok: true, or the refusal.', source: 'tools/json-schemas/catalogue.ts EmptyAck', schema: EmptyAck },
  { file: 'socket-inbox-sync-ack.schema.json', title: 'inbox:sync acknowledgement', description: 'pending: how many envelopes this call emitted (they are emitted before the acknowledgement).', source: 'tools/json-schemas/catalogue.ts SyncAck', schema: SyncAck },
  { file: 'socket-notice-ack-request.schema.json', title: 'notice:ack payload', description: 'This device handled a kept notice (an expiry): the relay may forget it.', source: 'tools/json-schemas/catalogue.ts NoticeAckRequest', schema: NoticeAckRequest },
  { file: 'socket-delivery.schema.json', title: 'envelope:deliver payload', description: 'An envelope for this device (a version 2 frame, or a version 1 envelope stored before version 2) and when the relay accepted it; ack it with envelope:ack once stored.', source: 'tools/json-schemas/catalogue.ts DeliverySchema (shared/socket-events.ts Delivery)', schema: DeliverySchema },
  { file: 'socket-delivered.schema.json', title: 'envelope:delivered payload', description: 'To the sending device: a recipient device acked the envelope. The relay\'s word, not a signed receipt. Kept and sent on every connect until acked with notice:ack (noticeId).', source: 'tools/json-schemas/catalogue.ts DeliveredNotice', schema: DeliveredNotice },
  { file: 'socket-expired.schema.json', title: 'envelope:expired payload', description: 'To the sending device: the envelope expired undelivered in these inboxes. Kept and sent on every connect until acked with notice:ack (noticeId).', source: 'tools/json-schemas/catalogue.ts ExpiredNotice', schema: ExpiredNotice },
  { file: 'socket-prekeys-low.schema.json', title: 'prekeys:low payload', description: 'The relay holds fewer one-time prekeys for this device than its low-water mark: upload more.', source: 'tools/json-schemas/catalogue.ts PrekeysLowNotice', schema: PrekeysLowNotice },
  { file: 'socket-revocations-changed.schema.json', title: 'revocations:changed payload', description: 'A revocation was published: fetch GET /v1/revocations again.', source: 'tools/json-schemas/catalogue.ts RevocationsChangedNotice', schema: RevocationsChangedNotice },
];
