/**
 * In-memory store: the embedded default when no Redis is configured. One
 * process only, nothing survives a restart. Each method runs to completion
 * without awaiting, so every operation is atomic on Node's single thread.
 */
import { ExpiringMap } from './expiring-map';
import { fixedWindow, rateLimitResult } from './rate-limit';
import {
  type AddOneTimePrekeysResult,
  type DeviceRecord,
  type EnqueueRequest,
  type EnqueueResult,
  type ExpiredItem,
  type InboxItem,
  type InboxSkip,
  type NoticeItem,
  MAX_NOTICE_BYTES,
  MAX_NOTICES_PER_DEVICE,
  type OneTimePrekeyItem,
  type RateLimitResult,
  type RelayStore,
  type RevocationAppendResult,
  type RevocationRecord,
  type SessionRecord,
  type StoreOptions,
  DEFAULT_MAX_INBOX_LENGTH,
  DEFAULT_RETENTION_MS,
} from './types';
import {
  checkBatchLimit,
  checkDuration,
  checkEnqueue,
  checkId,
  checkNoticeId,
  checkNoticeJson,
  checkPositiveInt,
  checkPrekeyItems,
  checkRateKey,
  checkTimestamp,
} from './validate';

interface StoredEnvelope {
  senderDeviceId: string;
  blob: Uint8Array;
  expiresAt: number;
  /** Recipients that have neither acked nor expired. */
  pending: Set<string>;
}

interface OneTimePrekeyPool {
  /** Ascending by id: every accepted id is above all earlier ones. */
  items: OneTimePrekeyItem[];
  highestId: number;
}

export class MemoryStore implements RelayStore {
  readonly kind = 'memory' as const;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly maxInboxLength: number;

  private readonly orgs = new Map<string, string>();
  /** Per org: every certificate ever put, oldest first. */
  private readonly orgHistory = new Map<string, string[]>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly orgDevices = new Map<string, Set<string>>();
  private readonly revocations = new Map<string, string[]>();
  private readonly signedPrekeys = new Map<string, string>();
  private readonly oneTimePrekeys = new Map<string, OneTimePrekeyPool>();
  private readonly challenges = new ExpiringMap<string>();
  private readonly socketTickets = new ExpiringMap<string>();
  private readonly sessions = new ExpiringMap<SessionRecord>();
  private readonly deviceSessions = new Map<string, Set<string>>();
  private readonly rateWindows = new ExpiringMap<{ window: number; count: number }>();
  /** Message ids seen within the retention window (replay memory), with the fingerprint of the envelope accepted under each. */
  private readonly seenMessages = new ExpiringMap<string>();
  private readonly envelopes = new Map<string, StoredEnvelope>();
  /** Per device: message ids in arrival order (a Map keeps insertion order). */
  private readonly inboxes = new Map<string, Map<string, true>>();
  private readonly notices = new Map<string, Array<NoticeItem & { expiresAt: number }>>();
  private noticeSeq = 0;

