/**
 * Where a device keeps the messages it has opened, inside the vault: one
 * record per thread, which is also what dedupes a redelivery (the thread id
 * is in the envelope's clear header, so the check needs no decryption), so
 * a purge deletes one record and leaves no trace per message; and one
 * record with the envelopes that could not be opened (kept visible, never
 * dropped silently). Receiving a message rewrites its thread's record only:
 * nothing grows with the number of messages the device ever saw.
 */
import type { FailedMessage, StoredMessage } from './messages';
import type { Vault } from './vault';

const THREAD_PREFIX = 'thread/';
/** Messages held per thread: lets a layer above notice it is behind without reading every thread. */
const COUNTS_RECORD = 'messages/counts';
const FAILED_RECORD = 'messages/failed';
/** The newest failures kept; older ones are dropped first. */
const MAX_FAILURES = 500;

interface ThreadRecord {
  v: 1;
  messages: StoredMessage[];
  /** Ids of the envelopes that forwarded some of these messages (history sharing): a redelivered one is known at once. */
  carriers?: string[];
}

const threadRecord = (threadId: string) => `${THREAD_PREFIX}${threadId}`;

function byTime(a: StoredMessage, b: StoredMessage): number {
  return a.sentAt - b.sentAt || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
}

export class MessageStore {
  private failures: FailedMessage[] | undefined;
  private counts: Record<string, number> | undefined;

  constructor(private readonly vault: Vault) {}

  /** How many messages each thread holds. */
  async threadCounts(): Promise<Record<string, number>> {
    if (!this.counts) {
      const stored = await this.vault.get(COUNTS_RECORD);
      if (stored && typeof stored === 'object') this.counts = { ...(stored as Record<string, number>) };
      else {
        // A profile from before the counts record: count once.
        this.counts = {};
        for (const threadId of await this.threadIds()) this.counts[threadId] = (await this.threadRecord(threadId)).messages.length;
      }
    }
    return this.counts;
  }

  private async setCount(threadId: string, count: number | undefined): Promise<void> {
    const counts = await this.threadCounts();
    if (count === undefined) delete counts[threadId];
    else counts[threadId] = count;
    await this.vault.put(COUNTS_RECORD, counts);
  }

  /** Whether this message of this thread was already stored (a redelivery after a lost ack). */
  async hasSeen(threadId: string, messageId: string): Promise<boolean> {
    const record = await this.threadRecord(threadId);
    return record.messages.some((m) => m.messageId === messageId) || (record.carriers?.includes(messageId) ?? false);
  }

  /** Keep many messages at once (a history import): one write per thread. */
  async addAll(messages: readonly StoredMessage[]): Promise<void> {
    const byThread = new Map<string, StoredMessage[]>();
    for (const m of messages) byThread.set(m.threadId, [...(byThread.get(m.threadId) ?? []), m]);
    for (const [threadId, list] of byThread) {
      const record = await this.threadRecord(threadId);
      const held = new Set(record.messages.map((m) => m.messageId));
      const fresh = list.filter((m) => !held.has(m.messageId) && (held.add(m.messageId), true));
      if (fresh.length === 0) continue;
      record.messages.push(...fresh);
      record.messages.sort(byTime);
      await this.vault.put(threadRecord(threadId), record);
      await this.setCount(threadId, record.messages.length);
    }
  }

  /** Keep a message in its thread (once); `carrierId` names the envelope that forwarded it, if it was forwarded. */
  async add(message: StoredMessage, opts: { carrierId?: string } = {}): Promise<void> {
    const record = await this.threadRecord(message.threadId);
    const isNew = !record.messages.some((m) => m.messageId === message.messageId);
    if (isNew) {
      record.messages.push(message);
      record.messages.sort(byTime);
    }
    const newCarrier = opts.carrierId !== undefined && !(record.carriers ?? []).includes(opts.carrierId);
    if (newCarrier && opts.carrierId) record.carriers = [...(record.carriers ?? []), opts.carrierId];
    if (isNew || newCarrier) await this.vault.put(threadRecord(message.threadId), record);
    if (isNew) await this.setCount(message.threadId, record.messages.length);
    await this.clearFailure(message.messageId);
  }

  private async threadRecord(threadId: string): Promise<ThreadRecord> {
    const stored = (await this.vault.get(threadRecord(threadId))) as ThreadRecord | undefined;
    return stored && stored.v === 1 ? stored : { v: 1, messages: [] };
  }

  /** Every message of a thread this device holds, oldest first. */
  async threadMessages(threadId: string): Promise<StoredMessage[]> {
    return (await this.threadRecord(threadId)).messages;
  }

  async threadIds(): Promise<string[]> {
    return (await this.vault.list(THREAD_PREFIX)).map((name) => name.slice(THREAD_PREFIX.length));
  }

  /**
   * Delete everything held about a thread (consent withdrawal): its one
   * record. Returns how many messages were deleted. A replay of one of them
   * is then refused by the relay's replay memory and, after it, by the case
   * layer's tombstone.
   */
  async purgeThread(threadId: string): Promise<number> {
    const { messages } = await this.threadRecord(threadId);
    await this.vault.delete(threadRecord(threadId));
    await this.setCount(threadId, undefined);
    return messages.length;
  }

  private async failureList(): Promise<FailedMessage[]> {
    if (!this.failures) {
      const stored = await this.vault.get(FAILED_RECORD);
      this.failures = Array.isArray(stored) ? (stored as FailedMessage[]) : [];
    }
    return this.failures;
  }

  /** Record (or update) an envelope that could not be opened. */
  async recordFailure(failure: FailedMessage): Promise<void> {
    const list = (await this.failureList()).filter((f) => f.messageId !== failure.messageId || failure.messageId === 'unknown');
    list.push(failure);
    this.failures = list.slice(-MAX_FAILURES);
    await this.vault.put(FAILED_RECORD, this.failures);
  }

  private async clearFailure(messageId: string): Promise<void> {
    const list = await this.failureList();
    if (!list.some((f) => f.messageId === messageId)) return;
    this.failures = list.filter((f) => f.messageId !== messageId);
    await this.vault.put(FAILED_RECORD, this.failures);
  }

  async failedMessages(): Promise<FailedMessage[]> {
    return [...(await this.failureList())];
  }
}
