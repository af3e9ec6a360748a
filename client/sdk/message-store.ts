/**
 * Where a device keeps the messages it has opened, inside the vault: one
 * record per thread, which is also what dedupes a redelivery (the thread id
 * is in the envelope's clear header, so the check needs no decryption), so
 * a purge deletes one record and leaves no trace per message; and one
 * record with the envelopes that could not be opened (kept visible, never
 * dropped silently). Receiving a message rewrites its thread's record only:
 * nothing grows with the number of messages the device ever saw.
 *
 * The original envelope of each message (kept to forward it: history
 * sharing) is ten times the size of the decoded message, so it does not
 * live in the thread record, which is read and rewritten on every message:
 * originals go in chunks of ORIGINALS_PER_CHUNK per thread, written once
 * when a message arrives and read only when the thread is forwarded. (With
 * them inline, a 300-message thread meant decrypting and re-encrypting
 * ~5 MB per arriving message.)
 */
import type { FailedMessage, OriginalEnvelope, StoredMessage } from './messages';
import type { Vault } from './vault';

const THREAD_PREFIX = 'thread/';
/** Messages held per thread: lets a layer above notice it is behind without reading every thread. */
const COUNTS_RECORD = 'messages/counts';
const FAILED_RECORD = 'messages/failed';
const ORIGINALS_PREFIX = 'originals/';
/** Originals per chunk record: few record names (the vault index stays small), small rewrites. */
const ORIGINALS_PER_CHUNK = 16;
/** The newest failures kept; older ones are dropped first. */
const MAX_FAILURES = 500;

interface ThreadRecord {
  v: 1;
  messages: StoredMessage[];
  /** Ids of the envelopes that forwarded some of these messages (history sharing): a redelivered one is known at once. */
  carriers?: string[];
  /** How many originals this thread's chunk records hold (the next one goes to chunk ⌊n / ORIGINALS_PER_CHUNK⌋). */
  originals?: number;
}

/** One chunk of a thread's originals, by message id. */
type OriginalsChunk = Record<string, OriginalEnvelope>;

const threadRecord = (threadId: string) => `${THREAD_PREFIX}${threadId}`;
const originalsPrefix = (threadId: string) => `${ORIGINALS_PREFIX}${threadId}/`;
const originalsChunk = (threadId: string, chunk: number) => `${originalsPrefix(threadId)}${chunk}`;

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
      record.messages.push(...(await this.keepOriginals(threadId, record, fresh)));
      record.messages.sort(byTime);
      await this.vault.put(threadRecord(threadId), record);
      await this.setCount(threadId, record.messages.length);
    }
  }

  /**
   * Keep a message in its thread (once); `carrierId` names the envelope that
   * forwarded it, if it was forwarded. Returns whether the message was new
   * here (a forwarded copy of one already held is not).
   */
  async add(message: StoredMessage, opts: { carrierId?: string } = {}): Promise<boolean> {
    const record = await this.threadRecord(message.threadId);
    const isNew = !record.messages.some((m) => m.messageId === message.messageId);
    if (isNew) {
      record.messages.push(...(await this.keepOriginals(message.threadId, record, [message])));
      record.messages.sort(byTime);
    }
    const newCarrier = opts.carrierId !== undefined && !(record.carriers ?? []).includes(opts.carrierId);
    if (newCarrier && opts.carrierId) record.carriers = [...(record.carriers ?? []), opts.carrierId];
    if (isNew || newCarrier) await this.vault.put(threadRecord(message.threadId), record);
    if (isNew) await this.setCount(message.threadId, record.messages.length);
    await this.clearFailure(message.messageId);
    return isNew;
  }

  /**
   * Write the originals of `messages` into the thread's chunk records (before
   * the thread record that counts them, so a crash never counts a missing
   * one) and return the messages without them.
   */
  private async keepOriginals(threadId: string, record: ThreadRecord, messages: readonly StoredMessage[]): Promise<StoredMessage[]> {
    const slim: StoredMessage[] = [];
    let chunkNo = -1;
    let chunk: OriginalsChunk = {};
    let count = record.originals ?? 0;
    for (const { original, ...message } of messages) {
      slim.push(message);
      if (!original) continue;
      const target = Math.floor(count / ORIGINALS_PER_CHUNK);
      if (target !== chunkNo) {
        if (chunkNo >= 0) await this.vault.put(originalsChunk(threadId, chunkNo), chunk);
        chunkNo = target;
        chunk = ((await this.vault.get(originalsChunk(threadId, chunkNo))) as OriginalsChunk | undefined) ?? {};
      }
      chunk[message.messageId] = original;
      count++;
    }
    if (chunkNo >= 0) await this.vault.put(originalsChunk(threadId, chunkNo), chunk);
    record.originals = count;
    return slim;
  }

  /** A thread's messages with the original envelope of each that has one (to forward them), oldest first. */
  async threadMessagesWithOriginals(threadId: string): Promise<StoredMessage[]> {
    const originals = new Map<string, OriginalEnvelope>();
    for (const name of await this.vault.list(originalsPrefix(threadId))) {
      const chunk = (await this.vault.get(name)) as OriginalsChunk | undefined;
      for (const [messageId, original] of Object.entries(chunk ?? {})) originals.set(messageId, original);
    }
    // Messages kept before originals had their own records carry theirs inline.
    return (await this.threadRecord(threadId)).messages.map((m) => {
      const original = m.original ?? originals.get(m.messageId);
      return original ? { ...m, original } : m;
    });
  }

  private async threadRecord(threadId: string): Promise<ThreadRecord> {
    const stored = (await this.vault.get(threadRecord(threadId))) as ThreadRecord | undefined;
    return stored && stored.v === 1 ? stored : { v: 1, messages: [] };
  }

  /** Every message of a thread this device holds, oldest first (originals not included: threadMessagesWithOriginals). */
  async threadMessages(threadId: string): Promise<StoredMessage[]> {
    return (await this.threadRecord(threadId)).messages;
  }

  async threadIds(): Promise<string[]> {
    return (await this.vault.list(THREAD_PREFIX)).map((name) => name.slice(THREAD_PREFIX.length));
  }

  /**
   * Delete everything held about a thread (consent withdrawal): its record
   * and its originals' chunks. Returns how many messages were deleted. A replay of one of them
   * is then refused by the relay's replay memory and, after it, by the case
   * layer's tombstone.
   */
  async purgeThread(threadId: string): Promise<number> {
    const { messages } = await this.threadRecord(threadId);
    for (const name of await this.vault.list(originalsPrefix(threadId))) await this.vault.delete(name);
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
