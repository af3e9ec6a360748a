/**
 * The expiry sweeper: envelopes whose retention ran out before every
 * recipient stored them are taken from the store, and each sender is told
 * which recipient devices never got its envelope — live if it is connected,
 * and through a kept notice it receives on its next connect otherwise.
 * Nothing expires silently.
 *
 * Every relay process sweeps; the store hands each expiry to one of them.
 * The clock is injected, so a test moves time instead of waiting for it.
 */
import { errorSummary } from '../errors';
import type { ExpiredItem, ExpiryStore, NoticeStore } from '../store';
import { encodeExpiryNotice, type ExpiryNotice, type SentExpiryNotice } from './notice';

export interface SweeperDeps {
  store: ExpiryStore & Pick<NoticeStore, 'putNotice'>;
  now: () => number;
  /** Tell the sender's connected devices (in any relay process). */
  notifySender(senderDeviceId: string, notice: SentExpiryNotice): void;
  /** Counts expired envelope copies (one per recipient that never stored it). */
  countExpired(copies: number): void;
  logger: SweepLog;
}

/** The two log calls a sweep makes (a pino logger is one). */
export interface SweepLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Messages taken from the store per read. */
const BATCH = 500;
/** Reads per sweep; whatever is left waits for the next sweep, so one sweep stays short. */
const ROUNDS = 20;

export class ExpirySweeper {
  private sweeping = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly deps: SweeperDeps) {}

  /** Sweep every `intervalMs` until stopped; a tick that finds a sweep still running does nothing. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One timer tick: a sweep, unless one is under way; failures are logged, never thrown. */
  async tick(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.sweep();
    } catch (err) {
      this.deps.logger.warn({ err: errorSummary(err) }, 'expiry sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /** Take what has expired by now and tell every sender; resolves with the number of expired copies. */
  async sweep(): Promise<number> {
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const items = await this.deps.store.takeExpired(this.deps.now(), BATCH);
      if (items.length === 0) break;
      this.deps.countExpired(items.length);
      await Promise.all([...byMessage(items)].map(([messageId, { sender, recipients }]) => this.tellSender(sender, messageId, recipients)));
      this.deps.logger.info({ expired: items.length }, 'expired undelivered envelopes; senders notified');
      total += items.length;
    }
    return total;
  }

  /** Keep the notice until the sender's device acks it, and send it to the devices connected now. */
  private async tellSender(sender: string, messageId: string, recipientDeviceIds: string[]): Promise<void> {
    const notice: ExpiryNotice = { messageId, recipientDeviceIds, at: this.deps.now() };
    let noticeId: string | undefined;
    try {
      noticeId = await this.deps.store.putNotice(sender, encodeExpiryNotice(notice));
    } catch (err) {
      this.deps.logger.warn({ err: errorSummary(err) }, 'could not keep an expiry notice; sending it live only');
    }
    this.deps.notifySender(sender, noticeId ? { ...notice, noticeId } : notice);
  }
}

/** Expired copies grouped by message: one notice per message lists all its recipients. */
function byMessage(items: readonly ExpiredItem[]): Map<string, { sender: string; recipients: string[] }> {
  const grouped = new Map<string, { sender: string; recipients: string[] }>();
  for (const item of items) {
    const entry = grouped.get(item.messageId) ?? { sender: item.senderDeviceId, recipients: [] };
    entry.recipients.push(item.recipientDeviceId);
    grouped.set(item.messageId, entry);
  }
  return grouped;
}
