/**
 * The relay's storage interfaces: one per concern, and `RelayStore`, their
 * union, with three implementations:
 * `RedisStore` (shared by any number of relay processes, durable),
 * `EmbeddedStore` (one process, durable on local disk: the default without
 * Redis) and `MemoryStore` (tests only: nothing survives a restart).
 *
 * Values are opaque: certificate, revocation and prekey JSON strings the
 * caller has already verified, and envelope bytes. The store knows nothing
 * about crypto and never sees a plaintext, a key or a session token (the
 * caller passes a hash of the token).
 *
 * Every method may reject with `HandoverError('UNAVAILABLE')` when the
 * backing storage cannot be reached, and with `HandoverError('BAD_REQUEST')`
 * when an id is malformed (see `validate.ts`).
 */

export type StoreKind = 'redis' | 'embedded' | 'memory';

export interface StoreOptions {
  /** Clock in ms since the epoch; injectable so tests can use a fake one. */
  now?: () => number;
  /** How long message ids are remembered (replay protection) and the longest an envelope may wait. */
  retentionMs?: number;
  /** Most envelopes one device inbox may hold; `enqueue` refuses beyond it. */
  maxInboxLength?: number;
}

export interface DeviceRecord {
  deviceId: string;
  orgId: string;
  certJson: string;
}

export type RevocationAppendResult = { status: 'appended' } | { status: 'conflict'; head: number };

export interface RevocationRecord {
  issuerId: string;
  seq: number;
  json: string;
}

export interface OneTimePrekeyItem {
  id: number;
  json: string;
}

export type AddOneTimePrekeysResult =
  /** `added` counts new ids; ids already held or handed out before are ignored. */
  | { status: 'ok'; added: number; count: number }
  /** Nothing was added: the batch would take the device beyond the cap. */
  | { status: 'over_cap'; count: number; cap: number };

export interface SessionRecord {
  deviceId: string;
  expiresAt: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Hits left in the current window after this one. */
  remaining: number;
  /** 0 when allowed; otherwise ms until the window resets. */
  retryAfterMs: number;
}

/** Message ids a reader already holds (a Set, or the keys of a Map). */
export type InboxSkip = Pick<ReadonlySet<string>, 'has' | 'size'>;

export interface EnqueueRequest {
  messageId: string;
  /**
   * What identifies this very envelope (the relay passes a hash of its signed
   * header): kept with the replay memory of the message id, so a second
   * enqueue can tell a retry of the same envelope from another envelope
   * reusing the id.
   */
  fingerprint: string;
  senderDeviceId: string;
  recipientDeviceIds: readonly string[];
  blob: Uint8Array;
  /** Ms since the epoch; clamped to now + retention. */
  expiresAt: number;
}

export type EnqueueResult =
  /** Written to every recipient inbox (durable under the store's durability setting). */
  | { status: 'stored' }
  /**
   * This message id was already accepted within the retention window; nothing
   * changed. `sameEnvelope`: the accepted one had this fingerprint (a retry),
   * not another envelope under the same id.
   */
  | { status: 'duplicate'; sameEnvelope: boolean }
  /** Refused before anything was written: these recipient inboxes are at their cap. */
  | { status: 'inbox_full'; deviceIds: string[] };

export interface InboxItem {
  messageId: string;
  senderDeviceId: string;
  blob: Uint8Array;
  expiresAt: number;
}

export interface ExpiredItem {
  messageId: string;
  senderDeviceId: string;
  recipientDeviceId: string;
}

