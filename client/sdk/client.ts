/**
 * HandoverClient: one staff device. Enrolment, sign-in, the socket with
 * reconnect, sending to a case thread and receiving, prekey upkeep and the
 * local encrypted store. Runs in Node and in browsers (storage injected).
 *
 * Receiving is strictly: open -> verify chain and revocation -> dedupe ->
 * persist -> ack. The relay deletes an envelope only after that ack, so a
 * crash at any point means the envelope is delivered again, and dedupe by
 * message id makes the second delivery harmless.
 */
import { authSigningInput } from '../../shared/api';
import { createEnrolmentRequest, trustAnchor, verifyDeviceChain } from '../../shared/certificates';
import type { Crypto, PwhashLimits } from '../../shared/crypto/types';
import { PWHASH_MODERATE } from '../../shared/crypto/types';
import {
  type DeviceKeys,
  type RecipientKeys,
  createDeviceKeys,
  generateOneTimePrekeys,
  publicSignedPrekeys,
  pruneOldPrekeys,
  rotateSignedPrekeys,
  verifyBundle,
} from '../../shared/device-keys';
import { fromB64u, fromUtf8, toB64u, utf8 } from '../../shared/encoding';
import { MAX_CLOCK_SKEW_MS, openEnvelope, parseEnvelope, sealEnvelope } from '../../shared/envelope';
import { type ErrorCode, HandoverError, isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson } from '../../shared/keystore';
import { type DeviceCertificate, type EnrolmentRequest, type OrgCertificate, orgOfDeviceId } from '../../shared/schemas';
import type { Delivery, WireEnvelope } from '../../shared/socket-events';
import { relayErrorFrom } from '../../shared/relay-errors';
import { type ClientSocket, SocketConnection } from './connection';
import { MessageStore } from './message-store';
import { type FailedMessage, MessageBody, type StoredMessage } from './messages';
import { RelayApi } from './relay-api';
import type { KeyValueStorage } from './storage';
import { TrustStore } from './trust';
import { Vault } from './vault';
import { DAY_MS, DEFAULT_RETENTION_MS } from '../../shared/time';

export const SIGNED_PREKEY_ROTATION_MS = 7 * DAY_MS;
export const ONE_TIME_PREKEY_BATCH = 100;

/**
 * Failures of an envelope itself: it can never be opened, however often it
 * comes, so it is acknowledged (removed from the relay) and recorded. Every
 * other failure — the relay or network (UNAVAILABLE, RATE_LIMITED, INTERNAL,
 * UNAUTHENTICATED), a sender the relay does not serve yet (UNTRUSTED_KEY),
 * a rolled-back revocation list, local storage — is not the message's
 * fault: it stays in the inbox and is tried again (review finding 4).
 */
const ENVELOPE_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BAD_REQUEST',
  'BAD_SIGNATURE',
  'DECRYPT_FAILED',
  'REPLAY',
  'STALE_MESSAGE',
  'NOT_RECIPIENT',
  'REVOKED',
  'EXPIRED',
]);
/** Retries of an envelope that could not be processed yet: 0.5 s doubling up to this. */
const RETRY_MAX_MS = 30_000;
/** When this device first noticed each one-time prekey had left the relay (see pruneHandedOutPrekeys). */
const HANDED_OUT_RECORD = 'prekeys/handed-out';

export interface ClientOptions {
  crypto: Crypto;
  storage: KeyValueStorage;
  /** Relay base URL, e.g. http://127.0.0.1:8080 (saved in the profile on create). */
  serverUrl?: string;
  now?: () => number;
  /** Argon2id cost; tests inject cheap limits, production keeps the default. */
  pwhashLimits?: PwhashLimits;
  /** How long to wait for a send acknowledgement before retrying. */
  ackTimeoutMs?: number;
}

interface Profile {
  orgId: string;
  deviceId: string;
  label: string;
  rootPublicKey: string;
  serverUrl: string;
  orgCertificate?: OrgCertificate;
  deviceCertificate?: DeviceCertificate;
  registered: boolean;
  retentionMs: number;
}

export interface SendInput {
  threadId: string;
  /** Participant orgs of the thread (the sender's own org is added automatically). */
  orgIds: string[];
  payload: unknown;
}

