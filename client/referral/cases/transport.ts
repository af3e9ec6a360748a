/**
 * What the referral case layer needs from a device: its ids, sending to a
 * thread, the local message store and a small record store. HandoverClient
 * satisfies it as it is; the tests use an in-process loopback network.
 *
 * Everything the layer trusts about "who sent this" comes from
 * `StoredMessage.senderDeviceId` / `senderOrgId`, which the transport sets
 * from the verified certificate chain (or from its own identity for
 * messages it sent), never from the payload.
 */
import type { OrgTypeName } from '../domain/schemas';
import type { Crypto } from '../../../shared';
import type { StoredMessage } from '../../sdk/messages';

export interface CaseTransport {
  readonly deviceId: string;
  /** The crypto instance of the device (event hashes and thread ids); the SDK client has one. */
  readonly crypto?: Crypto;
  readonly orgId: string;
  /**
   * Verified org certificates: the root-certified org type of any org we
   * know. `refresh` (HandoverClient has it) fetches the directory again, for
   * an org this device has not seen yet.
   */
  readonly trust: {
    /** An org with a certificate valid now. */
    org(orgId: string): { orgType: OrgTypeName } | undefined;
    /** The type the root certified for an org, valid now or not (to replay old events); falls back to `org()`. */
    certifiedOrgType?(orgId: string): OrgTypeName | undefined;
    refresh?(): Promise<void>;
  };
  /** This device's own certificates, when the transport keeps them (HandoverClient does). */
  readonly certificates?: { org?: { orgType: OrgTypeName } };
  /** Send to every device of `orgIds` (and our own other devices); the transport stores the outgoing copy before it resolves. */
  send(input: { threadId: string; orgIds: string[]; payload: unknown }): Promise<StoredMessage>;
  /** Send the messages of one action in order, resolving the recipients once for all of them. */
  sendAll(inputs: ReadonlyArray<{ threadId: string; orgIds: string[]; payload: unknown }>): Promise<StoredMessage[]>;
  /** How many messages the transport holds per thread (cheap: for the case layer's catch-up). */
  threadCounts(): Promise<Record<string, number>>;
  /** Every message of the thread this device holds, oldest first. */
  threadMessages(threadId: string): Promise<StoredMessage[]>;
  threadIds(): Promise<string[]>;
  /** Delete every message of the thread; returns how many were deleted. */
  purgeThread(threadId: string): Promise<number>;
  /** Called for each received message after it was verified and stored. */
  on(event: 'message', listener: (message: StoredMessage) => void): () => void;
  getRecord(name: string): Promise<unknown>;
  putRecord(name: string, value: unknown): Promise<void>;
  deleteRecord(name: string): Promise<void>;
  /** Forward messages of a thread, as signed by their authors, to the devices of other orgs (history sharing; the SDK client has it). */
  shareHistory?(threadId: string, toOrgIds: readonly string[], messageIds?: readonly string[]): Promise<number>;
}
