/**
 * Redis store: shared by every relay process. Atomic steps are Lua scripts
 * over keys with one hash tag (see redis-keys.ts); steps that span tags
 * (an envelope and its recipients' inboxes) are ordered and idempotent, so
 * a retry after a crash or a lost reply finishes the job instead of
 * duplicating it.
 *
 * Durability is Redis's: with `appendfsync always` a resolved write survives
 * a crash of Redis; with `everysec` the last second may be lost.
 *
 * Fail fast: commands are not queued while disconnected and are not retried,
 * so a Redis outage surfaces at once as `UNAVAILABLE`; the client keeps
 * reconnecting in the background and calls succeed again when Redis is back.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { HandoverError, isHandoverError, DAY_MS } from '../../shared';
import { fixedWindow, rateLimitResult } from './rate-limit';
import { type RedisKeys, redisKeys } from './redis-keys';
import * as scripts from './redis-scripts';
import type { LuaScript } from './redis-scripts';
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

/** The subset of a pino logger the store uses. */
export interface StoreLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface RedisStoreOptions extends StoreOptions {
  url: string;
  /** Prepended to every key; default `ho:`. */
  keyPrefix?: string;
  /** A command with no reply by then fails with UNAVAILABLE; default 5000. */
  commandTimeoutMs?: number;
  /** How long `connect` waits for the first connection; default 10000. */
  connectTimeoutMs?: number;
  /**
   * How long an undelivered envelope may outlive its expiry before Redis
   * drops it on its own, in case no relay ran `takeExpired`; default 1 day.
   */
  expiryGraceMs?: number;
  logger?: StoreLogger;
}

type Arg = string | number | Buffer;


export class RedisStore implements RelayStore {
  readonly kind = 'redis' as const;
  private readonly keys: RedisKeys;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly maxInboxLength: number;
  private readonly expiryGraceMs: number;

  private constructor(
    private readonly redis: Redis,
    options: RedisStoreOptions,
  ) {
    this.keys = redisKeys(options.keyPrefix ?? 'ho:');
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxInboxLength = options.maxInboxLength ?? DEFAULT_MAX_INBOX_LENGTH;
    this.expiryGraceMs = options.expiryGraceMs ?? DAY_MS;
  }