  constructor(options: StoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxInboxLength = options.maxInboxLength ?? DEFAULT_MAX_INBOX_LENGTH;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  // --- directory -------------------------------------------------------------

  async putOrg(orgId: string, certJson: string): Promise<void> {
    checkId(orgId, 'orgId');
    this.orgs.set(orgId, certJson);
    const history = this.orgHistory.get(orgId) ?? [];
    if (!history.includes(certJson)) history.push(certJson);
    this.orgHistory.set(orgId, history);
  }

  async listOrgHistory(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    return [...(this.orgHistory.get(orgId) ?? [])];
  }

  async getOrg(orgId: string): Promise<string | null> {
    checkId(orgId, 'orgId');
    return this.orgs.get(orgId) ?? null;
  }

  async listOrgs(): Promise<string[]> {
    return [...this.orgs.keys()].sort().map((id) => this.orgs.get(id) ?? '');
  }

  async putDevice(deviceId: string, orgId: string, certJson: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    checkId(orgId, 'orgId');
    const previous = this.devices.get(deviceId);
    if (previous && previous.orgId !== orgId) this.orgDevices.get(previous.orgId)?.delete(deviceId);
    this.devices.set(deviceId, { deviceId, orgId, certJson });
    setOf(this.orgDevices, orgId).add(deviceId);
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    checkId(deviceId, 'deviceId');
    const record = this.devices.get(deviceId);
    return record ? { ...record } : null;
  }

  async listOrgDeviceIds(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    return [...(this.orgDevices.get(orgId) ?? [])].sort();
  }

  async listOrgDevices(orgId: string): Promise<DeviceRecord[]> {
    const ids = await this.listOrgDeviceIds(orgId);
    return ids.flatMap((id) => {
      const record = this.devices.get(id);
      return record ? [{ ...record }] : [];
    });
  }

  // --- revocations -----------------------------------------------------------

  async appendRevocation(issuerId: string, seq: number, json: string): Promise<RevocationAppendResult> {
    checkId(issuerId, 'issuerId');
    checkPositiveInt(seq, 'seq');
    const log = this.revocations.get(issuerId) ?? [];
    if (seq !== log.length + 1) return { status: 'conflict', head: log.length };
    log.push(json);
    this.revocations.set(issuerId, log);
    return { status: 'appended' };
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    return [...this.revocations.keys()]
      .sort()
      .flatMap((issuerId) => (this.revocations.get(issuerId) ?? []).map((json, i) => ({ issuerId, seq: i + 1, json })));
  }

  async revocationHead(issuerId: string): Promise<number> {
    checkId(issuerId, 'issuerId');
    return this.revocations.get(issuerId)?.length ?? 0;
  }

  // --- prekeys ---------------------------------------------------------------

  async setSignedPrekeys(deviceId: string, json: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    this.signedPrekeys.set(deviceId, json);
  }

  async getSignedPrekeys(deviceId: string): Promise<string | null> {
    checkId(deviceId, 'deviceId');
    return this.signedPrekeys.get(deviceId) ?? null;
  }

  async addOneTimePrekeys(deviceId: string, items: readonly OneTimePrekeyItem[], cap: number): Promise<AddOneTimePrekeysResult> {
    checkPrekeyItems(deviceId, items, cap);
    const pool = this.oneTimePrekeys.get(deviceId) ?? { items: [], highestId: -1 };
    const fresh = items.filter((item) => item.id > pool.highestId).sort((a, b) => a.id - b.id);
    if (pool.items.length + fresh.length > cap) return { status: 'over_cap', count: pool.items.length, cap };
    for (const item of fresh) pool.items.push({ id: item.id, json: item.json });
    pool.highestId = fresh.at(-1)?.id ?? pool.highestId;
    this.oneTimePrekeys.set(deviceId, pool);
    return { status: 'ok', added: fresh.length, count: pool.items.length };
  }

  async popOneTimePrekey(deviceId: string): Promise<OneTimePrekeyItem | null> {
    checkId(deviceId, 'deviceId');
    return this.oneTimePrekeys.get(deviceId)?.items.shift() ?? null;
  }

  async countOneTimePrekeys(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    return this.oneTimePrekeys.get(deviceId)?.items.length ?? 0;
  }

  // --- authentication ----------------------------------------------------------

  async putChallenge(challengeId: string, value: string, ttlMs: number): Promise<void> {
    checkId(challengeId, 'challengeId');
    checkDuration(ttlMs, 'ttlMs');
    const now = this.now();
    this.challenges.set(challengeId, value, now + ttlMs, now);
  }

  async takeChallenge(challengeId: string): Promise<string | null> {
    checkId(challengeId, 'challengeId');
    return this.challenges.take(challengeId, this.now()) ?? null;
  }

  async putSocketTicket(ticketHash: string, value: string, ttlMs: number): Promise<void> {
    checkId(ticketHash, 'ticketHash');
    checkDuration(ttlMs, 'ttlMs');
    const now = this.now();
    this.socketTickets.set(ticketHash, value, now + ttlMs, now);
  }

  async takeSocketTicket(ticketHash: string): Promise<string | null> {
    checkId(ticketHash, 'ticketHash');
    return this.socketTickets.take(ticketHash, this.now()) ?? null;
  }

  async putSession(tokenHash: string, deviceId: string, ttlMs: number): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    checkId(deviceId, 'deviceId');
    checkDuration(ttlMs, 'ttlMs');
    const now = this.now();
    this.sessions.set(tokenHash, { deviceId, expiresAt: now + ttlMs }, now + ttlMs, now);
    setOf(this.deviceSessions, deviceId).add(tokenHash);
  }

  async getSession(tokenHash: string): Promise<SessionRecord | null> {
    checkId(tokenHash, 'tokenHash');
    const session = this.sessions.get(tokenHash, this.now());
    return session ? { ...session } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    const session = this.sessions.take(tokenHash, this.now());
    if (session) this.deviceSessions.get(session.deviceId)?.delete(tokenHash);
  }

  async deleteDeviceSessions(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    const now = this.now();
    let ended = 0;
    for (const tokenHash of this.deviceSessions.get(deviceId) ?? []) {
      if (this.sessions.take(tokenHash, now)) ended += 1;
    }
    this.deviceSessions.delete(deviceId);
    return ended;
  }

  // --- rate limits -------------------------------------------------------------

  async hitRateLimit(key: string, windowMs: number, max: number): Promise<RateLimitResult> {
    checkRateKey(key);
    checkDuration(windowMs, 'windowMs');
    checkPositiveInt(max, 'max');
    const now = this.now();
    const window = fixedWindow(now, windowMs);
    const current = this.rateWindows.get(key, now);
    const count = current && current.window === window.index ? current.count + 1 : 1;
    this.rateWindows.set(key, { window: window.index, count }, now + window.msToEnd, now);
    return rateLimitResult(count, max, window);
  }