/** Opening and closing the storage; every store has these. */
export interface StoreLifecycle {
  readonly kind: StoreKind;
  /** Resolves when the storage answers; rejects with UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Registered org and device certificates (the relay's directory). */
export interface DirectoryStore {
  /**
   * Insert or replace (a re-issued certificate) an organisation's current
   * certificate. Every certificate ever put also joins the org's history,
   * which nothing removes (not a replacement, a revocation or an expiry).
   */
  putOrg(orgId: string, certJson: string): Promise<void>;
  getOrg(orgId: string): Promise<string | null>;
  /** Every certificate ever put for the org, oldest first, each once; empty for an unknown org. */
  listOrgHistory(orgId: string): Promise<string[]>;
  /** Every org certificate, ordered by org id. */
  listOrgs(): Promise<string[]>;
  /** Insert or replace a device; moving it to another org updates both orgs' lists. */
  putDevice(deviceId: string, orgId: string, certJson: string): Promise<void>;
  getDevice(deviceId: string): Promise<DeviceRecord | null>;
  /** Device ids of an org, sorted. */
  listOrgDeviceIds(orgId: string): Promise<string[]>;
  /** Devices of an org, ordered by device id. */
  listOrgDevices(orgId: string): Promise<DeviceRecord[]>;
}

/** The append-only revocation list, one sequence per issuer. */
export interface RevocationStore {
  /** Appends only when `seq` is the issuer's current head + 1 (atomic). */
  appendRevocation(issuerId: string, seq: number, json: string): Promise<RevocationAppendResult>;
  /** All revocations ordered by issuer id, then seq. */
  listRevocations(): Promise<RevocationRecord[]>;
  /** Highest seq appended for the issuer; 0 when none. */
  revocationHead(issuerId: string): Promise<number>;
}

/** Each device's signed prekeys and its pool of one-time prekeys. */
export interface PrekeyStore {
  /** The device's current signed prekey and post-quantum prekey, as one JSON string. */
  setSignedPrekeys(deviceId: string, json: string): Promise<void>;
  getSignedPrekeys(deviceId: string): Promise<string | null>;
  /**
   * Adds one-time prekeys. Only ids above every id this device uploaded
   * before are taken, so a retried upload can never put back a prekey that
   * was already handed out. Refuses the whole batch beyond `cap`.
   */
  addOneTimePrekeys(deviceId: string, items: readonly OneTimePrekeyItem[], cap: number): Promise<AddOneTimePrekeysResult>;
  /** Atomically takes the lowest-id prekey; never hands one out twice. */
  popOneTimePrekey(deviceId: string): Promise<OneTimePrekeyItem | null>;
  countOneTimePrekeys(deviceId: string): Promise<number>;
}

/** Sign-in state: single-use challenges and socket tickets, and sessions (all by hash where secret). */
export interface SessionStore {
  putChallenge(challengeId: string, value: string, ttlMs: number): Promise<void>;
  /** Atomic get-and-delete: a challenge is returned at most once. */
  takeChallenge(challengeId: string): Promise<string | null>;
  putSession(tokenHash: string, deviceId: string, ttlMs: number): Promise<void>;
  /** A socket ticket (by its hash) and what it stands for, until its ttl. */
  putSocketTicket(ticketHash: string, value: string, ttlMs: number): Promise<void>;
  /** Atomic get-and-delete: a ticket is returned at most once. */
  takeSocketTicket(ticketHash: string): Promise<string | null>;
  getSession(tokenHash: string): Promise<SessionRecord | null>;
  deleteSession(tokenHash: string): Promise<void>;
  /** Ends every session of a device (revocation); returns how many. */
  deleteDeviceSessions(deviceId: string): Promise<number>;
}

/** Fixed-window counters shared by every relay process. */
export interface RateLimitStore {
  /** Counts one hit in a fixed window; atomic across relay processes. */
  hitRateLimit(key: string, windowMs: number, max: number): Promise<RateLimitResult>;
}

/**
 * Store-and-forward: each envelope stored once, its id in every recipient
 * inbox until acked, and the replay memory of message ids (kept by
 * `enqueue` for the retention window).
 */
export interface InboxStore {
  /**
   * Stores the envelope once and its id in every recipient inbox; resolves
   * only after every inbox write. Idempotent by message id, which is
   * remembered for the retention window even after delivery. If an earlier
   * call for the same id died half-way, this call completes it ('stored').
   */
  enqueue(request: EnqueueRequest): Promise<EnqueueResult>;
  /**
   * Pending, unexpired envelopes, oldest first; they stay until acked.
   * Ids in `skip` (envelopes already in flight to the reader) are passed
   * over without reading their bodies and do not count towards `limit`.
   */
  readInbox(deviceId: string, limit: number, skip?: InboxSkip): Promise<InboxItem[]>;
  /** True if the envelope was pending for this device; frees it after the last recipient. */
  ackDelivery(deviceId: string, messageId: string): Promise<boolean>;
  inboxLength(deviceId: string): Promise<number>;
  /** Drops a (revoked) device's inbox; returns how many envelopes it held. */
  deleteInbox(deviceId: string): Promise<number>;
}

/** Envelopes whose retention ran out before every recipient acked them. */
export interface ExpiryStore {
  /**
   * Takes up to `limit` messages whose expiry is at or before `now` and
   * returns one item per recipient that had not acked. Each expiry is
   * returned once, even with several relay processes calling at once.
   * Call again until it returns an empty list.
   */
  takeExpired(now: number, limit: number): Promise<ExpiredItem[]>;
}

/** Notices the relay keeps for a device until it acks them (today: expiry notices). */
export interface NoticeStore {
  /**
   * Keeps a notice (JSON the relay wrote, e.g. an expiry) for a device until
   * it acks it, for the retention window; at most MAX_NOTICES_PER_DEVICE per
   * device (the oldest go first). Returns the notice id.
   */
  putNotice(deviceId: string, json: string): Promise<string>;
  /** The device's kept notices, oldest first. */
  readNotices(deviceId: string, limit: number): Promise<NoticeItem[]>;
  /** True if the notice was kept for this device and is now gone. */
  ackNotice(deviceId: string, noticeId: string): Promise<boolean>;
}

/**
 * The whole store, as both implementations provide it. Code that uses the
 * store depends on the narrow interfaces above that it needs, so a reader
 * sees at a glance what each service may touch.
 */
export interface RelayStore
  extends StoreLifecycle,
    DirectoryStore,
    RevocationStore,
    PrekeyStore,
    SessionStore,
    RateLimitStore,
    InboxStore,
    ExpiryStore,
    NoticeStore {}

export interface NoticeItem {
  noticeId: string;
  json: string;
}

export const MAX_NOTICES_PER_DEVICE = 1000;
export const MAX_NOTICE_BYTES = 64 * 1024;

export { DEFAULT_RETENTION_MS } from '../../shared';
export const DEFAULT_MAX_INBOX_LENGTH = 10_000;
