/**
 * The embedded store's disk: one LevelDB database (classic-level) in the
 * relay's data folder, written in order and fsync'd before any caller is
 * answered — what Redis does with `appendfsync always`.
 *
 * Writes are group-committed: while one batch is being written and fsync'd,
 * the writes that arrive meanwhile wait and go together as the next batch.
 * So there is one fsync per batch, not per operation, and batches reach the
 * disk in the order the store made them (a later state never lands before
 * an earlier one). A batch that fails leaves the store's memory ahead of its
 * disk: from then on every call fails with UNAVAILABLE until the relay is
 * restarted and reloads what the disk holds.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { HandoverError } from '../../shared';
import type { StoreLogger } from './redis-store';

export type JournalOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** Bumped when the key layout changes in a way an older relay could not read. */
const FORMAT_KEY = 'meta/format';
const FORMAT = '1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const textValue = (text: string): Uint8Array => encoder.encode(text);
export const readText = (value: Uint8Array): string => decoder.decode(value);

export class Journal {
  private queued: JournalOp[] = [];
  private waiters: Waiter[] = [];
  private writing: Promise<void> | undefined;
  private failure: HandoverError | undefined;
  private closed = false;

  private constructor(
    private readonly db: ClassicLevel<string, Uint8Array>,
    readonly dir: string,
    private readonly logger: StoreLogger | undefined,
  ) {}

  /**
   * Opens (creating it, mode 0700) the database folder. Only one process
   * may hold it: a second one is refused with a message that says so.
   */
  static async open(dir: string, logger?: StoreLogger): Promise<Journal> {
    const absolute = path.resolve(dir);
    try {
      mkdirSync(absolute, { recursive: true, mode: 0o700 });
      chmodSync(absolute, 0o700);
    } catch (err) {
      throw unavailable(`cannot create the embedded store folder ${absolute}: ${(err as Error).message}`, err);
    }
    const db = new ClassicLevel<string, Uint8Array>(absolute, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      throw openFailure(absolute, err);
    }
    const journal = new Journal(db, absolute, logger);
    await journal.checkFormat();
    return journal;
  }

  /** Every key and value under `prefix` (keys in byte order). */
  async *scan(prefix: string): AsyncGenerator<[string, Uint8Array]> {
    this.check();
    for await (const entry of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) yield entry;
  }

  /** Values of these keys as of now (undefined where absent). */
  async getMany(keys: string[]): Promise<Array<Uint8Array | undefined>> {
    this.check();
    if (keys.length === 0) return [];
    try {
      return await this.db.getMany(keys);
    } catch (err) {
      throw unavailable(`the embedded store in ${this.dir} could not be read: ${(err as Error).message}`, err);
    }
  }

  /**
   * Resolves once these operations, and every one queued before them, are
   * on disk. With no operations it is a barrier: an answer that depends on
   * a write still under way (a duplicate seen, a conflict) waits for it.
   */
  write(ops: JournalOp[]): Promise<void> {
    this.check();
    if (ops.length === 0 && this.writing === undefined) return Promise.resolve();
    for (const op of ops) this.queued.push(op);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.drain();
    return done;
  }

  /** Throws UNAVAILABLE once a write has failed or the store is closed. */
  check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new HandoverError('UNAVAILABLE', 'the embedded store is closed');
  }

  /** Waits for queued writes, then releases the folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A failed write was already reported to the caller that queued it; closing only waits for it to settle.
    await this.writing?.catch(() => undefined);
    await this.db.close();
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        const ops = this.queued;
        const waiters = this.waiters;
        this.queued = [];
        this.waiters = [];
        try {
          if (ops.length > 0) await this.db.batch(ops, { sync: true });
        } catch (err) {
          this.fail(err, waiters);
          return;
        }
        for (const waiter of waiters) waiter.resolve();
      }
    } finally {
      this.writing = undefined;
    }
  }

  private fail(err: unknown, waiters: Waiter[]): void {
    this.failure = unavailable(
      `the embedded store in ${this.dir} failed to write (${(err as Error).message}); restart the relay once the disk is fixed (nothing acknowledged is lost)`,
      err,
    );
    this.logger?.warn({ err: (err as Error).message, dir: this.dir }, 'embedded store write failed: refusing every request until restarted');
    for (const waiter of [...waiters, ...this.waiters]) waiter.reject(this.failure);
    this.queued = [];
    this.waiters = [];
  }

  private async checkFormat(): Promise<void> {
    const [format] = await this.db.getMany([FORMAT_KEY]);
    if (format === undefined) {
      await this.db.put(FORMAT_KEY, textValue(FORMAT), { sync: true });
      return;
    }
    if (readText(format) !== FORMAT) {
      await this.db.close();
      throw unavailable(`the embedded store in ${this.dir} has format ${readText(format)}, this relay reads format ${FORMAT}: run the relay version that wrote it`);
    }
  }
}

function unavailable(message: string, cause?: unknown): HandoverError {
  const err = new HandoverError('UNAVAILABLE', message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

/** LevelDB's lock means another process holds the folder: say what to do about it. */
function openFailure(dir: string, err: unknown): HandoverError {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (cause?.code === 'LEVEL_LOCKED') {
    return unavailable(
      `the embedded store in ${dir} is in use by another relay process. The embedded store serves one process: stop the other one, ` +
        'give this one its own HANDOVER_DATA_DIR, or run several processes on Redis (REDIS_URL)',
      err,
    );
  }
  return unavailable(`cannot open the embedded store in ${dir}: ${(err as Error).message}`, err);
}