  /** Connects and waits for Redis to be ready; rejects with UNAVAILABLE if it is not within the timeout. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    redisKeys(options.keyPrefix ?? 'ho:'); // refuses a bad prefix before connecting
    const redis = new Redis(options.url, {
      lazyConnect: true,
      // Fail fast: no queueing while disconnected, and commands in flight when
      // the connection drops are rejected rather than replayed later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      // ioredis arms this timer even for a socket that is already closed; keep shutdown short.
      disconnectTimeout: 500,
      // Commands issued in the same tick share one socket write (measured: ~0.1 ms per envelope saved).
      enableAutoPipelining: true,
    });
    watchConnection(redis, options.logger);
    try {
      await waitUntilReady(redis, options.connectTimeoutMs ?? 10_000);
    } catch (err) {
      redis.disconnect();
      throw unavailable(err);
    }
    return new RedisStore(redis, options);
  }

  async ping(): Promise<void> {
    await this.guard(() => this.redis.ping());
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  // --- directory -------------------------------------------------------------

  async putOrg(orgId: string, certJson: string): Promise<void> {
    checkId(orgId, 'orgId');
    await this.run(scripts.PUT_ORG, [this.keys.orgs, this.keys.orgHistory(orgId)], [orgId, certJson]);
  }

  async listOrgHistory(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    return this.guard(() => this.redis.lrange(this.keys.orgHistory(orgId), 0, -1));
  }

  async getOrg(orgId: string): Promise<string | null> {
    checkId(orgId, 'orgId');
    return this.guard(() => this.redis.hget(this.keys.orgs, orgId));
  }

  async listOrgs(): Promise<string[]> {
    const all = await this.guard(() => this.redis.hgetall(this.keys.orgs));
    return Object.keys(all)
      .sort()
      .map((id) => all[id] ?? '');
  }

  async putDevice(deviceId: string, orgId: string, certJson: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    checkId(orgId, 'orgId');
    await this.run(scripts.PUT_DEVICE, [this.keys.deviceCerts, this.keys.deviceOrgs, this.keys.orgMembers], [deviceId, orgId, certJson]);
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    checkId(deviceId, 'deviceId');
    const [orgId, certJson] = await this.guard(() =>
      Promise.all([this.redis.hget(this.keys.deviceOrgs, deviceId), this.redis.hget(this.keys.deviceCerts, deviceId)]),
    );
    return orgId && certJson !== null ? { deviceId, orgId, certJson } : null;
  }

  async listOrgDeviceIds(orgId: string): Promise<string[]> {
    checkId(orgId, 'orgId');
    // Ids never contain ':', and ';' is the next character: this range is exactly "<orgId>:*".
    const members = await this.guard(() => this.redis.zrangebylex(this.keys.orgMembers, `[${orgId}:`, `(${orgId};`));
    return members.map((member) => member.slice(orgId.length + 1));
  }

  async listOrgDevices(orgId: string): Promise<DeviceRecord[]> {
    const ids = await this.listOrgDeviceIds(orgId);
    if (ids.length === 0) return [];
    const certs = await this.guard(() => this.redis.hmget(this.keys.deviceCerts, ...ids));
    return ids.flatMap((deviceId, i) => {
      const certJson = certs[i];
      return typeof certJson === 'string' ? [{ deviceId, orgId, certJson }] : [];
    });
  }

  // --- revocations -----------------------------------------------------------

  async appendRevocation(issuerId: string, seq: number, json: string): Promise<RevocationAppendResult> {
    checkId(issuerId, 'issuerId');
    checkPositiveInt(seq, 'seq');
    const reply = await this.run(scripts.APPEND_REVOCATION, [this.keys.revocationHeads, this.keys.revocationLog(issuerId)], [issuerId, seq, json]);
    const [appended, head] = integers(reply, 2);
    return appended === 1 ? { status: 'appended' } : { status: 'conflict', head: head ?? 0 };
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    const heads = await this.guard(() => this.redis.hgetall(this.keys.revocationHeads));
    const issuers = Object.keys(heads).sort();
    const logs = await this.guard(() => Promise.all(issuers.map((id) => this.redis.lrange(this.keys.revocationLog(id), 0, -1))));
    return issuers.flatMap((issuerId, i) => (logs[i] ?? []).map((json, j) => ({ issuerId, seq: j + 1, json })));
  }

  async revocationHead(issuerId: string): Promise<number> {
    checkId(issuerId, 'issuerId');
    const head = await this.guard(() => this.redis.hget(this.keys.revocationHeads, issuerId));
    return head === null ? 0 : Number(head);
  }

  // --- prekeys ---------------------------------------------------------------

  async setSignedPrekeys(deviceId: string, json: string): Promise<void> {
    checkId(deviceId, 'deviceId');
    await this.guard(() => this.redis.set(this.keys.signedPrekeys(deviceId), json));
  }

  async getSignedPrekeys(deviceId: string): Promise<string | null> {
    checkId(deviceId, 'deviceId');
    return this.guard(() => this.redis.get(this.keys.signedPrekeys(deviceId)));
  }

  async addOneTimePrekeys(deviceId: string, items: readonly OneTimePrekeyItem[], cap: number): Promise<AddOneTimePrekeysResult> {
    checkPrekeyItems(deviceId, items, cap);
    const k = this.keys;
    const sorted = [...items].sort((a, b) => a.id - b.id);
    const reply = await this.run(
      scripts.ADD_ONE_TIME_PREKEYS,
      [k.oneTimePrekeys(deviceId), k.oneTimePrekeyIds(deviceId), k.oneTimePrekeyHighest(deviceId)],
      [cap, ...sorted.flatMap((item) => [item.id, item.json])],
    );
    const [ok, first, second] = integers(reply, 2);
    return ok === 1 ? { status: 'ok', added: first ?? 0, count: second ?? 0 } : { status: 'over_cap', count: first ?? 0, cap };
  }

  async popOneTimePrekey(deviceId: string): Promise<OneTimePrekeyItem | null> {
    checkId(deviceId, 'deviceId');
    const reply = await this.run(scripts.POP_ONE_TIME_PREKEY, [this.keys.oneTimePrekeys(deviceId), this.keys.oneTimePrekeyIds(deviceId)], []);
    if (reply === null) return null;
    const [id, json] = strings(reply, 2);
    return { id: Number(id), json: json ?? '' };
  }

  async countOneTimePrekeys(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    return this.guard(() => this.redis.zcard(this.keys.oneTimePrekeyIds(deviceId)));
  }

  // --- authentication ----------------------------------------------------------
  // Values carry their expiry on the store's clock ("<expiresAt>:<value>");
  // Redis PX only sweeps them away afterwards.

  async putChallenge(challengeId: string, value: string, ttlMs: number): Promise<void> {
    checkId(challengeId, 'challengeId');
    checkDuration(ttlMs, 'ttlMs');
    const expiresAt = this.now() + ttlMs;
    await this.guard(() => this.redis.set(this.keys.challenge(challengeId), `${expiresAt}:${value}`, 'PX', ttlMs));
  }

  async takeChallenge(challengeId: string): Promise<string | null> {
    checkId(challengeId, 'challengeId');
    const stored = await this.guard(() => this.redis.getdel(this.keys.challenge(challengeId)));
    return this.unlessExpired(stored)?.value ?? null;
  }

  async putSocketTicket(ticketHash: string, value: string, ttlMs: number): Promise<void> {
    checkId(ticketHash, 'ticketHash');
    checkDuration(ttlMs, 'ttlMs');
    const expiresAt = this.now() + ttlMs;
    await this.guard(() => this.redis.set(this.keys.socketTicket(ticketHash), `${expiresAt}:${value}`, 'PX', ttlMs));
  }

  async takeSocketTicket(ticketHash: string): Promise<string | null> {
    checkId(ticketHash, 'ticketHash');
    const stored = await this.guard(() => this.redis.getdel(this.keys.socketTicket(ticketHash)));
    return this.unlessExpired(stored)?.value ?? null;
  }

  async putSession(tokenHash: string, deviceId: string, ttlMs: number): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    checkId(deviceId, 'deviceId');
    checkDuration(ttlMs, 'ttlMs');
    const expiresAt = this.now() + ttlMs;
    // Index first: a session is never live without deleteDeviceSessions being able to find it.
    await this.run(scripts.INDEX_SESSION, [this.keys.deviceSessions(deviceId)], [tokenHash, ttlMs]);
    await this.guard(() => this.redis.set(this.keys.session(tokenHash), `${expiresAt}:${deviceId}`, 'PX', ttlMs));
  }

  async getSession(tokenHash: string): Promise<SessionRecord | null> {
    checkId(tokenHash, 'tokenHash');
    const live = this.unlessExpired(await this.guard(() => this.redis.get(this.keys.session(tokenHash))));
    return live ? { deviceId: live.value, expiresAt: live.expiresAt } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    checkId(tokenHash, 'tokenHash');
    const stored = parseExpiring(await this.guard(() => this.redis.getdel(this.keys.session(tokenHash))));
    if (stored) await this.guard(() => this.redis.srem(this.keys.deviceSessions(stored.value), tokenHash));
  }

  async deleteDeviceSessions(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    const index = this.keys.deviceSessions(deviceId);
    const tokenHashes = await this.guard(() => this.redis.smembers(index));
    const ended = await this.guard(() => Promise.all(tokenHashes.map((hash) => this.redis.getdel(this.keys.session(hash)))));
    // Remove only what was read: a session added meanwhile stays findable.
    if (tokenHashes.length > 0) await this.guard(() => this.redis.srem(index, ...tokenHashes));
    return ended.filter((stored) => this.unlessExpired(stored)?.value === deviceId).length;
  }

  // --- rate limits -------------------------------------------------------------

  async hitRateLimit(key: string, windowMs: number, max: number): Promise<RateLimitResult> {
    checkRateKey(key);
    checkDuration(windowMs, 'windowMs');
    checkPositiveInt(max, 'max');
    const window = fixedWindow(this.now(), windowMs);
    // The counter outlives its window by one more window: Redis's clock need not match ours.
    const reply = await this.run(scripts.HIT_RATE_WINDOW, [this.keys.rateWindow(key, window.index)], [window.msToEnd + windowMs]);
    return rateLimitResult(Number(reply), max, window);
  }

  // --- store-and-forward ---------------------------------------------------------

  async enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    const recipients = checkEnqueue(request);
    const { messageId } = request;
    // What the replay memory keeps: the fingerprint, and which recipients it went to.
    const identity = `${recipientsDigest(recipients)}:${request.fingerprint}`;
    const now = this.now();
    const expiresAt = Math.min(request.expiresAt, now + this.retentionMs);
    const add = (deviceId: string, cap: number, shared: boolean) =>
      this.run(scripts.ENQUEUE_INBOX, this.inboxKeys(deviceId), [
        now,
        messageId,
        identity,
        cap,
        request.senderDeviceId,
        expiresAt,
        Math.max(1, expiresAt - now) + this.expiryGraceMs,
        now + this.retentionMs,
        this.retentionMs,
        shared ? '' : blobArg(request.blob),
        shared ? 'shared' : 'own',
      ]);
    // The expiry entries go in the same round trip as the inbox writes. NX:
    // a retry never moves an earlier schedule, and an entry scheduled by an
    // attempt that stored nothing is harmless (takeExpired finds no envelope,
    // or one not yet due, which it schedules again).
    const schedule = (deviceIds: readonly string[]) =>
      this.guard(() => this.redis.zadd(this.keys.expiries, 'NX', ...deviceIds.flatMap((id) => [expiresAt, expiryMember(messageId, id)])));

    if (recipients.length === 1) {
      // One inbox, holding the bytes too: the replay check, the cap and the write are one script, one round trip.
      const deviceId = recipients[0] ?? '';
      const [state] = await Promise.all([add(deviceId, this.maxInboxLength, false), schedule(recipients)]);
      if (state === 'full') return { status: 'inbox_full', deviceIds: [deviceId] };
      return enqueueResult([inboxState(state)]);
    }

    // Several inboxes: nothing is written unless every one can take it (no
    // other envelope holds the id, none is full), so first a read-only look
    // at all of them (one round trip); then the bytes, once (one more: they
    // are there before any inbox entry points at them); then one script per
    // inbox (one more). Inboxes that already hold this envelope (a retry of
    // a half-done enqueue) are left as they are. Concurrent senders can
    // overshoot the cap by a few: it bounds memory, it is not a quota.
    const peeked = await Promise.all(
      recipients.map(async (id) => inboxState(await this.run(scripts.PEEK_INBOX, this.inboxKeys(id), [now, messageId, identity, this.maxInboxLength]))),
    );
    if (peeked.includes('conflict')) return { status: 'duplicate', sameEnvelope: false };
    // This envelope went to another recipient set under this id: nothing is written.
    if (peeked.includes('moved')) return { status: 'duplicate', sameEnvelope: true };
    const full = recipients.filter((_, i) => peeked[i] === 'full');
    if (full.length > 0) return { status: 'inbox_full', deviceIds: full };
    const fresh = recipients.filter((_, i) => peeked[i] === 'new');
    if (fresh.length === 0) return { status: 'duplicate', sameEnvelope: true };
    const bodyTtlMs = Math.max(1, expiresAt - now) + this.expiryGraceMs;
    await this.run(scripts.KEEP_SHARED_BODY, [this.keys.envelope(messageId), this.keys.pending(messageId)], [bodyTtlMs, blobArg(request.blob), ...fresh]);
    const [added] = await Promise.all([Promise.all(fresh.map(async (id) => inboxState(await add(id, 0, true)))), schedule(fresh)]);
    // Inboxes peeked as already holding it count as 'stored' here: this call completed the enqueue.
    return enqueueResult(added.some((state) => state === 'stored') ? added : ['stored']);
  }

  async readInbox(deviceId: string, limit: number, skip?: InboxSkip): Promise<InboxItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    const inbox = this.keys.inbox(deviceId);
    const now = this.now();
    const items: InboxItem[] = [];
    let start = '-';
    while (items.length < limit) {
      const need = limit - items.length;
      // Skipped ids are usually the oldest entries: ask for enough to pass them in one read.
      const want = Math.min(need + (skip?.size ?? 0), 1000);
      const entries = await this.guard(() => this.redis.xrange(inbox, start, '+', 'COUNT', want));
      // Bodies are fetched only for the entries this call can return (one HMGET for all of them).
      const picked: Array<{ streamId: string; fields: InboxEntry }> = [];
      for (const [streamId, raw] of entries) {
        const fields = inboxEntry(raw);
        if (skip?.has(fields.messageId)) continue;
        picked.push({ streamId, fields });
        if (picked.length >= need) break;
      }
      // The bytes of all of them in one round trip: one HMGET for those kept in the inbox, one GET each for those kept once.
      // Entries written before bodies were kept with inboxes (only a message id) read the old envelope hash.
      const own = picked.filter(({ fields }) => fields.kind === 'own').map(({ fields }) => fields.messageId);
      const ownAt = new Map(own.map((id, i) => [id, i]));
      const ownRead = own.length === 0 ? Promise.resolve([]) : this.redis.hmgetBuffer(this.keys.inboxBodies(deviceId), ...own);
      const blobs = await this.guard(() =>
        Promise.all(
          picked.map(({ fields }): Promise<Buffer | null> => {
            if (fields.kind === 'own') return ownRead.then((bodies) => bodies[ownAt.get(fields.messageId) ?? -1] ?? null);
            if (fields.kind === 'shared') return this.redis.getBuffer(this.keys.envelope(fields.messageId));
            return this.readLegacy(fields);
          }),
        ),
      );
      for (const [i, { fields }] of picked.entries()) {
        const blob = blobs[i];
        if (!blob || !fields.senderDeviceId) {
          // A dangling entry (its bytes are gone): drop it.
          await this.removeFromInbox(deviceId, fields.messageId);
          continue;
        }
        if (fields.expiresAt <= now) continue; // takeExpired reports it to the sender
        items.push({ messageId: fields.messageId, senderDeviceId: fields.senderDeviceId, blob: new Uint8Array(blob), expiresAt: fields.expiresAt });
      }
      // Go on after the last entry looked at: the last picked one if the batch filled up, else the last read.
      const filled = picked.length >= need;
      const last = filled ? picked.at(-1)?.streamId : entries.at(-1)?.[0];
      if (!last || (!filled && entries.length < want)) break;
      start = `(${last}`;
    }
    return items;
  }

  async ackDelivery(deviceId: string, messageId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkId(messageId, 'messageId');
    // One round trip for the inbox entry (and bytes kept with it) and the
    // expiry entry; a second one for bytes kept once for several recipients.
    const [removed] = await Promise.all([
      this.removeFromInbox(deviceId, messageId),
      this.guard(() => this.redis.zrem(this.keys.expiries, expiryMember(messageId, deviceId))),
    ]);
    return removed;
  }

  async inboxLength(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    return this.guard(() => this.redis.xlen(this.keys.inbox(deviceId)));
  }

  async deleteInbox(deviceId: string): Promise<number> {
    checkId(deviceId, 'deviceId');
    const reply = strings(await this.run(scripts.DRAIN_INBOX, this.inboxKeys(deviceId).slice(0, 3), []), 0);
    const messageIds: string[] = [];
    const shared: string[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const id = reply[i] ?? '';
      messageIds.push(id);
      if (reply[i + 1] === 'shared') shared.push(id);
    }
    if (messageIds.length > 0) {
      await Promise.all([
        this.guard(() => this.redis.zrem(this.keys.expiries, ...messageIds.map((id) => expiryMember(id, deviceId)))),
        ...shared.map((id) => this.releaseShared(id, deviceId)),
      ]);
    }
    return messageIds.length;
  }

  async takeExpired(now: number, limit: number): Promise<ExpiredItem[]> {
    checkTimestamp(now, 'now');
    checkBatchLimit(limit);
    for (;;) {
      const members = strings(await this.run(scripts.CLAIM_DUE, [this.keys.expiries], [now, limit]), 0);
      const perMember = await Promise.all(members.map((member) => this.expireEntry(member, now)));
      const items = perMember.flat();
      // Envelopes acked in the meantime yield no items; keep going so
      // that an empty answer always means nothing more is due.
      if (items.length > 0 || members.length < limit) return items;
    }
  }

  // --- kept notices -------------------------------------------------------------

  async putNotice(deviceId: string, json: string): Promise<string> {
    checkId(deviceId, 'deviceId');
    checkNoticeJson(json, MAX_NOTICE_BYTES);
    // One script: the stream never outlives the retention window without its TTL.
    const id = await this.run(scripts.PUT_NOTICE, [this.keys.notices(deviceId)], [json, MAX_NOTICES_PER_DEVICE, this.retentionMs]);
    if (typeof id !== 'string') throw new HandoverError('INTERNAL', 'unexpected reply from storage');
    return id;
  }

  async readNotices(deviceId: string, limit: number): Promise<NoticeItem[]> {
    checkId(deviceId, 'deviceId');
    checkBatchLimit(limit);
    const entries = await this.guard(() => this.redis.xrange(this.keys.notices(deviceId), '-', '+', 'COUNT', limit));
    return entries.map(([noticeId, fields]) => ({ noticeId, json: fields[1] ?? '' }));
  }

  async ackNotice(deviceId: string, noticeId: string): Promise<boolean> {
    checkId(deviceId, 'deviceId');
    checkNoticeId(noticeId);
    return (await this.guard(() => this.redis.xdel(this.keys.notices(deviceId), noticeId))) > 0;
  }

  // --- internals -------------------------------------------------------------

  /** The five keys of a device inbox, in the order the inbox scripts take them. */
  private inboxKeys(deviceId: string): string[] {
    const k = this.keys;
    return [k.inbox(deviceId), k.inboxIndex(deviceId), k.inboxBodies(deviceId), k.replay(deviceId), k.replayDue(deviceId)];
  }

