/**
 * Where a device keeps the messages it has opened, inside the vault: one
 * record per thread (so a purge deletes one record and leaves no trace per
 * message), one record with the ids of every message already processed
 * (dedupe across redeliveries), and one with the envelopes that could not
 * be opened (kept visible, never dropped silently).
 */
import type { FailedMessage, StoredMessage } from './messages';
import type { Vault } from './vault';

const THREAD_PREFIX = 'thread/';
const SEEN_RECORD = 'messages/seen';
const FAILED_RECORD = 'messages/failed';
/** The newest failures kept; older ones are dropped first. */
const MAX_FAILURES = 500;

interface ThreadRecord {
  v: 1;
  messages: StoredMessage[];
}

const threadRecord = (threadId: string) => `${THREAD_PREFIX}${threadId}`;

function byTime(a: StoredMessage, b: StoredMessage): number {
  return a.sentAt - b.sentAt || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
}

export class MessageStore {
  /** messageId -> when it was processed; loaded on first use. */
  private seen: Map<string, number> | undefined;
  private failures: FailedMessage[] | undefined;

  constructor(private readonly vault: Vault) {}

  private async seenMap(): Promise<Map<string, number>> {
    if (!this.seen) {
      const stored = await this.vault.get(SEEN_RECORD);
      this.seen = new Map(stored && typeof stored === 'object' ? Object.entries(stored as Record<string, number>) : []);
    }
    return this.seen;
  }

  private async saveSeen(): Promise<void> {
    await this.vault.put(SEEN_RECORD, Object.fromEntries(await this.seenMap()));
  }

  async hasSeen(messageId: string): Promise<boolean> {
    return (await this.seenMap()).has(messageId);
  }

  /** Keep a message in its thread and mark its id processed. */
  async add(message: StoredMessage): Promise<void> {
    const record = await this.threadRecord(message.threadId);
    if (!record.messages.some((m) => m.messageId === message.messageId)) {
      record.messages.push(message);
      record.messages.sort(byTime);
      await this.vault.put(threadRecord(message.threadId), record);
    }
    (await this.seenMap()).set(message.messageId, message.receivedAt);
    await this.saveSeen();
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
   * Delete everything held about a thread (consent withdrawal): its record
   * and the processed mark of each of its messages. Returns how many
   * messages were deleted. A replay of one of them is then refused by the
   * relay's replay memory and, after it, by the case layer's tombstone.
   */
  async purgeThread(threadId: string): Promise<number> {
    const { messages } = await this.threadRecord(threadId);
    await this.vault.delete(threadRecord(threadId));
    const seen = await this.seenMap();
    for (const m of messages) seen.delete(m.messageId);
    await this.saveSeen();
    return messages.length;
  }

  /** Forget processed marks older than `keepMs`: the relay refuses envelopes that old anyway. */
  async pruneSeen(now: number, keepMs: number): Promise<void> {
    const seen = await this.seenMap();
    let changed = false;
    for (const [id, at] of seen) {
      if (now - at > keepMs) {
        seen.delete(id);
        changed = true;
      }
    }
    if (changed) await this.saveSeen();
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
