/**
 * The embedded store: what `npm start` uses without Redis. One relay
 * process, durable: everything a relay acknowledges (registrations,
 * revocations, prekeys, sessions, queued envelopes, kept notices, the
 * replay memory) is on disk, fsync'd, before the caller gets its answer,
 * and a restart on the same folder finds it all again.
 *
 * How: the state lives in memory, as in the in-memory store, so every
 * operation runs to completion without awaiting and is atomic on Node's
 * single thread; each one that changes something also queues the matching
 * LevelDB writes (embedded-journal.ts) and answers once they are on disk.
 * Opening the store reads the database back into memory. Envelope bytes
 * are the exception: they stay on disk and are read when delivered.
 *
 * Like Redis with `appendfsync always`, another reader may see a change a
 * moment before its writer is answered (never one that is then lost without
 * the store refusing everything, see the journal).
 */
import { ExpiringMap } from './expiring-map';
import { Journal, type JournalOp, readText, textValue } from './embedded-journal';
import { PREFIX, keyParts, keys } from './embedded-keys';
import { fixedWindow, rateLimitResult } from './rate-limit';
import type { StoreLogger } from './redis-store';
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

export interface EmbeddedStoreOptions extends StoreOptions {
  /** The folder of the database (created with mode 0700). */
  dir: string;
  logger?: StoreLogger;
  /** How often lapsed sessions, message ids and notices are removed from disk; default one minute. */
  pruneEveryMs?: number;
}

interface StoredEnvelope {
  senderDeviceId: string;
  expiresAt: number;
  /** Recipients that have neither acked nor expired (exactly the inboxes holding it). */
  pending: Set<string>;
}

interface KeptNotice extends NoticeItem {
  seq: number;
  expiresAt: number;
}

interface OneTimePrekeyPool {
  /** Ascending by id: every accepted id is above all earlier ones. */
  items: OneTimePrekeyItem[];
  highestId: number;
}

const json = (value: unknown): Uint8Array => textValue(JSON.stringify(value));
const put = (key: string, value: Uint8Array): JournalOp => ({ type: 'put', key, value });
const del = (key: string): JournalOp => ({ type: 'del', key });

export class EmbeddedStore implements RelayStore {
  readonly kind = 'embedded' as const;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly maxInboxLength: number;
  private readonly pruneTimer: NodeJS.Timeout;

  private readonly orgs = new Map<string, string>();
  private readonly orgHistory = new Map<string, string[]>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly orgDevices = new Map<string, Set<string>>();
  private readonly revocations = new Map<string, string[]>();
  private readonly signedPrekeys = new Map<string, string>();
  private readonly oneTimePrekeys = new Map<string, OneTimePrekeyPool>();
  private readonly challenges = new ExpiringMap<string>();
  private readonly socketTickets = new ExpiringMap<string>();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly deviceSessions = new Map<string, Set<string>>();
  private readonly rateWindows = new ExpiringMap<{ window: number; count: number }>();
  /** Message id → fingerprint of the envelope accepted under it, and until when it is remembered. */
  private readonly seen = new Map<string, { fingerprint: string; until: number }>();
  private readonly envelopes = new Map<string, StoredEnvelope>();
  /** Per device: message id → its inbox entry's sequence number, in arrival order. */
  private readonly inboxes = new Map<string, Map<string, number>>();
  /** Envelope bytes not on disk yet (their write is queued). */
  private readonly unwrittenBlobs = new Map<string, Uint8Array>();
  private readonly notices = new Map<string, KeptNotice[]>();
  /** Last sequence number given to an inbox entry or a notice. */
  private seq = 0;

  private constructor(
    private readonly journal: Journal,
    options: EmbeddedStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxInboxLength = options.maxInboxLength ?? DEFAULT_MAX_INBOX_LENGTH;
    // Pruning is housekeeping: a failed pass leaves expired entries that reads already skip, and the next pass retries.
    this.pruneTimer = setInterval(() => void this.prune().catch(() => undefined), options.pruneEveryMs ?? 60_000);
    this.pruneTimer.unref();
  }