  /** Expires one recipient's copy of an envelope, if it is still pending and due. */
  private async expireEntry(member: string, now: number): Promise<ExpiredItem[]> {
    const slash = member.indexOf('/');
    if (slash < 0) return this.expireLegacy(member);
    const messageId = member.slice(0, slash);
    const recipientDeviceId = member.slice(slash + 1);
    if (!messageId || !recipientDeviceId) return [];
    const reply = await this.run(scripts.EXPIRE_INBOX_ENTRY, this.inboxKeys(recipientDeviceId).slice(0, 3), [messageId, now]);
    if (reply === null) return [];
    const [outcome = '', value = ''] = strings(reply, 2);
    if (outcome === 'later') {
      await this.guard(() => this.redis.zadd(this.keys.expiries, 'NX', Number(value), member));
      return [];
    }
    if (outcome === 'shared') await this.releaseShared(messageId, recipientDeviceId);
    return [{ messageId, senderDeviceId: value, recipientDeviceId }];
  }

  /** The bytes of an inbox entry from before 2026-12-06, filling in its sender and expiry; null if they are gone. */
  private async readLegacy(fields: InboxEntry): Promise<Buffer | null> {
    const [sender, exp, blob] = await this.redis.hmgetBuffer(this.keys.envelope(fields.messageId), 'sender', 'exp', 'blob');
    if (!sender || !exp || !blob) return null;
    fields.senderDeviceId = sender.toString();
    fields.expiresAt = Number(exp.toString());
    return blob;
  }

