/**
 * Who forwards history to whom, and what the receiving side shows while it
 * arrives (PROTOCOL.md §4.10).
 *
 * Same org: when this device sees a device of its own org certified after
 * itself that it has not shared with yet, it forwards every thread it holds
 * (a purged thread is no longer held, so it is never re-shared). Every
 * existing device does so once; the new device keeps each message once, so
 * two devices racing only cost bandwidth.
 *
 * Another org (a participant added later): the case layer decides which
 * messages the consent lets that org see and calls `shareThread` with them.
 */
import type { Crypto, DeviceCertificate, OrgCertificate } from '../../shared';
import { historyItem, newTransferId } from './history';
import type { MessageStore } from './message-store';
import type { StoredMessage } from './messages';
import type { SendInput } from './envelopes';
import type { TrustStore } from './trust';
import { SerialQueue } from './serial-queue';
import type { Vault } from './vault';

const SHARED_WITH_RECORD = 'history/shared-with';
const PROGRESS_RECORD = 'history/progress';

/** A history transfer as the receiving device saw it. */
export interface HistoryProgress {
  transferId: string;
  fromDeviceId: string;
  received: number;
  total: number;
  updatedAt: number;
}

export interface HistoryShareContext {
  crypto: Crypto;
  trust: TrustStore;
  messages: MessageStore;
  vault: Vault;
  now(): number;
  me(): { deviceId: string; orgId: string; certificate?: DeviceCertificate; orgCertificate?: OrgCertificate };
  sendAll(inputs: readonly SendInput[]): Promise<StoredMessage[]>;
}

export class HistoryShare {
  /** Progress updates run one after another (each rewrites one record). */
  private readonly progressQueue = new SerialQueue();

  constructor(private readonly ctx: HistoryShareContext) {}

  /**
   * Forward messages of one thread (all, or those named) to the devices of
   * `toOrgIds` (and, as every envelope, this org's other devices). Messages
   * kept from before history sharing existed have no original and are
   * skipped. Returns how many were forwarded.
   */
  async shareThread(threadId: string, toOrgIds: readonly string[], messageIds?: readonly string[]): Promise<number> {
    const wanted = messageIds ? new Set(messageIds) : undefined;
    const originals = (await this.ctx.messages.threadMessagesWithOriginals(threadId)).filter((m) => m.original && (!wanted || wanted.has(m.messageId)));
    if (originals.length === 0) return 0;
    const transferId = newTransferId(this.ctx.crypto);
    const orgIds = [...new Set(toOrgIds)];
    await this.ctx.sendAll(
      originals.map((m, i) => ({
        threadId,
        orgIds,
        // The carrier's body names the orgs it goes to; the forwarded original keeps its own.
        payload: historyItem(m.original!, transferId, i + 1, originals.length),
        carries: 'history' as const,
      })),
    );
    return originals.length;
  }

  /** Forward everything this device holds to colleagues certified after it that it has not shared with yet. */
  async shareWithNewColleagues(): Promise<{ devices: string[]; messages: number }> {
    const me = this.ctx.me();
    const since = me.certificate?.issuedAt;
    if (since === undefined) return { devices: [], messages: 0 };
    const stored = await this.ctx.vault.get(SHARED_WITH_RECORD);
    const sharedWith = new Set(Array.isArray(stored) ? (stored as string[]) : []);
    const newcomers = this.ctx.trust
      .listDevices(me.orgId)
      .map((d) => d.certificate)
      .filter((c) => c.deviceId !== me.deviceId && c.issuedAt > since && !sharedWith.has(c.deviceId));
    if (newcomers.length === 0) return { devices: [], messages: 0 };
    let messages = 0;
    // One pass over the threads reaches every device of the org at once (the relay requires all of them on every envelope).
    for (const threadId of await this.ctx.messages.threadIds()) messages += await this.shareThread(threadId, [me.orgId]);
    for (const c of newcomers) sharedWith.add(c.deviceId);
    await this.ctx.vault.put(SHARED_WITH_RECORD, [...sharedWith]);
    return { devices: newcomers.map((c) => c.deviceId), messages };
  }

  /** Note one forwarded message taken; returns the transfer's progress. */
  recordProgress(p: { transferId: string; fromDeviceId: string; index: number; total: number }): Promise<HistoryProgress> {
    return this.progressQueue.run(() => this.applyProgress(p));
  }

  private async applyProgress(p: { transferId: string; fromDeviceId: string; index: number; total: number }): Promise<HistoryProgress> {
    const all = await this.progress();
    const current = all.find((t) => t.transferId === p.transferId);
    const entry: HistoryProgress = current
      ? { ...current, received: Math.min(current.total, current.received + 1), updatedAt: this.ctx.now() }
      : { transferId: p.transferId, fromDeviceId: p.fromDeviceId, received: 1, total: p.total, updatedAt: this.ctx.now() };
    const next = [...all.filter((t) => t.transferId !== p.transferId), entry].slice(-50);
    await this.ctx.vault.put(PROGRESS_RECORD, next);
    return entry;
  }

  /** The recent history transfers this device received, newest last. */
  async progress(): Promise<HistoryProgress[]> {
    const stored = await this.ctx.vault.get(PROGRESS_RECORD);
    return Array.isArray(stored) ? (stored as HistoryProgress[]) : [];
  }
}