  /** Opens the folder (another process holding it is refused) and reads it back into memory. */
  static async open(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const journal = await Journal.open(options.dir, options.logger);
    const store = new EmbeddedStore(journal, options);
    try {
      await store.load();
      await store.prune();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** The database folder. */
  get dir(): string {
    return this.journal.dir;
  }

  async ping(): Promise<void> {
    this.journal.check();
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.journal.close();
  }

  // --- directory -------------------------------------------------------------

  async putOrg(orgId: string, certJson: string): Promise<void> {
    checkId(orgId, 'orgId');
    this.journal.check();
    const ops = [put(keys.org(orgId), textValue(certJson))];
    this.orgs.set(orgId, certJson);
    const history = listOf(this.orgHistory, orgId);
    if (!history.includes(certJson)) {
      history.push(certJson);
      ops.push(put(keys.orgHistory(orgId, history.length), textValue(certJson)));
    }
    await this.journal.write(ops);
  }

  async getOrg(orgId: string): Promise<string | null> {
    checkId(orgId, 'orgId');
    this.journal.check();
    return this.orgs.get(orgId) ?? null;
  }

  async listOrgHistory(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    this.journal.check();
    return [...(this.orgHistory.get(orgId) ?? [])];
  }

  async listOrgs(): Promise<string[]> {
    this.journal.check();
    return [...this.orgs.keys()].sort().map((id) => this.orgs.get(id) ?? '');
  }

  async putDevice(deviceId: string, orgId: string, certJson: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    checkId(orgId, 'orgId');
    this.journal.check();
    this.setDevice({ deviceId, orgId, certJson });
    await this.journal.write([put(keys.device(deviceId), json({ o: orgId, c: certJson }))]);
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    const record = this.devices.get(deviceId);
    return record ? { ...record } : null;
  }

  async listOrgDeviceIds(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    this.journal.check();
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

  async appendRevocation(issuerId: string, seq: number, revocationJson: string): Promise<RevocationAppendResult> {
    checkId(issuerId, 'issuerId');
    checkPositiveInt(seq, 'seq');
    this.journal.check();
    const log = listOf(this.revocations, issuerId);
    if (seq !== log.length + 1) {
      const head = log.length;
      await this.journal.write([]);
      return { status: 'conflict', head };
    }
    log.push(revocationJson);
    await this.journal.write([put(keys.revocation(issuerId, seq), textValue(revocationJson))]);
    return { status: 'appended' };
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    this.journal.check();
    return [...this.revocations.keys()]
      .sort()
      .flatMap((issuerId) => (this.revocations.get(issuerId) ?? []).map((text, i) => ({ issuerId, seq: i + 1, json: text })));
  }

  async revocationHead(issuerId: string): Promise<number> {
    checkId(issuerId, 'issuerId');
    this.journal.check();
    return this.revocations.get(issuerId)?.length ?? 0;
  }

  // --- prekeys ---------------------------------------------------------------

  async setSignedPrekeys(deviceId: string, prekeysJson: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    this.signedPrekeys.set(deviceId, prekeysJson);
    await this.journal.write([put(keys.signedPrekeys(deviceId), textValue(prekeysJson))]);
  }

  async getSignedPrekeys(deviceId: string): Promise<string | null> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    return this.signedPrekeys.get(deviceId) ?? null;
  }

  async addOneTimePrekeys(deviceId: string, items: readonly OneTimePrekeyItem[], cap: number): Promise<AddOneTimePrekeysResult> {
    checkPrekeyItems(deviceId, items, cap);
    this.journal.check();
    const pool = this.prekeyPool(deviceId);
    const fresh = items.filter((item) => item.id > pool.highestId).sort((a, b) => a.id - b.id);
    if (pool.items.length + fresh.length > cap) {
      const count = pool.items.length;
      await this.journal.write([]);
      return { status: 'over_cap', count, cap };
    }
    const ops: JournalOp[] = [];
    for (const item of fresh) {
      pool.items.push({ id: item.id, json: item.json });
      ops.push(put(keys.oneTimePrekey(deviceId, item.id), textValue(item.json)));
    }
    const last = fresh.at(-1);
    if (last) {
      pool.highestId = last.id;
      ops.push(put(keys.oneTimePrekeyHighest(deviceId), textValue(String(last.id))));
    }
    await this.journal.write(ops);
    return { status: 'ok', added: fresh.length, count: pool.items.length };
  }

  async popOneTimePrekey(deviceId: string): Promise<OneTimePrekeyItem | null> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    const item = this.oneTimePrekeys.get(deviceId)?.items.shift();
    if (!item) return null;
    await this.journal.write([del(keys.oneTimePrekey(deviceId, item.id))]);
    return item;
  }

  async countOneTimePrekeys(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    return this.oneTimePrekeys.get(deviceId)?.items.length ?? 0;
  }

  // --- authentication ----------------------------------------------------------

  async putChallenge(challengeId: string, value: string, ttlMs: number): Promise<void> {
    checkId(challengeId, 'challengeId');
    checkDuration(ttlMs, 'ttlMs');
    this.journal.check();
    const now = this.now();
    this.challenges.set(challengeId, value, now + ttlMs, now);
  }

  async takeChallenge(challengeId: string): Promise<string | null> {
    checkId(challengeId, 'challengeId');
    this.journal.check();
    return this.challenges.take(challengeId, this.now()) ?? null;
  }

  async putSocketTicket(ticketHash: string, value: string, ttlMs: number): Promise<void> {
    checkId(ticketHash, 'ticketHash');
    checkDuration(ttlMs, 'ttlMs');
    this.journal.check();
    const now = this.now();
    this.socketTickets.set(ticketHash, value, now + ttlMs, now);
  }

  async takeSocketTicket(ticketHash: string): Promise<string | null> {
    checkId(ticketHash, 'ticketHash');
    this.journal.check();
    return this.socketTickets.take(ticketHash, this.now()) ?? null;
  }

  async putSession(tokenHash: string, deviceId: string, ttlMs: number): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    checkId(deviceId, 'deviceId');
    checkDuration(ttlMs, 'ttlMs');
    this.journal.check();
    const session = { deviceId, expiresAt: this.now() + ttlMs };
    this.setSession(tokenHash, session);
    await this.journal.write([put(keys.session(tokenHash), json({ d: deviceId, e: session.expiresAt }))]);
  }

