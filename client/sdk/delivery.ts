/**
 * What became of each envelope this device sent, per recipient device,
 * kept so a person can see it (issue 13): sent; stored by the relay (its
 * acknowledgement, with the time); delivered to n of m devices (the
 * relay's delivered notices); expired undelivered (its expiry notices,
 * which the relay keeps until acked). These are the relay's word, not
 * signed receipts: a hostile relay can lie about delivery, never about
 * content. Entries older than the relay's retention window (plus a day)
 * are dropped: nothing can change them any more.
 */
import { DAY_MS, orgOfDeviceId } from '../../shared';
import { SerialQueue } from './serial-queue';
import type { Vault } from './vault';

const DELIVERY_RECORD = 'delivery/log';
/** At most this many sent envelopes are tracked (the oldest go first). */
const MAX_TRACKED = 5000;

export interface DeliveryEntry {
  messageId: string;
  threadId: string;
  sentAt: number;
  /** When the relay acknowledged storing it in every inbox. */
  storedAt?: number;
  recipients: string[];
  delivered: string[];
  expired: string[];
  /** Devices whose expired copy was sent again (forwarded as history), and when. */
  resent?: { at: number; deviceIds: string[] };
  /** Recipient orgs that sent a signed read receipt: the first one per org, dated by its envelope. */
  opened?: Record<string, { at: number; deviceId: string }>;
}

/** A summary per recipient org: "delivered to 2 of 3 devices", "expired undelivered on 1". */
export interface OrgDelivery {
  orgId: string;
  devices: number;
  delivered: number;
  expired: number;
  /** When the org's first read receipt was signed (absent: none came; receipts are optional per org). */
  openedAt?: number;
}

export function byOrg(entry: DeliveryEntry): OrgDelivery[] {
  const orgs = new Map<string, OrgDelivery>();
  const org = (deviceId: string) => deviceId.slice(0, deviceId.indexOf(':'));
  for (const id of entry.recipients) {
    const o = orgs.get(org(id)) ?? { orgId: org(id), devices: 0, delivered: 0, expired: 0 };
    o.devices++;
    if (entry.delivered.includes(id)) o.delivered++;
    else if (entry.expired.includes(id)) o.expired++;
    orgs.set(o.orgId, o);
  }
  for (const [orgId, opened] of Object.entries(entry.opened ?? {})) {
    const o = orgs.get(orgId);
    if (o) o.openedAt = opened.at;
  }
  return [...orgs.values()].sort((a, b) => (a.orgId < b.orgId ? -1 : 1));
}

/** Notices held for messages not recorded yet (see `early`). */
const MAX_EARLY = 1000;

export class DeliveryLog {
  private entries: Map<string, DeliveryEntry> | undefined;
  private readonly queue = new SerialQueue();
  /**
   * Notices that arrived before `sent` recorded their message: a recipient
   * online can ack before the sender has finished storing what it sent (a
   * browser's IndexedDB is slow), so the relay's delivered notice may come
   * first. They are applied when `sent` comes, and only to that message's
   * own recipients; a notice for a message this device never sends just
   * ages out of this bounded map.
   */
  private readonly early = new Map<string, { delivered: Set<string>; expired: Set<string> }>();

  constructor(
    private readonly vault: Vault,
    private readonly now: () => number,
    private readonly retentionMs: () => number,
  ) {}

  private async load(): Promise<Map<string, DeliveryEntry>> {
    if (!this.entries) {
      const stored = await this.vault.get(DELIVERY_RECORD);
      this.entries = new Map(Array.isArray(stored) ? (stored as DeliveryEntry[]).map((e) => [e.messageId, e]) : []);
    }
    return this.entries;
  }

  /** Updates run one after another (each rewrites one record). */
  private update(change: (entries: Map<string, DeliveryEntry>) => boolean): Promise<void> {
    return this.queue.run(async () => {
      const entries = await this.load();
      if (!change(entries)) return;
      const horizon = this.now() - this.retentionMs() - DAY_MS;
      const kept = [...entries.values()].filter((e) => e.sentAt >= horizon).slice(-MAX_TRACKED);
      this.entries = new Map(kept.map((e) => [e.messageId, e]));
      await this.vault.put(DELIVERY_RECORD, kept);
    });
  }