  /** An expiry scheduled before 2026-12-06 (the bare message id): every recipient that had not acked. */
  private async expireLegacy(messageId: string): Promise<ExpiredItem[]> {
    const k = this.keys;
    const reply = await this.run(scripts.EXPIRE_LEGACY_MESSAGE, [k.pending(messageId), k.envelope(messageId)], []);
    if (reply === null) return [];
    const [senderDeviceId = '', ...recipients] = strings(reply, 1);
    await Promise.all(recipients.map((id) => this.run(scripts.INBOX_REMOVE, this.inboxKeys(id).slice(0, 3), [messageId])));
    return recipients.sort().map((recipientDeviceId) => ({ messageId, senderDeviceId, recipientDeviceId }));
  }

  /** Takes a pending envelope out of an inbox (and its bytes, once no recipient needs them); true if it was there. */
  private async removeFromInbox(deviceId: string, messageId: string): Promise<boolean> {
    const removed = await this.run(scripts.INBOX_REMOVE, this.inboxKeys(deviceId).slice(0, 3), [messageId]);
    if (removed === 'shared') await this.releaseShared(messageId, deviceId);
    return removed !== null;
  }

  private async releaseShared(messageId: string, deviceId: string): Promise<void> {
    await this.run(scripts.RELEASE_SHARED_BODY, [this.keys.pending(messageId), this.keys.envelope(messageId)], [deviceId]);
  }