type Events = {
  message: (message: StoredMessage) => void;
  failed: (failure: FailedMessage) => void;
  delivered: (notice: { messageId: string; recipientDeviceId: string }) => void;
  expired: (notice: { messageId: string; recipientDeviceIds: string[] }) => void;
  connection: (state: 'connected' | 'disconnected') => void;
};

export class HandoverClient {
  readonly api: RelayApi;
  readonly trust: TrustStore;
  private socket: ClientSocket | undefined;
  /** The reconnect loop behind `socket`. */
  private connection: SocketConnection | undefined;
  private readonly listeners: { [K in keyof Events]: Set<Events[K]> } = {
    message: new Set(),
    failed: new Set(),
    delivered: new Set(),
    expired: new Set(),
    connection: new Set(),
  };
  /** Deliveries are processed one at a time, in arrival order. */
  private inbound: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly messages: MessageStore;
  /** Envelopes left in the inbox after a transient failure, waiting to be tried again. */
  private readonly retries = new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> }>();

  private constructor(
    /** The app's one crypto instance (the case layer hashes with it too). */
    readonly crypto: Crypto,
    private readonly vault: Vault,
    private profile: Profile,
    private keys: DeviceKeys,
    private readonly options: ClientOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.messages = new MessageStore(vault);
    this.api = new RelayApi(options.serverUrl ?? profile.serverUrl);
    this.trust = new TrustStore(trustAnchor(crypto, fromB64u(profile.rootPublicKey)), this.api, vault, this.now);
  }

  /* ------------------------------------------------------------ profile -- */

  /** Create device keys in a new local profile and return the enrolment request for the org admin. */
  static async createProfile(
    options: ClientOptions & { passphrase: string; orgId: string; deviceId: string; label: string; rootPublicKey: string; serverUrl: string },
  ): Promise<{ client: HandoverClient; enrolmentRequest: EnrolmentRequest }> {
    const { crypto } = options;
    const vault = await Vault.openOrCreate(crypto, options.storage, options.passphrase, options.pwhashLimits ?? PWHASH_MODERATE);
    if (await vault.get('profile')) throw new HandoverError('BAD_REQUEST', 'this profile already holds a device');
    const keys = createDeviceKeys(crypto, { deviceId: options.deviceId, orgId: options.orgId });
    const profile: Profile = {
      orgId: options.orgId,
      deviceId: options.deviceId,
      label: options.label,
      rootPublicKey: options.rootPublicKey,
      serverUrl: options.serverUrl,
      registered: false,
      retentionMs: DEFAULT_RETENTION_MS,
    };
    const client = new HandoverClient(crypto, vault, profile, keys, options);
    await client.saveKeys();
    await client.saveProfile();
    return { client, enrolmentRequest: client.enrolmentRequest() };
  }

  static async open(options: ClientOptions & { passphrase: string }): Promise<HandoverClient> {
    const vault = await Vault.unlock(options.crypto, options.storage, options.passphrase);
    const profile = (await vault.get('profile')) as Profile | undefined;
    const keysJson = await vault.get('device-keys');
    if (!profile || !keysJson) throw new HandoverError('KEYSTORE_CORRUPT', 'the profile is incomplete');
    const client = new HandoverClient(options.crypto, vault, profile, deviceKeysFromJson(keysJson), options);
    await client.trust.load();
    if (profile.orgCertificate && !client.trust.pinned(profile.orgId)) await client.trust.pinOwnOrg(profile.orgCertificate);
    return client;
  }

  get deviceId(): string {
    return this.profile.deviceId;
  }
  get orgId(): string {
    return this.profile.orgId;
  }
  get certificates(): { org?: OrgCertificate; device?: DeviceCertificate } {
    return { org: this.profile.orgCertificate, device: this.profile.deviceCertificate };
  }
  get signPublicKey(): Uint8Array {
    return this.keys.sign.publicKey;
  }
  /** Seal this profile under a new passphrase (the old one stops working; the records stay as they are). */
  async changePassphrase(passphrase: string, limits: PwhashLimits = this.options.pwhashLimits ?? PWHASH_MODERATE): Promise<void> {
    await this.vault.changePassphrase(passphrase, limits);
  }

  /** How many one-time prekey private halves this device still holds (diagnostics). */
  get oneTimePrekeysHeld(): number {
    return this.keys.oneTimePrekeys.size;
  }

  enrolmentRequest(): EnrolmentRequest {
    return createEnrolmentRequest(this.crypto, {
      orgId: this.profile.orgId,
      deviceId: this.profile.deviceId,
      label: this.profile.label,
      signKeyPair: this.keys.sign,
      dhPublicKey: this.keys.identity.publicKey,
      createdAt: this.now(),
    });
  }

  /** Import the certificates the org admin issued; they must chain to the pinned root and match our keys. */
  async importCertificates(orgCertificate: unknown, deviceCertificate: unknown): Promise<void> {
    const { org, device } = verifyDeviceChain(this.trust.anchor, orgCertificate, deviceCertificate, { now: this.now() });
    if (
      device.deviceId !== this.profile.deviceId ||
      device.orgId !== this.profile.orgId ||
      device.signPublicKey !== toB64u(this.keys.sign.publicKey) ||
      device.dhPublicKey !== toB64u(this.keys.identity.publicKey)
    ) {
      throw new HandoverError('UNTRUSTED_KEY', 'this certificate is not for this device\'s keys');
    }
    this.profile = { ...this.profile, orgCertificate: org, deviceCertificate: device };
    await this.saveProfile();
    await this.trust.pinOwnOrg(org);
  }

  /** Register the certified device with the relay, with fresh prekeys. */
  async register(): Promise<void> {
    const { deviceCertificate } = this.profile;
    if (!deviceCertificate) throw new HandoverError('BAD_REQUEST', 'import the device certificate first');
    const network = await this.api.network();
    if (network.rootPublicKey !== this.profile.rootPublicKey) {
      throw new HandoverError('UNTRUSTED_KEY', 'the relay serves another network than the one this profile pins');
    }
    const { signedPrekey, pqPrekey } = this.keys.currentSignedPrekeyId === undefined
      ? rotateSignedPrekeys(this.crypto, this.keys, this.now())
      : publicSignedPrekeys(this.crypto, this.keys);
    const oneTimePrekeys = generateOneTimePrekeys(this.crypto, this.keys, ONE_TIME_PREKEY_BATCH, this.now());
    await this.saveKeys();
    await this.api.registerDevice({ certificate: deviceCertificate, signedPrekey, pqPrekey, oneTimePrekeys });
    this.profile = { ...this.profile, registered: true, retentionMs: network.limits.retentionMs };
    await this.saveProfile();
  }

  /* ------------------------------------------------------------ session -- */

  /** Challenge-response sign-in; the token lives in memory only. */
  async signIn(): Promise<void> {
    const network = await this.api.network();
    const { challengeId, challenge } = await this.api.challenge(this.profile.deviceId);
    const input = authSigningInput({ networkId: network.networkId, deviceId: this.profile.deviceId, challengeId, challenge });
    const signature = toB64u(this.crypto.sign(input, this.keys.sign.privateKey));
    const { token } = await this.api.session(this.profile.deviceId, challengeId, signature);
    this.api.setToken(token);
    await this.trust.refresh();
    await this.maintainPrekeys();
  }

  /** Rotate the signed prekeys weekly and keep the relay's one-time prekeys topped up. */
  async maintainPrekeys(): Promise<void> {
    const current = this.keys.currentSignedPrekeyId === undefined ? undefined : this.keys.signedPrekeys.get(this.keys.currentSignedPrekeyId);
    if (!current || this.now() - current.createdAt >= SIGNED_PREKEY_ROTATION_MS) {
      const { signedPrekey, pqPrekey } = rotateSignedPrekeys(this.crypto, this.keys, this.now());
      pruneOldPrekeys(this.keys, this.now(), this.profile.retentionMs + SIGNED_PREKEY_ROTATION_MS);
      await this.saveKeys();
      await this.api.uploadSignedPrekeys(signedPrekey, pqPrekey);
    }
    const status = await this.api.prekeyStatus();
    await this.pruneHandedOutPrekeys(status.oneTimePrekeys);
    if (status.oneTimePrekeys < ONE_TIME_PREKEY_BATCH / 4) await this.refillOneTimePrekeys();
  }

  /**
   * One-time prekey private halves that no message will ever use are
   * deleted. The relay hands them out lowest id first, so when it says it
   * holds `remaining`, every older unused one here was handed out (or
   * dropped). A sender seals right after it fetches, and the relay refuses
   * envelopes older than the retention window, so once that window (plus
   * clock skew) has passed since the handout was noticed, the private half
   * can only serve an attacker who seizes the device.
   */
  private async pruneHandedOutPrekeys(remaining: number): Promise<void> {
    const ids = [...this.keys.oneTimePrekeys.keys()].sort((a, b) => a - b);
    const handedOut = new Set(ids.slice(0, Math.max(0, ids.length - remaining)));
    const stored = await this.vault.get(HANDED_OUT_RECORD);
    const noticed = new Map<number, number>(Array.isArray(stored) ? (stored as Array<[number, number]>) : []);
    const now = this.now();
    let keysChanged = false;
    for (const id of [...noticed.keys()]) if (!handedOut.has(id)) noticed.delete(id);
    for (const id of handedOut) {
      const since = noticed.get(id);
      if (since === undefined) noticed.set(id, now);
      else if (now - since > this.profile.retentionMs + MAX_CLOCK_SKEW_MS) {
        const prekey = this.keys.oneTimePrekeys.get(id);
        if (prekey) this.crypto.wipe(prekey.keyPair.privateKey);
        this.keys.oneTimePrekeys.delete(id);
        noticed.delete(id);
        keysChanged = true;
      }
    }
    if (keysChanged) await this.saveKeys();
    await this.vault.put(HANDED_OUT_RECORD, [...noticed]);
  }

  async refillOneTimePrekeys(count = ONE_TIME_PREKEY_BATCH): Promise<void> {
    const prekeys = generateOneTimePrekeys(this.crypto, this.keys, count, this.now());
    await this.saveKeys(); // keep the private halves before the relay can hand out the public ones
    await this.api.uploadOneTimePrekeys(prekeys);
  }

  /**
   * Open the socket (sign in first). Every attempt, the first and each
   * reconnect, fetches a fresh single-use ticket over HTTP for the upgrade;
   * the connection reconnects with backoff by itself, signs in again when
   * the session ends, and stops for good on REVOKED or close().
   */
  async connect(): Promise<void> {
    if (!this.api.hasToken) await this.signIn();
    this.connection?.close();
    const connection = new SocketConnection(this.api.baseUrl, {
      ticket: () => this.api.socketTicket(),
      signIn: async () => {
        this.api.setToken(undefined);
        await this.signIn();
      },
    });
    const socket = connection.socket;
    this.connection = connection;
    this.socket = socket;
    socket.on('envelope:deliver', (delivery) => {
      this.inbound = this.inbound.then(() => this.receive(delivery)).catch(() => undefined);
    });
    socket.on('envelope:delivered', (n) => this.emit('delivered', n));
    socket.on('envelope:expired', (n) => {
      const { noticeId, ...notice } = n;
      this.emit('expired', notice);
      // Handled: the relay may forget it (otherwise it comes again on the next connect; listeners see it again).
      if (typeof noticeId === 'string') void socket.timeout(10_000).emitWithAck('notice:ack', { noticeId }).catch(() => undefined);
    });
    socket.on('prekeys:low', () => {
      void this.refillOneTimePrekeys().catch(() => undefined);
    });
    socket.on('revocations:changed', () => {
      void this.trust.refresh().catch(() => undefined);
    });
    socket.on('connect', () => this.emit('connection', 'connected'));
    socket.on('disconnect', () => this.emit('connection', 'disconnected'));
    await connection.start(15_000);
  }

  /**
   * Fetch everything pending in this device's inbox and process it. The
   * relay emits the pending deliveries before it answers, and Socket.IO keeps
   * order on one connection, so when the answer arrives all are queued here.
   */
  async sync(): Promise<number> {
    const socket = this.socket;
    if (!socket) throw new HandoverError('UNAVAILABLE', 'not connected: call connect() first');
    const res = await socket.timeout(15_000).emitWithAck('inbox:sync');
    if (!res.ok) throw relayErrorFrom(res.error, 'the relay refused');
    await this.idle();
    return res.pending;
  }

  /** Wait until every delivery received so far has been processed. */
  async idle(): Promise<void> {
    let last: Promise<void>;
    do {
      last = this.inbound;
      await last;
    } while (last !== this.inbound);
  }

  async close(): Promise<void> {
    this.stopRetries();
    this.connection?.close();
    this.connection = undefined;
    this.socket = undefined;
    await this.idle();
  }

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  private emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const l of this.listeners[event]) (l as (...a: Parameters<Events[K]>) => void)(...args);
  }

  /* --------------------------------------------------------------- send -- */

  /**
   * Every current device of the thread's orgs and our own other devices,
   * verified. Each relay answer is bound to the question (review finding 1):
   * the org certificate must be the org asked for, under the key this
   * device pinned for it, and every bundle a device of that org.
   */
  async recipientsFor(orgIds: readonly string[]): Promise<RecipientKeys[]> {
    const out: RecipientKeys[] = [];
    const now = this.now();
    for (const orgId of new Set([...orgIds, this.profile.orgId])) {
      const answer = await this.api.bundles(orgId);
      if (answer.org.orgId !== orgId) {
        throw new HandoverError('UNTRUSTED_KEY', `the relay answered with org ${answer.org.orgId} when asked for ${orgId}; nothing was sent`);
      }
      const org = await this.trust.admitOrg(answer.org);
      const seen = new Set<string>();
      for (const bundle of answer.bundles) {
        const { deviceId } = bundle.certificate;
        if (bundle.certificate.orgId !== orgId || orgOfDeviceId(deviceId) !== orgId) {
          throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} among the devices of ${orgId}; nothing was sent`);
        }
        if (seen.has(deviceId)) throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} twice; nothing was sent`);
        seen.add(deviceId);
        if (deviceId === this.profile.deviceId) continue;
        out.push(
          verifyBundle(this.trust.anchor, org, bundle, {
            now,
            revocations: this.trust.revocationStatus(),
            maxPrekeyAgeMs: this.maxPrekeyAgeMs(),
            maxClockSkewMs: MAX_CLOCK_SKEW_MS,
          }),
        );
      }
    }
    return out;
  }

  /**
   * A recipient keeps old signed-prekey private halves for the retention
   * window plus one rotation; a prekey older than that could not be opened
   * (and would mean a device that stopped rotating), so senders refuse it.
   */
  private maxPrekeyAgeMs(): number {
    return this.profile.retentionMs + SIGNED_PREKEY_ROTATION_MS;
  }

  /**
   * Seal and send a message to a thread. Handles the relay's device-set
   * refusal by refetching bundles (a device joined or left), and retries a
   * lost acknowledgement with the very same envelope (the relay dedupes).
   */
  async send(input: SendInput): Promise<StoredMessage> {
    const [stored] = await this.sendAll([input]);
    if (!stored) throw new HandoverError('INTERNAL', 'nothing was sent');
    return stored;
  }

  /**
   * Send several messages of one action (a referral, its overrides and
   * supplements) in order, resolving the recipients once for all of them:
   * one bundle fetch per org per action, not per message. A one-time prekey
   * is used by the first envelope to its device only (the device deletes
   * its private half on first use); later ones rest on the signed prekey.
   */
  async sendAll(inputs: readonly SendInput[]): Promise<StoredMessage[]> {
    const own = this.profile.orgId;
    const allOrgs = [...new Set([...inputs.flatMap((i) => i.orgIds), own])];
    let recipients = await this.recipientsFor(allOrgs);
    const oneTimeUsed = new Set<string>();
    const out: StoredMessage[] = [];
    for (const input of inputs) {
      const orgIds = [...new Set([...input.orgIds, own])];
      const body = utf8(JSON.stringify(MessageBody.parse({ v: 1, threadId: input.threadId, orgIds, payload: input.payload })));
      for (let attempt = 0; ; attempt++) {
        const mine = recipients
          .filter((r) => orgIds.includes(r.orgId))
          .map((r) => (oneTimeUsed.has(r.deviceId) ? withoutOneTimePrekey(r) : r));
        if (mine.length === 0) throw new HandoverError('BAD_REQUEST', 'no recipient device is registered in these orgs');
        const sentAt = this.now();
        const envelope = sealEnvelope(this.crypto, {
          sender: { deviceId: this.profile.deviceId, signPrivateKey: this.keys.sign.privateKey, identity: this.keys.identity },
          recipients: mine,
          threadId: input.threadId,
          sentAt,
          body,
        });
        try {
          await this.emitSend(envelope);
        } catch (err) {
          if (isHandoverError(err, 'DEVICE_SET_MISMATCH') && attempt < 2) {
            recipients = await this.recipientsFor(allOrgs);
            oneTimeUsed.clear();
            continue;
          }
          throw err;
        }
        for (const r of mine) if (r.oneTimePrekey) oneTimeUsed.add(r.deviceId);
        const stored: StoredMessage = {
          messageId: envelope.header.messageId,
          threadId: input.threadId,
          orgIds,
          senderDeviceId: this.profile.deviceId,
          senderOrgId: own,
          recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
          sentAt,
          receivedAt: sentAt,
          direction: 'out',
          payload: input.payload,
        };
        await this.messages.add(stored);
        out.push(stored);
        break;
      }
    }
    return out;
  }

  private async emitSend(envelope: WireEnvelope): Promise<void> {
    const socket = this.socket;
    if (!socket) throw new HandoverError('UNAVAILABLE', 'not connected: call connect() first');
    const timeout = this.options.ackTimeoutMs ?? 10_000;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await socket.timeout(timeout).emitWithAck('envelope:send', envelope);
        if (res.ok) return;
        // Only the signed-in sender can hit its own message id again: an earlier
        // attempt was stored and its ack was lost, so the send did succeed.
        if (res.error.code === 'REPLAY' && res.error.details?.alreadyAccepted === true) return;
        if (res.error.code !== 'UNAVAILABLE') throw relayErrorFrom(res.error, 'the relay refused');
        // A busy relay says when to come back; otherwise back off.
        const retryAfterMs = Number(res.error.details?.retryAfterMs);
        if (Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
          await new Promise((r) => setTimeout(r, Math.min(retryAfterMs, 30_000) * (1 + Math.random() / 2)));
          continue;
        }
      } catch (err) {
        if (isHandoverError(err)) throw err;
        // No ack in time: the same envelope again is safe (idempotent by message id).
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw new HandoverError('UNAVAILABLE', 'the relay did not accept the message; it was not sent');
  }

  /* ------------------------------------------------------------ receive -- */

  /**
   * Open, verify, persist, then ack. An envelope that failed in itself is
   * acked and recorded; one that met a relay, network or storage problem is
   * left in the inbox and tried again with backoff, and shown meanwhile as
   * "could not open yet" (never acked, dropped or reported delivered).
   */
  private async receive(delivery: Delivery): Promise<void> {
    // Whatever arrived is attacker text until parsed: read the ids defensively for the failure record.
    const raw: { header?: unknown } = typeof delivery === 'object' && delivery !== null && typeof delivery.envelope === 'object' && delivery.envelope !== null ? delivery.envelope : {};
    const header = typeof raw.header === 'object' && raw.header !== null ? (raw.header as { messageId?: unknown; senderDeviceId?: unknown }) : {};
    let messageId = typeof header.messageId === 'string' && header.messageId.length <= 64 ? header.messageId : 'unknown';
    try {
      const envelope = parseEnvelope({ ...delivery.envelope, ciphertext: toUint8Array(delivery.envelope.ciphertext) });
      messageId = envelope.header.messageId;
      if (await this.messages.hasSeen(envelope.header.threadId, messageId)) {
        this.cancelRetry(messageId);
        await this.ack(messageId); // a redelivery after a lost ack
        return;
      }
      const stored = await this.open(envelope);
      // Persist first (keys only when a one-time prekey was used up, then the message), then ack.
      if (stored.usedOneTimePrekey) await this.saveKeys();
      await this.messages.add(stored.message);
      this.cancelRetry(messageId);
      await this.ack(messageId);
      this.emit('message', stored.message);
    } catch (err) {
      const code: ErrorCode = isHandoverError(err) ? err.code : 'INTERNAL';
      const final = ENVELOPE_FAILURES.has(code);
      const failure: FailedMessage = {
        messageId,
        senderDeviceId: typeof header.senderDeviceId === 'string' ? header.senderDeviceId.slice(0, 200) : 'unknown',
        receivedAt: this.now(),
        code,
        reason: err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500),
        pending: !final,
      };
      await this.messages.recordFailure(failure).catch(() => undefined); // recording is best effort; the outcome below is not
      if (final) {
        this.cancelRetry(messageId);
        // Acked but not stored: an id the relay made up must never stop the genuine envelope later.
        if (messageId !== 'unknown') await this.ack(messageId);
      } else if (messageId !== 'unknown') {
        this.scheduleRetry(messageId, delivery);
      }
      this.emit('failed', failure);
    }
  }

  /** Everything that makes an envelope a message, or a typed error saying why not. */
  private async open(envelope: ReturnType<typeof parseEnvelope>): Promise<{ message: StoredMessage; usedOneTimePrekey: boolean }> {
    const sender = await this.trust.device(envelope.header.senderDeviceId);
    const opened = openEnvelope(this.crypto, {
      envelope,
      recipient: this.keys,
      sender: { signPublicKey: sender.signPublicKey, identityKey: sender.identityKey },
      now: this.now(),
      maxAgeMs: this.profile.retentionMs,
    });
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(opened.body));
    } catch {
      throw new HandoverError('DECRYPT_FAILED', 'the message body is not JSON');
    }
    const body = MessageBody.safeParse(json);
    if (!body.success || body.data.threadId !== envelope.header.threadId) {
      throw new HandoverError('DECRYPT_FAILED', 'the message body is not a valid Handover message');
    }
    const message: StoredMessage = {
      messageId: envelope.header.messageId,
      threadId: body.data.threadId,
      orgIds: body.data.orgIds,
      senderDeviceId: envelope.header.senderDeviceId,
      senderOrgId: sender.org.orgId,
      recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
      sentAt: envelope.header.sentAt,
      receivedAt: this.now(),
      direction: 'in',
      payload: body.data.payload,
    };
    return { message, usedOneTimePrekey: opened.usedOneTimePrekeyId !== undefined };
  }

  private scheduleRetry(messageId: string, delivery: Delivery): void {
    const previous = this.retries.get(messageId);
    if (previous) clearTimeout(previous.timer);
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = Math.min(RETRY_MAX_MS, 500 * 2 ** Math.min(attempts - 1, 10)) * (1 + Math.random() / 4);
    const timer = setTimeout(() => {
      if (!this.retries.has(messageId)) return;
      this.inbound = this.inbound.then(() => this.receive(delivery)).catch(() => undefined);
    }, delay);
    timer.unref?.();
    this.retries.set(messageId, { attempts, timer });
  }

  private cancelRetry(messageId: string): void {
    const entry = this.retries.get(messageId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.retries.delete(messageId);
  }

  private stopRetries(): void {
    for (const { timer } of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
  }

  private async ack(messageId: string): Promise<void> {
    // An ack the relay did not take (it is down) is harmless: it delivers the envelope again and dedupe drops it.
    await this.socket?.timeout(10_000).emitWithAck('envelope:ack', { messageId }).catch(() => undefined);
  }

  /* ------------------------------------------------------ local storage -- */

  /** Every message of a thread this device holds, oldest first. */
  threadMessages(threadId: string): Promise<StoredMessage[]> {
    return this.messages.threadMessages(threadId);
  }

  threadIds(): Promise<string[]> {
    return this.messages.threadIds();
  }

  /** How many messages this device holds per thread. */
  threadCounts(): Promise<Record<string, number>> {
    return this.messages.threadCounts();
  }

  /** Envelopes that could not be opened: `pending` ones are still in the inbox and tried again. */
  failedMessages(): Promise<FailedMessage[]> {
    return this.messages.failedMessages();
  }

  /** Delete everything this device holds about a thread (consent withdrawal). */
  purgeThread(threadId: string): Promise<number> {
    return this.messages.purgeThread(threadId);
  }

  /** Application state kept encrypted next to the messages (e.g. the referral layer's). */
  async putRecord(name: string, value: unknown): Promise<void> {
    await this.vault.put(`app/${name}`, value);
  }
  async getRecord(name: string): Promise<unknown> {
    return this.vault.get(`app/${name}`);
  }
  async deleteRecord(name: string): Promise<void> {
    await this.vault.delete(`app/${name}`);
  }

  private async saveKeys(): Promise<void> {
    await this.vault.put('device-keys', deviceKeysToJson(this.keys));
  }
  private async saveProfile(): Promise<void> {
    await this.vault.put('profile', this.profile);
  }
}

function withoutOneTimePrekey(r: RecipientKeys): RecipientKeys {
  const { oneTimePrekey: _used, ...rest } = r;
  return rest;
}

/** Socket.IO hands binary over as Buffer (Node) or ArrayBuffer (browser). */
export function toUint8Array(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new HandoverError('BAD_REQUEST', 'ciphertext is not binary');
}
