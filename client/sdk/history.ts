/**
 * History sharing (PROTOCOL.md §4.10): a device forwards the original
 * envelopes of a thread, each with its content key K and its author's
 * certificates, inside ordinary envelopes of its own, to a colleague's new
 * device or to the devices of an org that joins the thread later. The
 * receiver trusts the original authors, never the forwarder: it checks each
 * original signature, ciphertext hash and author certificate chain (valid
 * at the time the author sent it, not revoked before) and decrypts with K.
 * A forwarder can withhold messages but cannot alter, invent or re-date one.
 */
import { z } from 'zod';
import {
  DOMAIN,
  DeviceCertificate,
  EnvelopeHeader,
  HandoverError,
  MAX_CLOCK_SKEW_MS,
  MessageId,
  OrgCertificate,
  type SealedEnvelope,
  Signature,
  b64uBytes,
  fromB64u,
  fromUtf8,
  openWithContentKey,
  orgOfDeviceId,
  rootSignedOrgCertificate,
  toB64u,
  verifyObject,
  type Crypto,
} from '../../shared';
import { MessageBody, type OriginalEnvelope, type StoredMessage } from './messages';
import type { TrustStore } from './trust';

/** The largest ciphertext a forwarded envelope may carry (as base64url text). */
const MAX_CIPHERTEXT_TEXT = 24 * 1024 * 1024;
export const MAX_HISTORY_ITEMS = 100_000;

/** What one history message carries: one original envelope and how to check it. */
export const HistoryItem = z.strictObject({
  kind: z.literal('handover.history'),
  v: z.literal(1),
  /** One sharing run (the receiver shows "receiving history: 12 of 40"). */
  transferId: MessageId,
  index: z.number().int().min(1).max(MAX_HISTORY_ITEMS),
  total: z.number().int().min(1).max(MAX_HISTORY_ITEMS),
  original: z.strictObject({
    header: EnvelopeHeader,
    signature: Signature,
    ciphertext: z.string().max(MAX_CIPHERTEXT_TEXT).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url'),
    contentKey: b64uBytes(32),
    senderCertificate: DeviceCertificate,
    senderOrgCertificate: OrgCertificate,
  }),
});
export type HistoryItem = z.infer<typeof HistoryItem>;

export function isHistoryPayload(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && (payload as { kind?: unknown }).kind === 'handover.history';
}

/** The history item that forwards one stored message (which must have kept its original). */
export function historyItem(original: OriginalEnvelope, transferId: string, index: number, total: number): HistoryItem {
  return { kind: 'handover.history', v: 1, transferId, index, total, original };
}

/**
 * Check a forwarded envelope end to end and turn it into the message its
 * author sent. Throws a typed error naming what does not hold.
 */
export function openHistoryItem(
  crypto: Crypto,
  trust: TrustStore,
  payload: unknown,
  carrier: { threadId: string; now: number },
): { message: StoredMessage; transfer: { transferId: string; index: number; total: number } } {
  const parsed = HistoryItem.safeParse(payload);
  if (!parsed.success) throw new HandoverError('BAD_REQUEST', 'a history message that does not match its schema');
  const item = parsed.data;
  const { header } = item.original;
  if (header.threadId !== carrier.threadId) throw new HandoverError('BAD_REQUEST', 'a history message for another thread than its envelope');

  // The author, as the author's own org certified it, with a key this device knows that org held.
  const orgId = orgOfDeviceId(header.senderDeviceId);
  const org = rootSignedOrgCertificate(trust.anchor, item.original.senderOrgCertificate);
  if (!org || org.orgId !== orgId) throw new HandoverError('UNTRUSTED_KEY', `the forwarded author's org certificate is not ${orgId}'s, signed by the network root`);
  if (!trust.knowsOrgKey(orgId, org.publicKey)) {
    throw new HandoverError('UNTRUSTED_KEY', `the forwarded author's org key is not one this device knows ${orgId} held; refresh the directory or confirm the org's key`);
  }
  const device = item.original.senderCertificate;
  if (device.deviceId !== header.senderDeviceId || device.orgId !== orgId || device.networkId !== trust.anchor.networkId) {
    throw new HandoverError('UNTRUSTED_KEY', 'the forwarded author certificate is not the sender of the envelope');
  }
  if (!verifyObject(crypto, DOMAIN.deviceCertificate, device, fromB64u(org.publicKey))) {
    throw new HandoverError('BAD_SIGNATURE', `the forwarded author certificate is not signed by ${orgId}`);
  }
  // Valid when the author sent it (a certificate that has expired since does not make old messages false).
  if (header.sentAt + MAX_CLOCK_SKEW_MS < device.issuedAt || header.sentAt >= device.expiresAt || header.sentAt >= org.expiresAt) {
    throw new HandoverError('EXPIRED', 'the forwarded author certificate was not valid when the message was sent');
  }
  if (header.sentAt > carrier.now + MAX_CLOCK_SKEW_MS) throw new HandoverError('STALE_MESSAGE', 'a forwarded message dated in the future');
  const revokedAt = trust.revokedAt(device.deviceId, orgId);
  if (revokedAt !== undefined && revokedAt <= header.sentAt) throw new HandoverError('REVOKED', `the forwarded author ${device.deviceId} was revoked before it sent this`);

  let ciphertext: Uint8Array;
  try {
    ciphertext = fromB64u(item.original.ciphertext);
  } catch {
    throw new HandoverError('BAD_REQUEST', 'the forwarded ciphertext is not base64url');
  }
  const envelope: SealedEnvelope = { header, signature: item.original.signature, ciphertext };
  const opened = openWithContentKey(crypto, { envelope, contentKey: fromB64u(item.original.contentKey), senderSignPublicKey: fromB64u(device.signPublicKey) });
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(opened.body));
  } catch {
    throw new HandoverError('DECRYPT_FAILED', 'the forwarded message body is not JSON');
  }
  const body = MessageBody.safeParse(json);
  if (!body.success || body.data.threadId !== header.threadId) throw new HandoverError('DECRYPT_FAILED', 'the forwarded message body is not a valid Handover message');
  if (isHistoryPayload(body.data.payload)) throw new HandoverError('BAD_REQUEST', 'a history message may not forward another history message');
  return {
    message: {
      messageId: header.messageId,
      threadId: header.threadId,
      orgIds: body.data.orgIds,
      senderDeviceId: header.senderDeviceId,
      senderOrgId: orgId,
      recipientDeviceIds: header.recipients.map((r) => r.deviceId),
      sentAt: header.sentAt,
      receivedAt: carrier.now,
      direction: 'in',
      payload: body.data.payload,
      original: item.original,
    },
    transfer: { transferId: item.transferId, index: item.index, total: item.total },
  };
}

/** A fresh transfer id. */
export function newTransferId(crypto: Crypto): string {
  return toB64u(crypto.random(16));
}