  private unlessExpired(stored: string | null): { expiresAt: number; value: string } | null {
    const parsed = parseExpiring(stored);
    return parsed && parsed.expiresAt > this.now() ? parsed : null;
  }

  /** Runs a script by hash, sending its text once if Redis does not know it (first use, or after a restart). */
  private async run(script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    if (keys.length !== script.keyCount) throw new HandoverError('INTERNAL', `script ${script.name} takes ${script.keyCount} keys`);
    return this.guard(async () => {
      try {
        return await this.redis.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return this.redis.eval(script.lua, keys.length, ...keys, ...args);
      }
    });
  }

  /** Every Redis failure leaves the store as UNAVAILABLE (the cause is kept for logs, never sent). */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      throw unavailable(err);
    }
  }
}

type InboxState = 'new' | 'stored' | 'duplicate' | 'moved' | 'conflict' | 'full';

function inboxState(reply: unknown): InboxState {
  if (reply === 'new' || reply === 'stored' || reply === 'duplicate' || reply === 'moved' || reply === 'conflict' || reply === 'full') return reply;
  throw new HandoverError('INTERNAL', 'unexpected reply from storage');
}

/** The enqueue answer from what each inbox script did: stored if any inbox took it now. */
function enqueueResult(states: readonly InboxState[]): EnqueueResult {
  if (states.includes('stored')) return { status: 'stored' };
  if (states.includes('conflict')) return { status: 'duplicate', sameEnvelope: false };
  return { status: 'duplicate', sameEnvelope: true };
}