  async getSession(tokenHash: string): Promise<SessionRecord | null> {
    checkId(tokenHash, 'tokenHash');
    this.journal.check();
    const session = this.sessions.get(tokenHash);
    return session && session.expiresAt > this.now() ? { ...session } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    this.journal.check();
    const session = this.sessions.get(tokenHash);
    if (!session) return;
    this.dropSession(tokenHash, session.deviceId);
    await this.journal.write([del(keys.session(tokenHash))]);
  }

  async deleteDeviceSessions(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    const now = this.now();
    let ended = 0;
    const ops: JournalOp[] = [];
    for (const tokenHash of [...(this.deviceSessions.get(deviceId) ?? [])]) {
      const session = this.sessions.get(tokenHash);
      if (session && session.expiresAt > now) ended += 1;
      this.dropSession(tokenHash, deviceId);
      ops.push(del(keys.session(tokenHash)));
    }
    await this.journal.write(ops);
    return ended;
  }

  // --- rate limits (in memory: one process, windows of a minute) -----------------

  async hitRateLimit(key: string, windowMs: number, max: number): Promise<RateLimitResult> {
    checkRateKey(key);
    checkDuration(windowMs, 'windowMs');
    checkPositiveInt(max, 'max');
    this.journal.check();
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
    this.journal.check();
    const { messageId } = request;
    const now = this.now();
    const seen = this.seen.get(messageId);
    if (seen && seen.until > now) {
      const sameEnvelope = seen.fingerprint === request.fingerprint;
      // "Already stored" must not be said before the first copy is on disk.
      await this.journal.write([]);
      return { status: 'duplicate', sameEnvelope };
    }
    const full = recipients.filter((id) => (this.inboxes.get(id)?.size ?? 0) >= this.maxInboxLength);
    if (full.length > 0) return { status: 'inbox_full', deviceIds: full };

    // An id forgotten after the retention window whose envelope no sweep has taken yet: that one is over.
    const ops = this.envelopes.has(messageId) ? this.dropEnvelope(messageId) : [];
    const until = now + this.retentionMs;
    const expiresAt = Math.min(request.expiresAt, until);
    const blob = request.blob.slice();
    this.seen.set(messageId, { fingerprint: request.fingerprint, until });
    this.envelopes.set(messageId, { senderDeviceId: request.senderDeviceId, expiresAt, pending: new Set(recipients) });
    this.unwrittenBlobs.set(messageId, blob);
    ops.push(
      put(keys.seen(messageId), json({ f: request.fingerprint, u: until })),
      put(keys.envelope(messageId), json({ s: request.senderDeviceId, e: expiresAt })),
      put(keys.blob(messageId), blob),
    );
    for (const deviceId of recipients) {
      const seq = ++this.seq;
      mapOf(this.inboxes, deviceId).set(messageId, seq);
      ops.push(put(keys.inbox(deviceId, seq), textValue(messageId)));
    }
    try {
      await this.journal.write(ops);
    } finally {
      if (this.unwrittenBlobs.get(messageId) === blob) this.unwrittenBlobs.delete(messageId);
    }
    return { status: 'stored' };
  }

