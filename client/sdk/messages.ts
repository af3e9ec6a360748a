/**
 * What travels inside an envelope's encrypted body for the SDK: the thread
 * it belongs to, the participant orgs, and an application payload (the
 * referral workflow puts its signed events here). The thread id is checked
 * against the signed header so a body cannot be spliced into another thread.
 */
import { z } from 'zod';
import { type DeviceCertificate, type EnvelopeHeader, Id, MessageId, type OrgCertificate } from '../../shared';

export const MAX_THREAD_ORGS = 50;

export const MessageBody = z.strictObject({
  v: z.literal(1),
  threadId: MessageId,
  orgIds: z.array(Id).min(1).max(MAX_THREAD_ORGS),
  payload: z.unknown(),
});
export type MessageBody = z.infer<typeof MessageBody>;

/** A message as the client keeps it locally (inside the vault). */
export interface StoredMessage {
  messageId: string;
  threadId: string;
  orgIds: string[];
  senderDeviceId: string;
  senderOrgId: string;
  /**
   * Every recipient device named in the signed header (device ids are
   * `<orgId>:<name>`, so each names its org). The case layer checks them
   * against the thread's participants: a device of any other org is a
   * security warning (a relay or sender that copied the message elsewhere).
   */
  recipientDeviceIds: string[];
  sentAt: number;
  receivedAt: number;
  direction: 'in' | 'out';
  payload: unknown;
  /**
   * The envelope as its author signed it, its content key, and the author's
   * certificates: what this device forwards when it shares the thread's
   * history with a colleague's new device or an org that joins later
   * (PROTOCOL.md §4.10). Kept inside the encrypted profile; absent for
   * messages stored before history sharing existed.
   */
  original?: OriginalEnvelope;
}

/** An envelope kept to forward it later, with what a receiver needs to check its author. */
export interface OriginalEnvelope {
  header: EnvelopeHeader;
  signature: string;
  /** The ciphertext, canonical unpadded base64url. */
  ciphertext: string;
  /** The content key K (32 bytes, base64url). */
  contentKey: string;
  /** The author's device and org certificates as this device verified them. */
  senderCertificate: DeviceCertificate;
  senderOrgCertificate: OrgCertificate;
}

/** An envelope that could not be opened: kept visible, never silently dropped. */
export interface FailedMessage {
  messageId: string;
  senderDeviceId: string;
  receivedAt: number;
  code: string;
  reason: string;
  /**
   * True while the envelope stays in the relay's inbox and is tried again
   * (a relay, network or storage problem, or a sender not verified yet);
   * false when it can never be opened and was acknowledged away.
   */
  pending: boolean;
}