/** A short digest of a recipient set (sorted), kept with the fingerprint in every inbox's replay memory. */
function recipientsDigest(recipients: readonly string[]): string {
  return createHash('sha256').update([...recipients].sort().join('\n')).digest('base64url').slice(0, 16);
}

/** A pending copy in the expiry set: ids never contain '/'. */
function expiryMember(messageId: string, deviceId: string): string {
  return `${messageId}/${deviceId}`;
}

interface InboxEntry {
  messageId: string;
  senderDeviceId: string;
  expiresAt: number;
  /**
   * Where the bytes are: 'own' in the inbox, 'shared' kept once for several
   * recipients (env:{m}), 'legacy' in the envelope hash relays before
   * 2026-12-06 wrote (env:{m} with sender, exp and blob; the entry holds only m).
   */
  kind: 'own' | 'shared' | 'legacy';
}

/** Reads a stream entry's fields (m, s, e, b); missing ones are empty. */
function inboxEntry(fields: readonly string[]): InboxEntry {
  const entry: InboxEntry = { messageId: '', senderDeviceId: '', expiresAt: 0, kind: 'own' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] ?? '';
    if (fields[i] === 'm') entry.messageId = value;
    else if (fields[i] === 's') entry.senderDeviceId = value;
    else if (fields[i] === 'e') entry.expiresAt = Number(value);
    else if (fields[i] === 'b' && value === 'shared') entry.kind = 'shared';
  }
  if (!entry.senderDeviceId) entry.kind = 'legacy';
  return entry;
}