  sent(entry: { messageId: string; threadId: string; sentAt: number; storedAt?: number; recipients: string[] }): Promise<void> {
    return this.update((entries) => {
      const early = this.early.get(entry.messageId);
      this.early.delete(entry.messageId);
      const delivered = entry.recipients.filter((id) => early?.delivered.has(id));
      const expired = entry.recipients.filter((id) => early?.expired.has(id) && !delivered.includes(id));
      entries.set(entry.messageId, { ...entry, delivered, expired });
      return true;
    });
  }

  /** Hold a notice for a message not recorded yet (bounded: the oldest held go first). */
  private holdEarly(messageId: string, kind: 'delivered' | 'expired', deviceIds: readonly string[]): void {
    const held = this.early.get(messageId) ?? { delivered: new Set<string>(), expired: new Set<string>() };
    for (const id of deviceIds) held[kind].add(id);
    this.early.set(messageId, held);
    while (this.early.size > MAX_EARLY) this.early.delete(this.early.keys().next().value as string);
  }

  delivered(messageId: string, deviceId: string): Promise<void> {
    return this.update((entries) => {
      const e = entries.get(messageId);
      if (!e) {
        this.holdEarly(messageId, 'delivered', [deviceId]);
        return false;
      }
      if (!e.recipients.includes(deviceId) || e.delivered.includes(deviceId)) return false;
      e.delivered.push(deviceId);
      e.expired = e.expired.filter((id) => id !== deviceId);
      return true;
    });
  }

  expired(messageId: string, deviceIds: readonly string[]): Promise<void> {
    return this.update((entries) => {
      const e = entries.get(messageId);
      if (!e) {
        this.holdEarly(messageId, 'expired', deviceIds);
        return false;
      }
      const fresh = deviceIds.filter((id) => e.recipients.includes(id) && !e.delivered.includes(id) && !e.expired.includes(id));
      if (fresh.length === 0) return false;
      e.expired.push(...fresh);
      return true;
    });
  }

  /**
   * A read receipt from a device of `orgId` (its envelope verified, `at` its
   * signed sentAt) for messages of `threadId`. Counted only for messages
   * this device sent in that thread to a device of that org: a receipt
   * cannot claim a message it was never sent, nor one of another thread.
   */
  opened(threadId: string, messageIds: readonly string[], from: { orgId: string; deviceId: string }, at: number): Promise<void> {
    return this.update((entries) => {
      let changed = false;
      for (const id of messageIds) {
        const e = entries.get(id);
        if (!e || e.threadId !== threadId || e.opened?.[from.orgId]) continue;
        if (!e.recipients.some((r) => orgOfDeviceId(r) === from.orgId)) continue;
        e.opened = { ...e.opened, [from.orgId]: { at, deviceId: from.deviceId } };
        changed = true;
      }
      return changed;
    });
  }

  /** What expired was sent again: it no longer counts as expired (a later expiry of the resent copy is the history item's). */
  resent(messageIds: readonly string[]): Promise<void> {
    return this.update((entries) => {
      let changed = false;
      for (const id of messageIds) {
        const e = entries.get(id);
        if (!e || e.expired.length === 0) continue;
        e.resent = { at: this.now(), deviceIds: [...(e.resent?.deviceIds ?? []), ...e.expired] };
        e.expired = [];
        changed = true;
      }
      return changed;
    });
  }

  /** The tracked envelopes of a thread (or all), oldest first. */
  async list(threadId?: string): Promise<DeliveryEntry[]> {
    await this.queue.idle();
    const all = [...(await this.load()).values()].filter((e) => threadId === undefined || e.threadId === threadId);
    return all.sort((a, b) => a.sentAt - b.sentAt);
  }
}