  // --- store-and-forward ---------------------------------------------------------

  async enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    const recipients = checkEnqueue(request);
    const now = this.now();
    const seen = this.seenMessages.get(request.messageId, now);
    if (seen !== undefined) return { status: 'duplicate', sameEnvelope: seen === request.fingerprint };
    const full = recipients.filter((id) => (this.inboxes.get(id)?.size ?? 0) >= this.maxInboxLength);
    if (full.length > 0) return { status: 'inbox_full', deviceIds: full };

    this.seenMessages.set(request.messageId, request.fingerprint, now + this.retentionMs, now);
    this.envelopes.set(request.messageId, {
      senderDeviceId: request.senderDeviceId,
      blob: request.blob.slice(),
      expiresAt: Math.min(request.expiresAt, now + this.retentionMs),
      pending: new Set(recipients),
    });
    for (const id of recipients) mapOf(this.inboxes, id).set(request.messageId, true);
    return { status: 'stored' };
  }

  async readInbox(deviceId: string, limit: number, skip?: InboxSkip): Promise<InboxItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    const now = this.now();
    const items: InboxItem[] = [];
    for (const messageId of this.inboxes.get(deviceId)?.keys() ?? []) {
      if (items.length >= limit) break;
      if (skip?.has(messageId)) continue;
      const envelope = this.envelopes.get(messageId);
      if (!envelope || envelope.expiresAt <= now) continue;
      items.push({ messageId, senderDeviceId: envelope.senderDeviceId, blob: envelope.blob.slice(), expiresAt: envelope.expiresAt });
    }
    return items;
  }

  async ackDelivery(deviceId: string, messageId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkId(messageId, 'messageId');
    this.inboxes.get(deviceId)?.delete(messageId);
    return this.releaseRecipient(messageId, deviceId);
  }

  async inboxLength(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    return this.inboxes.get(deviceId)?.size ?? 0;
  }

  async deleteInbox(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    const inbox = this.inboxes.get(deviceId);
    if (!inbox) return 0;
    for (const messageId of inbox.keys()) this.releaseRecipient(messageId, deviceId);
    this.inboxes.delete(deviceId);
    return inbox.size;
  }

  async takeExpired(now: number, limit: number): Promise<ExpiredItem[]> {
    checkTimestamp(now, 'now');
    checkBatchLimit(limit);
    const due = [...this.envelopes.entries()]
      .filter(([, envelope]) => envelope.expiresAt <= now)
      .sort(([, a], [, b]) => a.expiresAt - b.expiresAt)
      .slice(0, limit);
    const items: ExpiredItem[] = [];
    for (const [messageId, envelope] of due) {
      for (const recipientDeviceId of [...envelope.pending].sort()) {
        items.push({ messageId, senderDeviceId: envelope.senderDeviceId, recipientDeviceId });
        this.inboxes.get(recipientDeviceId)?.delete(messageId);
      }
      this.envelopes.delete(messageId);
    }
    return items;
  }

  async putNotice(deviceId: string, json: string): Promise<string> {
    checkId(deviceId, 'deviceId');
    checkNoticeJson(json, MAX_NOTICE_BYTES);
    const list = this.liveNotices(deviceId);
    const noticeId = `${this.now()}-${++this.noticeSeq}`;
    list.push({ noticeId, json, expiresAt: this.now() + this.retentionMs });
    if (list.length > MAX_NOTICES_PER_DEVICE) list.splice(0, list.length - MAX_NOTICES_PER_DEVICE);
    this.notices.set(deviceId, list);
    return noticeId;
  }

  async readNotices(deviceId: string, limit: number): Promise<NoticeItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    return this.liveNotices(deviceId)
      .slice(0, limit)
      .map(({ noticeId, json }) => ({ noticeId, json }));
  }

  async ackNotice(deviceId: string, noticeId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkNoticeId(noticeId);
    const list = this.liveNotices(deviceId);
    const at = list.findIndex((n) => n.noticeId === noticeId);
    if (at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) this.notices.delete(deviceId);
    return true;
  }

  /** The device's notice list with expired ones pruned; held by the store only while it is not empty. */
  private liveNotices(deviceId: string): Array<NoticeItem & { expiresAt: number }> {
    const now = this.now();
    const list = (this.notices.get(deviceId) ?? []).filter((n) => n.expiresAt > now);
    if (list.length > 0) this.notices.set(deviceId, list);
    else this.notices.delete(deviceId);
    return list;
  }

  /** Marks one recipient done with an envelope; frees the envelope after the last. */
  private releaseRecipient(messageId: string, deviceId: string): boolean {
    const envelope = this.envelopes.get(messageId);
    if (!envelope || !envelope.pending.delete(deviceId)) return false;
    if (envelope.pending.size === 0) this.envelopes.delete(messageId);
    return true;
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function mapOf<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  return inner;
}