/** Envelope bytes as ioredis sends them, without a copy. */
function blobArg(blob: Uint8Array): Buffer {
  return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
}

function unavailable(err: unknown): HandoverError {
  if (isHandoverError(err)) return err;
  const wrapped = new HandoverError('UNAVAILABLE', 'storage is unavailable, try again shortly');
  wrapped.cause = err;
  return wrapped;
}

function parseExpiring(stored: string | null): { expiresAt: number; value: string } | null {
  if (stored === null) return null;
  const colon = stored.indexOf(':');
  if (colon < 0) return null;
  return { expiresAt: Number(stored.slice(0, colon)), value: stored.slice(colon + 1) };
}

/** Reads a script's array reply of integers (at least `min` of them). */
function integers(reply: unknown, min: number): (number | undefined)[] {
  if (!Array.isArray(reply) || reply.length < min || !reply.every((v) => typeof v === 'number')) {
    throw new HandoverError('INTERNAL', 'unexpected reply from storage');
  }
  return reply as number[];
}

/** Reads a script's array reply of strings (at least `min` of them). */
function strings(reply: unknown, min: number): string[] {
  if (!Array.isArray(reply) || reply.length < min || !reply.every((v) => typeof v === 'string')) {
    throw new HandoverError('INTERNAL', 'unexpected reply from storage');
  }
  return reply as string[];
}

function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
    // A failed first attempt is retried by the retry strategy until the timer fires.
    redis.connect().catch(() => undefined);
  });
}

/** Logs connection changes once per change (not per retry), and keeps ioredis from printing unhandled errors. */
function watchConnection(redis: Redis, logger: StoreLogger | undefined): void {
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger?.warn({ err: err.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger?.info({}, 'redis connection restored');
    down = false;
  });
}
