/**
 * Delivery to one connected socket of a device. Envelopes are emitted in
 * inbox order and stay in the inbox until the device acks them. A bounded
 * window of unacknowledged envelopes (count and bytes) keeps a slow client
 * from making the relay buffer its whole inbox.
 *
 * Order: a live envelope is emitted at once only when nothing older is
 * waiting; otherwise the pump notes that the inbox is "dirty" and reads it
 * again from the store, so per-sender order holds across reconnects.
 */
import type { Delivery } from '../../shared';
import type { InboxStore } from '../store';

export interface PendingItem {
  messageId: string;
  senderDeviceId: string;
  blob: Uint8Array;
  /** The decoded envelope when the caller has it (a live send): saves decoding the blob once per recipient. */
  delivery?: Delivery;
}

export interface DeliveryTarget {
  /** Send one envelope to the socket. */
  emit(item: PendingItem): void;
  /** An inbox read failed (storage down); the pump reads again by itself. For the log. */
  readFailed?(err: unknown): void;
}

const MAX_READ = 1000;
/** After a failed inbox read (storage down), read again this much later. */
const RETRY_READ_MS = 500;

export class DeliveryPump {
  private readonly inflight = new Map<string, { senderDeviceId: string; bytes: number }>();
  private inflightBytes = 0;
  /** True when the inbox may hold envelopes this socket has not been sent yet. */
  private dirty = true;
  private draining: Promise<number> | undefined;
  /** While an inbox read is under way: ids acked meanwhile, which that read may still return. */
  private ackedDuringRead: Set<string> | undefined;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly deviceId: string,
    private readonly store: Pick<InboxStore, 'readInbox'>,
    private readonly target: DeliveryTarget,
    private readonly window: { count: number; bytes: number },
  ) {}

  private get full(): boolean {
    return this.inflight.size >= this.window.count || this.inflightBytes >= this.window.bytes;
  }

  /** A new envelope was stored for this device. */
  offer(item: PendingItem): void {
    if (this.closed || this.inflight.has(item.messageId)) return;
    if (this.dirty || this.draining || this.full) {
      this.dirty = true;
      if (!this.draining && !this.full) this.replaySoon();
      return;
    }
    this.send(item);
  }

  private send(item: PendingItem): void {
    this.inflight.set(item.messageId, { senderDeviceId: item.senderDeviceId, bytes: item.blob.length });
    this.inflightBytes += item.blob.length;
    this.target.emit(item);
  }

  /** The device stored this envelope; returns its sender if this socket delivered it. */
  acked(messageId: string): string | undefined {
    const entry = this.inflight.get(messageId);
    if (!entry) return undefined;
    this.inflight.delete(messageId);
    this.inflightBytes -= entry.bytes;
    this.ackedDuringRead?.add(messageId);
    if (this.dirty && !this.draining && this.inflight.size <= this.window.count / 2) this.replaySoon();
    return entry.senderDeviceId;
  }

  /**
   * The device's ack could not be stored (storage down): the envelope stays
   * in the inbox. Send it again once the inbox can be read, so a client that
   * does not retry its ack still clears it (it dedupes the second copy).
   */
  ackFailed(messageId: string): void {
    const entry = this.inflight.get(messageId);
    if (!entry || this.closed) return;
    this.inflight.delete(messageId);
    this.inflightBytes -= entry.bytes;
    this.dirty = true;
    this.retryLater();
  }

  /**
   * Send everything pending (up to the window), oldest first. Resolves with
   * how many envelopes this call emitted. Concurrent calls share one pass.
   */
  replay(): Promise<number> {
    this.dirty = true;
    if (this.draining) return this.draining.then(() => (this.closed || !this.dirty ? 0 : this.replay()));
    const run = this.drain().finally(() => {
      this.draining = undefined;
    });
    this.draining = run;
    return run;
  }

  private async drain(): Promise<number> {
    let emitted = 0;
    while (this.dirty && !this.closed && !this.full) {
      this.dirty = false;
      const room = Math.min(MAX_READ, this.window.count - this.inflight.size);
      let items;
      const ackedDuringRead = new Set<string>();
      this.ackedDuringRead = ackedDuringRead;
      try {
        // Envelopes in flight to this socket are skipped by id, their bodies not read again.
        items = await this.store.readInbox(this.deviceId, room, this.inflight);
      } catch (err) {
        // The inbox may still hold envelopes this socket was never sent: stay
        // dirty so that no newer envelope is emitted ahead of them, and read
        // again by ourselves (nothing else may come along to trigger it).
        this.dirty = true;
        this.retryLater();
        throw err;
      } finally {
        this.ackedDuringRead = undefined;
      }
      if (this.closed) break;
      for (const item of items) {
        // An envelope acked while the read ran may be in its answer: it was delivered.
        if (this.inflight.has(item.messageId) || ackedDuringRead.has(item.messageId)) continue;
        if (this.full) {
          this.dirty = true;
          break;
        }
        this.send(item);
        emitted++;
      }
      if (items.length >= room) this.dirty = true;
      if (this.full) break;
    }
    return emitted;
  }

  /** Read the inbox again without waiting: a failed read schedules its own retry (drain), so it is only reported. */
  replaySoon(): void {
    void this.replay().catch((err: unknown) => this.target.readFailed?.(err));
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.replaySoon();
    }, RETRY_READ_MS);
    this.retryTimer.unref?.();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.inflight.clear();
    this.inflightBytes = 0;
  }
}
