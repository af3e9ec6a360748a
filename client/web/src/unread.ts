/**
 * Unread marks: how many messages of each thread arrived on this device
 * since the person last had the thread on screen. Counted as messages
 * arrive (the client's `message` event: another device's message, stored
 * for the first time — never this device's own), cleared when the thread
 * is shown, and kept in the device's encrypted storage (a record of the
 * SDK's vault, through the facade's putRecord), so the marks survive a
 * reload and a lock. Nothing about them is readable while locked.
 */

/** Where the marks are kept: the SDK client's encrypted application records. */
export interface RecordStore {
  getRecord(name: string): Promise<unknown>;
  putRecord(name: string, value: unknown): Promise<void>;
}

export const UNREAD_RECORD = 'web/unread';
/** A count beyond this is shown as it is but stored capped (a record from storage is never trusted to be small). */
const MAX_COUNT = 1_000_000;

export class UnreadMarks {
  /** The writes in order: one at a time, the newest state each time. */
  private saving: Promise<void> = Promise.resolve();
  private pending = false;
  private failure: unknown;

  private constructor(
    private readonly store: RecordStore,
    private readonly counts: Map<string, number>,
  ) {}

  static async load(store: RecordStore): Promise<UnreadMarks> {
    const stored = await store.getRecord(UNREAD_RECORD);
    const counts = new Map<string, number>();
    if (typeof stored === 'object' && stored !== null && !Array.isArray(stored)) {
      for (const [threadId, n] of Object.entries(stored as Record<string, unknown>)) {
        if (typeof n === 'number' && Number.isInteger(n) && n > 0) counts.set(threadId, Math.min(n, MAX_COUNT));
      }
    }
    return new UnreadMarks(store, counts);
  }

  /** Messages of `threadId` not seen on this device yet. */
  count(threadId: string): number {
    return this.counts.get(threadId) ?? 0;
  }

  /** A message arrived in a thread that is not on screen. */
  add(threadId: string, n = 1): void {
    this.counts.set(threadId, Math.min(this.count(threadId) + n, MAX_COUNT));
    this.save();
  }

  /** The thread is on screen: everything in it is seen. */
  seen(threadId: string): void {
    if (!this.counts.has(threadId)) return;
    this.counts.delete(threadId);
    this.save();
  }

  /** Forget the marks of threads no longer held (a purged case). */
  retain(threadIds: Iterable<string>): void {
    const keep = new Set(threadIds);
    let changed = false;
    for (const id of [...this.counts.keys()]) {
      if (!keep.has(id)) {
        this.counts.delete(id);
        changed = true;
      }
    }
    if (changed) this.save();
  }

  /** Wait for the marks to be written (before the lock wipes the vault's key); throws if a write failed. */
  async flush(): Promise<void> {
    await this.saving;
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
  }

  private save(): void {
    // Writes coalesce: while one is waiting, later changes ride on it.
    if (this.pending) return;
    this.pending = true;
    this.saving = this.saving.then(async () => {
      this.pending = false;
      try {
        await this.store.putRecord(UNREAD_RECORD, Object.fromEntries(this.counts));
      } catch (err) {
        // Kept for flush() to report; the marks in memory stay right, and the next change writes them all again.
        this.failure = err;
      }
    });
  }
}