  async readInbox(deviceId: string, limit: number, skip?: InboxSkip): Promise<InboxItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    this.journal.check();
    const now = this.now();
    const due: Array<{ messageId: string; envelope: StoredEnvelope }> = [];
    for (const messageId of this.inboxes.get(deviceId)?.keys() ?? []) {
      if (due.length >= limit) break;
      if (skip?.has(messageId)) continue;
      const envelope = this.envelopes.get(messageId);
      if (envelope && envelope.expiresAt > now) due.push({ messageId, envelope });
    }
    // Bytes not yet written come from memory; the rest from disk, read now (an envelope acked meanwhile reads as gone).
    const fromDisk = due.filter((d) => !this.unwrittenBlobs.has(d.messageId)).map((d) => keys.blob(d.messageId));
    const diskBlobs = new Map(fromDisk.map((key, i) => [key, i]));
    const read = await this.journal.getMany(fromDisk);
    return due.flatMap(({ messageId, envelope }) => {
      const at = diskBlobs.get(keys.blob(messageId));
      const blob = at === undefined ? this.unwrittenBlobs.get(messageId)?.slice() : read[at];
      if (!blob) return [];
      // A plain Uint8Array over the bytes read (LevelDB hands out Buffers).
      const bytes = new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength);
      return [{ messageId, senderDeviceId: envelope.senderDeviceId, blob: bytes, expiresAt: envelope.expiresAt }];
    });
  }

  async ackDelivery(deviceId: string, messageId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkId(messageId, 'messageId');
    this.journal.check();
    const ops = this.removeFromInbox(deviceId, messageId);
    const released = this.releaseRecipient(messageId, deviceId, ops);
    await this.journal.write(ops);
    return released;
  }

  async inboxLength(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    return this.inboxes.get(deviceId)?.size ?? 0;
  }

  async deleteInbox(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    this.journal.check();
    const inbox = this.inboxes.get(deviceId);
    if (!inbox) return 0;
    const ops: JournalOp[] = [];
    for (const [messageId, seq] of inbox) {
      ops.push(del(keys.inbox(deviceId, seq)));
      this.releaseRecipient(messageId, deviceId, ops);
    }
    this.inboxes.delete(deviceId);
    await this.journal.write(ops);
    return inbox.size;
  }

  async takeExpired(now: number, limit: number): Promise<ExpiredItem[]> {
    checkTimestamp(now, 'now');
    checkBatchLimit(limit);
    this.journal.check();
    const due = [...this.envelopes.entries()]
      .filter(([, envelope]) => envelope.expiresAt <= now)
      .sort(([, a], [, b]) => a.expiresAt - b.expiresAt)
      .slice(0, limit);
    const items: ExpiredItem[] = [];
    const ops: JournalOp[] = [];
    for (const [messageId, envelope] of due) {
      for (const recipientDeviceId of [...envelope.pending].sort()) {
        items.push({ messageId, senderDeviceId: envelope.senderDeviceId, recipientDeviceId });
      }
      ops.push(...this.dropEnvelope(messageId));
    }
    await this.journal.write(ops);
    return items;
  }

  // --- kept notices -------------------------------------------------------------

  async putNotice(deviceId: string, noticeJson: string): Promise<string> {
    checkId(deviceId, 'deviceId');
    checkNoticeJson(noticeJson, MAX_NOTICE_BYTES);
    this.journal.check();
    const now = this.now();
    const ops: JournalOp[] = [];
    const list = this.liveNotices(deviceId, now, ops);
    const seq = ++this.seq;
    const notice: KeptNotice = { noticeId: `${now}-${seq}`, json: noticeJson, seq, expiresAt: now + this.retentionMs };
    list.push(notice);
    this.notices.set(deviceId, list);
    ops.push(put(keys.notice(deviceId, seq), json({ i: notice.noticeId, j: noticeJson, e: notice.expiresAt })));
    for (const dropped of list.splice(0, Math.max(0, list.length - MAX_NOTICES_PER_DEVICE))) ops.push(del(keys.notice(deviceId, dropped.seq)));
    await this.journal.write(ops);
    return notice.noticeId;
  }

  async readNotices(deviceId: string, limit: number): Promise<NoticeItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    this.journal.check();
    const now = this.now();
    return (this.notices.get(deviceId) ?? [])
      .filter((n) => n.expiresAt > now)
      .slice(0, limit)
      .map(({ noticeId, json: text }) => ({ noticeId, json: text }));
  }

  async ackNotice(deviceId: string, noticeId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkNoticeId(noticeId);
    this.journal.check();
    const ops: JournalOp[] = [];
    const list = this.liveNotices(deviceId, this.now(), ops);
    const at = list.findIndex((n) => n.noticeId === noticeId);
    const [acked] = at < 0 ? [] : list.splice(at, 1);
    if (acked) ops.push(del(keys.notice(deviceId, acked.seq)));
    if (list.length === 0) this.notices.delete(deviceId);
    await this.journal.write(ops);
    return acked !== undefined;
  }

  // --- upkeep --------------------------------------------------------------------

  /** Removes lapsed sessions, message ids and notices from memory and disk. */
  async prune(): Promise<void> {
    this.journal.check();
    const now = this.now();
    const ops: JournalOp[] = [];
    for (const [tokenHash, session] of this.sessions) {
      if (session.expiresAt > now) continue;
      this.dropSession(tokenHash, session.deviceId);
      ops.push(del(keys.session(tokenHash)));
    }
    for (const [messageId, seen] of this.seen) {
      // The replay memory outlives the envelope: an id is forgotten only once its envelope is gone.
      if (seen.until > now || this.envelopes.has(messageId)) continue;
      this.seen.delete(messageId);
      ops.push(del(keys.seen(messageId)));
    }
    for (const deviceId of [...this.notices.keys()]) {
      const list = this.liveNotices(deviceId, now, ops);
      if (list.length === 0) this.notices.delete(deviceId);
    }
    await this.journal.write(ops);
  }

  // --- internals -------------------------------------------------------------------

  /** Reads the whole database back into memory (envelope bytes excepted). */
  private async load(): Promise<void> {
    for await (const [key, value] of this.journal.scan(PREFIX.org)) this.orgs.set(key.slice(PREFIX.org.length), readText(value));
    for await (const [key, value] of this.journal.scan(PREFIX.orgHistory)) {
      listOf(this.orgHistory, keyParts(key, PREFIX.orgHistory)[0] ?? '').push(readText(value));
    }
    for await (const [key, value] of this.journal.scan(PREFIX.device)) {
      const record = JSON.parse(readText(value)) as { o: string; c: string };
      this.setDevice({ deviceId: key.slice(PREFIX.device.length), orgId: record.o, certJson: record.c });
    }
    for await (const [key, value] of this.journal.scan(PREFIX.revocation)) {
      listOf(this.revocations, keyParts(key, PREFIX.revocation)[0] ?? '').push(readText(value));
    }
    for await (const [key, value] of this.journal.scan(PREFIX.signedPrekeys)) this.signedPrekeys.set(key.slice(PREFIX.signedPrekeys.length), readText(value));
    for await (const [key, value] of this.journal.scan(PREFIX.oneTimePrekeyHighest)) {
      this.prekeyPool(key.slice(PREFIX.oneTimePrekeyHighest.length)).highestId = Number(readText(value));
    }
    for await (const [key, value] of this.journal.scan(PREFIX.oneTimePrekey)) {
      const [deviceId = '', id = ''] = keyParts(key, PREFIX.oneTimePrekey);
      this.prekeyPool(deviceId).items.push({ id: Number(id), json: readText(value) });
    }
    for await (const [key, value] of this.journal.scan(PREFIX.session)) {
      const record = JSON.parse(readText(value)) as { d: string; e: number };
      this.setSession(key.slice(PREFIX.session.length), { deviceId: record.d, expiresAt: record.e });
    }
    for await (const [key, value] of this.journal.scan(PREFIX.seen)) {
      const record = JSON.parse(readText(value)) as { f: string; u: number };
      this.seen.set(key.slice(PREFIX.seen.length), { fingerprint: record.f, until: record.u });
    }
    for await (const [key, value] of this.journal.scan(PREFIX.envelope)) {
      const record = JSON.parse(readText(value)) as { s: string; e: number };
      this.envelopes.set(key.slice(PREFIX.envelope.length), { senderDeviceId: record.s, expiresAt: record.e, pending: new Set() });
    }
    await this.loadInboxes();
    for await (const [key, value] of this.journal.scan(PREFIX.notice)) {
      const [deviceId = '', seq = ''] = keyParts(key, PREFIX.notice);
      const record = JSON.parse(readText(value)) as { i: string; j: string; e: number };
      listOf(this.notices, deviceId).push({ noticeId: record.i, json: record.j, expiresAt: record.e, seq: Number(seq) });
      this.seq = Math.max(this.seq, Number(seq));
    }
  }

  /** Inbox entries, in arrival order per device; they also say which recipients each envelope still waits for. */
  private async loadInboxes(): Promise<void> {
    const orphans: JournalOp[] = [];
    for await (const [key, value] of this.journal.scan(PREFIX.inbox)) {
      const [deviceId = '', seqText = ''] = keyParts(key, PREFIX.inbox);
      const messageId = readText(value);
      const seq = Number(seqText);
      this.seq = Math.max(this.seq, seq);
      const envelope = this.envelopes.get(messageId);
      if (!envelope) {
        orphans.push(del(key));
        continue;
      }
      envelope.pending.add(deviceId);
      mapOf(this.inboxes, deviceId).set(messageId, seq);
    }
    // Envelopes every recipient is done with (none should exist: each ack is one atomic batch).
    for (const [messageId, envelope] of this.envelopes) {
      if (envelope.pending.size === 0) orphans.push(...this.dropEnvelope(messageId));
    }
    await this.journal.write(orphans);
  }

  private setDevice(record: DeviceRecord): void {
    const previous = this.devices.get(record.deviceId);
    if (previous && previous.orgId !== record.orgId) this.orgDevices.get(previous.orgId)?.delete(record.deviceId);
    this.devices.set(record.deviceId, record);
    setOf(this.orgDevices, record.orgId).add(record.deviceId);
  }

  private setSession(tokenHash: string, session: SessionRecord): void {
    const previous = this.sessions.get(tokenHash);
    if (previous) this.deviceSessions.get(previous.deviceId)?.delete(tokenHash);
    this.sessions.set(tokenHash, session);
    setOf(this.deviceSessions, session.deviceId).add(tokenHash);
  }

  private dropSession(tokenHash: string, deviceId: string): void {
    this.sessions.delete(tokenHash);
    const index = this.deviceSessions.get(deviceId);
    index?.delete(tokenHash);
    if (index?.size === 0) this.deviceSessions.delete(deviceId);
  }

  private prekeyPool(deviceId: string): OneTimePrekeyPool {
    let pool = this.oneTimePrekeys.get(deviceId);
    if (!pool) this.oneTimePrekeys.set(deviceId, (pool = { items: [], highestId: -1 }));
    return pool;
  }

  /** The inbox entry's removal, if the device's inbox holds the message. */
  private removeFromInbox(deviceId: string, messageId: string): JournalOp[] {
    const inbox = this.inboxes.get(deviceId);
    const seq = inbox?.get(messageId);
    if (!inbox || seq === undefined) return [];
    inbox.delete(messageId);
    if (inbox.size === 0) this.inboxes.delete(deviceId);
    return [del(keys.inbox(deviceId, seq))];
  }

  /** Marks one recipient done with an envelope; frees the envelope after the last. */
  private releaseRecipient(messageId: string, deviceId: string, ops: JournalOp[]): boolean {
    const envelope = this.envelopes.get(messageId);
    if (!envelope || !envelope.pending.delete(deviceId)) return false;
    if (envelope.pending.size === 0) ops.push(...this.dropEnvelope(messageId));
    return true;
  }

  /** Removes an envelope, its bytes and every inbox entry still holding it (the replay memory stays). */
  private dropEnvelope(messageId: string): JournalOp[] {
    const envelope = this.envelopes.get(messageId);
    const ops: JournalOp[] = [del(keys.envelope(messageId)), del(keys.blob(messageId))];
    for (const deviceId of envelope?.pending ?? []) ops.push(...this.removeFromInbox(deviceId, messageId));
    this.envelopes.delete(messageId);
    this.unwrittenBlobs.delete(messageId);
    return ops;
  }

  /** The device's notices with lapsed ones dropped (their deletions added to `ops`). */
  private liveNotices(deviceId: string, now: number, ops: JournalOp[]): KeptNotice[] {
    const list = this.notices.get(deviceId) ?? [];
    const live = list.filter((n) => n.expiresAt > now);
    for (const lapsed of list.filter((n) => n.expiresAt <= now)) ops.push(del(keys.notice(deviceId, lapsed.seq)));
    if (live.length > 0) this.notices.set(deviceId, live);
    else this.notices.delete(deviceId);
    return live;
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

function listOf<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}
