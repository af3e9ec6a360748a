/**
 * Decode once (issue 12). Every message of a thread is classified, parsed
 * and hashed when it arrives, and kept in that decoded form in one
 * encrypted record per thread (`case/<threadId>`); a small index record
 * holds each thread's summary for the inbox. Reads never re-parse or
 * re-hash what the device already holds: `show` reads one record, `inbox`
 * reads one record.
 *
 * The transport's own message store stays the source of truth: a thread
 * whose decoded record is missing, out of date (an older layout) or behind
 * the transport's message count is rebuilt from the transport's messages.
 */
import type { StoredMessage } from '../../sdk/messages';
import { type MessageRoute, classify } from './payload';
import type { DueDates } from './reminders';
import type { LoadedThread, ThreadSummary } from './thread-view';
import type { CaseTransport } from './transport';
import type { ThreadEvent } from '../domain/schemas';

const RECORD_VERSION = 1;
const caseRecord = (threadId: string) => `case/${threadId}`;
const INDEX_RECORD = 'case-index';

interface CaseRecord {
  v: typeof RECORD_VERSION;
  threadId: string;
  loaded: LoadedThread;
  /** Ids of the messages decoded into `loaded` (to take each message once). */
  messageIds: string[];
}

/** A thread's line in the inbox, with what turns it overdue as time passes. */
export interface IndexEntry {
  summary: ThreadSummary;
  /** When the receiving org first responded (null: not yet): with `summary.responseDeadline`, decides `overdue` at read time. */
  firstResponseAt: number | null;
  /** The thread holds an applied consent withdrawal: it must be purged (a crash may have stopped the purge). */
  withdrawn: boolean;
  messageCount: number;
  /** Deadlines for reminders (reminders.ts); absent in lines written before them. */
  due?: DueDates;
}

/** How a message becomes its decoded form: classification needs the certified org types, hashing the crypto seam. */
export interface Decoder {
  orgTypeOf(orgId: string): string | undefined;
  eventId(event: ThreadEvent['event']): string;
}

export function emptyLoaded(): LoadedThread {
  return { events: [], supplements: [], dropped: [], routes: [], messageCount: 0 };
}

/** Classify, parse and hash one message into `loaded` (the only place a message payload is parsed). */
export function decodeInto(loaded: LoadedThread, message: StoredMessage, decoder: Decoder): void {
  const c = classify(message, (orgId) => decoder.orgTypeOf(orgId));
  let carries: MessageRoute['carries'];
  if (c.kind === 'event') {
    const id = decoder.eventId(c.event);
    loaded.events.push({ id, event: c.event });
    carries = { kind: 'event', id, type: c.event.type };
  } else if (c.kind === 'supplement') {
    loaded.supplements.push(c.supplement);
    carries = { kind: 'supplement', eventHash: c.supplement.supplement.eventHash };
  } else {
    loaded.dropped.push(c.dropped);
    carries = { kind: 'dropped' };
  }
  loaded.routes.push({
    messageId: message.messageId,
    senderDeviceId: message.senderDeviceId,
    senderOrgId: message.senderOrgId,
    direction: message.direction,
    orgIds: message.orgIds,
    recipientDeviceIds: message.recipientDeviceIds,
    carries,
  });
  loaded.messageCount++;
}

export class CaseStore {
  private index: Map<string, IndexEntry> | undefined;

  constructor(
    private readonly transport: CaseTransport,
    private readonly decoder: Decoder,
  ) {}

  /**
   * The decoded thread, rebuilt from the transport's messages when the record
   * is missing, of an older layout, or behind the transport (a message stored
   * while this layer was not listening). The count check reads no thread.
   */
  async load(threadId: string): Promise<LoadedThread> {
    const record = await this.record(threadId);
    const held = (await this.transport.threadCounts())[threadId] ?? 0;
    if (record && record.loaded.messageCount === held) return record.loaded;
    return (await this.rebuild(threadId)).loaded;
  }

  /** Take one new message of a thread: decode it once and keep it. Returns the thread as now decoded. */
  async ingest(message: StoredMessage): Promise<LoadedThread> {
    const record = (await this.record(message.threadId)) ?? (await this.rebuild(message.threadId));
    if (record.messageIds.includes(message.messageId)) return record.loaded;
    decodeInto(record.loaded, message, this.decoder);
    record.messageIds.push(message.messageId);
    await this.transport.putRecord(caseRecord(message.threadId), record);
    return record.loaded;
  }

  /** Decode a thread again from every message the transport holds. */
  async rebuild(threadId: string): Promise<CaseRecord> {
    const messages = await this.transport.threadMessages(threadId);
    const record: CaseRecord = { v: RECORD_VERSION, threadId, loaded: emptyLoaded(), messageIds: [] };
    for (const m of messages) {
      decodeInto(record.loaded, m, this.decoder);
      record.messageIds.push(m.messageId);
    }
    if (messages.length > 0) await this.transport.putRecord(caseRecord(threadId), record);
    return record;
  }

  private async record(threadId: string): Promise<CaseRecord | undefined> {
    const value = (await this.transport.getRecord(caseRecord(threadId))) as CaseRecord | undefined;
    return value && value.v === RECORD_VERSION && value.threadId === threadId ? value : undefined;
  }

  /* -- the inbox index -- */

  private async entries(): Promise<Map<string, IndexEntry>> {
    if (!this.index) {
      const stored = await this.transport.getRecord(INDEX_RECORD);
      this.index = new Map(stored && typeof stored === 'object' && !Array.isArray(stored) ? Object.entries(stored as Record<string, IndexEntry>) : []);
    }
    return this.index;
  }

  async indexEntries(): Promise<Map<string, IndexEntry>> {
    return new Map(await this.entries());
  }

  async setEntry(threadId: string, entry: IndexEntry): Promise<void> {
    const index = await this.entries();
    index.set(threadId, entry);
    await this.transport.putRecord(INDEX_RECORD, Object.fromEntries(index));
  }

  /** Forget a thread's decoded record and inbox line (after a purge). */
  async remove(threadId: string): Promise<void> {
    await this.transport.deleteRecord(caseRecord(threadId));
    const index = await this.entries();
    if (index.delete(threadId)) await this.transport.putRecord(INDEX_RECORD, Object.fromEntries(index));
  }

  /**
   * Threads whose decoded form is behind the transport: new threads, or a
   * message the transport stored while this layer was not listening (a
   * crash between the two writes). Cheap: compares message counts only.
   */
  async stale(): Promise<string[]> {
    const counts = await this.transport.threadCounts();
    const index = await this.entries();
    return Object.entries(counts)
      .filter(([threadId, count]) => index.get(threadId)?.messageCount !== count)
      .map(([threadId]) => threadId);
  }
}
