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
import type { Crypto, PwhashLimits } from '../../shared/crypto/sodium';
import { PWHASH_MODERATE } from '../../shared/crypto/sodium';
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
import { openEnvelope, parseEnvelope, sealEnvelope } from '../../shared/envelope';
import { HandoverError, isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson } from '../../shared/keystore';
import type { DeviceCertificate, EnrolmentRequest, OrgCertificate } from '../../shared/schemas';
import type { Delivery, WireEnvelope, WireError } from '../../shared/socket-events';
import { type ClientSocket, SocketConnection } from './connection';
import { type FailedMessage, MessageBody, type StoredMessage } from './messages';
import { RelayApi } from './relay-api';
import type { KeyValueStorage } from './storage';
import { TrustStore } from './trust';
import { Vault } from './vault';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const SIGNED_PREKEY_ROTATION_MS = 7 * DAY_MS;
export const ONE_TIME_PREKEY_BATCH = 100;

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

  private constructor(
    private readonly crypto: Crypto,
    private readonly vault: Vault,
    private profile: Profile,
    private keys: DeviceKeys,
    private readonly options: ClientOptions,
  ) {
    this.now = options.now ?? Date.now;
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
      retentionMs: 30 * DAY_MS,
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
    if (status.oneTimePrekeys < ONE_TIME_PREKEY_BATCH / 4) await this.refillOneTimePrekeys();
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
    if (!res.ok) throw wireError(res.error);
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

  /** Every current device of the thread's orgs and our own other devices, verified. */
  async recipientsFor(orgIds: readonly string[]): Promise<RecipientKeys[]> {
    const out: RecipientKeys[] = [];
    for (const orgId of new Set([...orgIds, this.profile.orgId])) {
      const { org, bundles } = await this.api.bundles(orgId);
      for (const bundle of bundles) {
        if (bundle.certificate.deviceId === this.profile.deviceId) continue;
        out.push(verifyBundle(this.trust.anchor, org, bundle, { now: this.now(), revocations: this.trust.revocationStatus() }));
      }
    }
    return out;
  }

  /**
   * Seal and send a message to a thread. Handles the relay's device-set
   * refusal by refetching bundles (a device joined or left), and retries a
   * lost acknowledgement with the very same envelope (the relay dedupes).
   */
  async send(input: SendInput): Promise<StoredMessage> {
    const orgIds = [...new Set([...input.orgIds, this.profile.orgId])];
    const body = MessageBody.parse({ v: 1, threadId: input.threadId, orgIds, payload: input.payload });
    for (let attempt = 0; ; attempt++) {
      const recipients = await this.recipientsFor(orgIds);
      if (recipients.length === 0) throw new HandoverError('BAD_REQUEST', 'no recipient device is registered in these orgs');
      const sentAt = this.now();
      const envelope = sealEnvelope(this.crypto, {
        sender: { deviceId: this.profile.deviceId, signPrivateKey: this.keys.sign.privateKey, identity: this.keys.identity },
        recipients,
        threadId: input.threadId,
        sentAt,
        body: utf8(JSON.stringify(body)),
      });
      try {
        await this.emitSend(envelope);
      } catch (err) {
        if (isHandoverError(err, 'DEVICE_SET_MISMATCH') && attempt < 2) continue;
        throw err;
      }
      const stored: StoredMessage = {
        messageId: envelope.header.messageId,
        threadId: input.threadId,
        orgIds,
        senderDeviceId: this.profile.deviceId,
        senderOrgId: this.profile.orgId,
        recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
        sentAt,
        receivedAt: sentAt,
        direction: 'out',
        payload: input.payload,
      };
      await this.storeMessage(stored);
      return stored;
    }
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
        if (res.error.code !== 'UNAVAILABLE') throw wireError(res.error);
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

  private async receive(delivery: Delivery): Promise<void> {
    const wire = { ...delivery.envelope, ciphertext: toUint8Array(delivery.envelope.ciphertext) };
    let messageId = 'unknown';
    try {
      const envelope = parseEnvelope(wire);
      messageId = envelope.header.messageId;
      if (await this.vault.get(`seen/${messageId}`)) {
        await this.ack(messageId); // a redelivery after a lost ack
        return;
      }
      const sender = await this.trust.device(envelope.header.senderDeviceId);
      const opened = openEnvelope(this.crypto, {
        envelope,
        recipient: this.keys,
        sender: { signPublicKey: sender.signPublicKey, identityKey: sender.identityKey },
        now: this.now(),
        maxAgeMs: this.profile.retentionMs,
      });
      const body = MessageBody.safeParse(JSON.parse(fromUtf8(opened.body)));
      if (!body.success || body.data.threadId !== envelope.header.threadId) {
        throw new HandoverError('DECRYPT_FAILED', 'the message body is not a valid Handover message');
      }
      const stored: StoredMessage = {
        messageId,
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
      // Persist first (keys without the used one-time prekey, the message, the seen mark), then ack.
      await this.saveKeys();
      await this.storeMessage(stored);
      await this.ack(messageId);
      this.emit('message', stored);
    } catch (err) {
      if (isHandoverError(err, 'UNAVAILABLE')) return; // leave it in the inbox; it comes again
      const failure: FailedMessage = {
        messageId,
        senderDeviceId: typeof wire.header === 'object' && wire.header ? String(wire.header.senderDeviceId) : 'unknown',
        receivedAt: this.now(),
        code: isHandoverError(err) ? err.code : 'DECRYPT_FAILED',
        reason: err instanceof Error ? err.message : String(err),
      };
      await this.vault.put(`failed/${failure.receivedAt}-${messageId}`, failure);
      if (messageId !== 'unknown') await this.ack(messageId);
      this.emit('failed', failure);
    }
  }

  private async ack(messageId: string): Promise<void> {
    const res = await this.socket?.timeout(10_000).emitWithAck('envelope:ack', { messageId }).catch(() => undefined);
    if (res && !res.ok && res.error.code === 'UNAVAILABLE') {
      // The relay will deliver it again; dedupe makes that harmless.
    }
  }

  /* ------------------------------------------------------ local storage -- */

  private async storeMessage(message: StoredMessage): Promise<void> {
    await this.vault.put(`seen/${message.messageId}`, message.receivedAt);
    await this.vault.put(`threads/${message.threadId}/${String(message.sentAt).padStart(15, '0')}-${message.messageId}`, message);
  }

  /** Every message of a thread this device holds, oldest first. */
  async threadMessages(threadId: string): Promise<StoredMessage[]> {
    const names = await this.vault.list(`threads/${threadId}/`);
    const out: StoredMessage[] = [];
    for (const name of names) out.push((await this.vault.get(name)) as StoredMessage);
    return out;
  }

  async threadIds(): Promise<string[]> {
    const names = await this.vault.list('threads/');
    return [...new Set(names.map((n) => n.split('/')[1] ?? ''))].filter(Boolean);
  }

  async failedMessages(): Promise<FailedMessage[]> {
    const names = await this.vault.list('failed/');
    return Promise.all(names.map(async (n) => (await this.vault.get(n)) as FailedMessage));
  }

  /** Delete everything this device holds about a thread (consent withdrawal). */
  async purgeThread(threadId: string): Promise<number> {
    const names = await this.vault.list(`threads/${threadId}/`);
    for (const name of names) await this.vault.delete(name);
    return names.length;
  }

  /** Application state kept encrypted next to the messages (e.g. the referral layer's). */
  async putRecord(name: string, value: unknown): Promise<void> {
    await this.vault.put(`app/${name}`, value);
  }
  async getRecord(name: string): Promise<unknown> {
    return this.vault.get(`app/${name}`);
  }

  private async saveKeys(): Promise<void> {
    await this.vault.put('device-keys', deviceKeysToJson(this.keys));
  }
  private async saveProfile(): Promise<void> {
    await this.vault.put('profile', this.profile);
  }
}

function wireError(error: WireError): HandoverError {
  return new HandoverError(error.code, error.message, error.details);
}

/** Socket.IO hands binary over as Buffer (Node) or ArrayBuffer (browser). */
export function toUint8Array(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new HandoverError('BAD_REQUEST', 'ciphertext is not binary');
}
