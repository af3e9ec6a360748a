/**
 * HandoverClient: one staff device, the SDK's main object. Its profile
 * (keys and certificates in the encrypted vault), enrolment, sign-in and the
 * socket; sending and receiving (envelopes.ts) and prekey upkeep
 * (prekey-upkeep.ts) are their own small parts, which this facade wires to
 * the device's keys, relay API, trust store and message store. Runs in Node
 * and in browsers (storage injected).
 */
import {
  authSigningInput,
  createDeviceKeys,
  createEnrolmentRequest,
  type Crypto,
  DEFAULT_RETENTION_MS,
  type DeviceCertificate,
  type DeviceKeys,
  deviceKeysFromJson,
  deviceKeysToJson,
  type EnrolmentRequest,
  fromB64u,
  orgOfDeviceId,
  generateOneTimePrekeys,
  HandoverError,
  isHandoverError,
  type OrgCertificate,
  publicSignedPrekeys,
  PWHASH_MODERATE,
  type PwhashLimits,
  relayErrorFrom,
  rotateSignedPrekeys,
  toB64u,
  trustAnchor,
  verifyDeviceChain,
} from '../../shared';
import { type ClientSocket, SocketConnection } from './connection';
import { MessageStore } from './message-store';
import type { FailedMessage, StoredMessage } from './messages';
import { Inbound, Outbound, type SendInput } from './envelopes';
import { type BackupContents, type BackupSummary, checkBackupContents, collectBackup, PROFILE_RECORD, readBackup, restoreRecords, summaryOf, writeBackup } from './backup';
import { type DeliveryEntry, DeliveryLog } from './delivery';
import { HistoryShare, type HistoryProgress } from './history-share';
import { MAX_READ_PER_RECEIPT, type ReadReceipt, ReceiptBook } from './receipts';
import { ONE_TIME_PREKEY_BATCH, PrekeyUpkeep, SIGNED_PREKEY_ROTATION_MS } from './prekey-upkeep';
import { DEFAULT_RELAY_TIMEOUT_MS, RelayApi, relayTimeoutError } from './relay-api';
import type { KeyValueStorage } from './storage';
import { TrustStore } from './trust';
import { Vault } from './vault';

export { ONE_TIME_PREKEY_BATCH, SIGNED_PREKEY_ROTATION_MS } from './prekey-upkeep';
export type { SendInput } from './envelopes';

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
  /** How long any one relay call (HTTP, the socket's connect, the inbox sync) may go unanswered before it fails with UNAVAILABLE (default 10 s). */
  requestTimeoutMs?: number;
}

/**
 * What a client keeps of the options it was made with: only ClientOptions'
 * own fields. The static constructors take passphrases, a backup's text or
 * records in clear and storage keys in the same object; none of those stays
 * in memory with the client.
 */
function keptOptions(options: ClientOptions): ClientOptions {
  const { crypto, storage, serverUrl, now, pwhashLimits, ackTimeoutMs, requestTimeoutMs } = options;
  return {
    crypto,
    storage,
    ...(serverUrl !== undefined ? { serverUrl } : {}),
    ...(now !== undefined ? { now } : {}),
    ...(pwhashLimits !== undefined ? { pwhashLimits } : {}),
    ...(ackTimeoutMs !== undefined ? { ackTimeoutMs } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  };
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

type Events = {
  message: (message: StoredMessage) => void;
  failed: (failure: FailedMessage) => void;
  delivered: (notice: { messageId: string; recipientDeviceId: string }) => void;
  expired: (notice: { messageId: string; recipientDeviceIds: string[] }) => void;
  /** A signed read receipt from another org was recorded in the delivery log (`deliveryState` shows it). */
  opened: (receipt: { threadId: string; orgId: string; at: number }) => void;
  /** The socket is up, down (it retries by itself), or revoked: the relay refused this device or its org for good (no more attempts). */
  connection: (state: 'connected' | 'disconnected' | 'revoked') => void;
  /** A forwarded message of a history transfer arrived ("receiving history: 12 of 40"). */
  history: (progress: HistoryProgress) => void;
  /**
   * Background work failed (prekey refill, history sharing, the delivery
   * log, a notice): nothing was lost — each is retried on a later connect —
   * but an app shows or logs it rather than staying silent.
   */
  problem: (problem: BackgroundProblem) => void;
};

/** A failure of work the client does on its own, for the app to show. */
export interface BackgroundProblem {
  what: 'prekey-refill' | 'history-share' | 'delivery-log' | 'notice';
  code: string;
  message: string;
}

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
    history: new Set(),
    problem: new Set(),
    opened: new Set(),
  };
  private readonly now: () => number;
  private readonly messages: MessageStore;
  private readonly inbound: Inbound;
  private readonly outbound: Outbound;
  private readonly prekeys: PrekeyUpkeep;
  private readonly history: HistoryShare;
  private readonly delivery: DeliveryLog;
  private readonly receipts: ReceiptBook;
  /** Notices being recorded and acked (idle() waits for them). */
  private readonly noticeWork = new Set<Promise<void>>();

  /** The options the client uses later (keptOptions: never a passphrase, a backup or a key that came with them). */
  private readonly options: ClientOptions;

  private constructor(
    /** The app's one crypto instance (the case layer hashes with it too). */
    readonly crypto: Crypto,
    private readonly vault: Vault,
    private profile: Profile,
    private keys: DeviceKeys,
    options: ClientOptions,
  ) {
    this.options = keptOptions(options);
    this.now = options.now ?? Date.now;
    this.messages = new MessageStore(vault);
    this.api = new RelayApi(options.serverUrl ?? profile.serverUrl, undefined, { timeoutMs: options.requestTimeoutMs });
    this.trust = new TrustStore(trustAnchor(crypto, fromB64u(profile.rootPublicKey)), this.api, vault, this.now);
    const device = {
      crypto,
      keys: () => this.keys,
      now: () => this.now(),
      retentionMs: () => this.profile.retentionMs,
      saveKeys: () => this.saveKeys(),
    };
    this.delivery = new DeliveryLog(vault, () => this.now(), () => this.profile.retentionMs);
    this.receipts = new ReceiptBook(vault);
    this.inbound = new Inbound({
      ...device,
      trust: this.trust,
      messages: this.messages,
      socket: () => this.socket,
      onMessage: (message) => this.emit('message', message),
      onFailure: (failure) => this.emit('failed', failure),
      onReceipt: async (receipt) => {
        // A colleague's receipt: this org has receipted those already. Another org's: the sender sees "opened".
        if (receipt.fromOrgId === this.profile.orgId) await this.receipts.remember(receipt.read);
        else {
          await this.delivery.opened(receipt.threadId, receipt.read, { orgId: receipt.fromOrgId, deviceId: receipt.fromDeviceId }, receipt.at);
          this.emit('opened', { threadId: receipt.threadId, orgId: receipt.fromOrgId, at: receipt.at });
        }
      },
      onHistory: (progress) => {
        void this.history.recordProgress(progress).then((p) => this.emit('history', p));
      },
    });
    this.outbound = new Outbound({
      ...device,
      api: this.api,
      trust: this.trust,
      messages: this.messages,
      socket: () => this.socket,
      me: () => ({ deviceId: this.profile.deviceId, orgId: this.profile.orgId }),
      certificates: () => ({ device: this.profile.deviceCertificate, org: this.profile.orgCertificate }),
      onSent: (entry) => this.delivery.sent(entry).catch((err: unknown) => this.reportProblem('delivery-log', err)),
      // A recipient keeps old signed-prekey private halves for the retention window plus one rotation.
      maxPrekeyAgeMs: () => this.profile.retentionMs + SIGNED_PREKEY_ROTATION_MS,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
    });
    this.prekeys = new PrekeyUpkeep({ ...device, api: this.api, vault });
    this.history = new HistoryShare({
      crypto,
      trust: this.trust,
      messages: this.messages,
      vault,
      now: () => this.now(),
      me: () => ({
        deviceId: this.profile.deviceId,
        orgId: this.profile.orgId,
        ...(this.profile.deviceCertificate ? { certificate: this.profile.deviceCertificate } : {}),
        ...(this.profile.orgCertificate ? { orgCertificate: this.profile.orgCertificate } : {}),
      }),
      sendAll: (inputs) => this.sendAll(inputs),
    });
  }

  /* ------------------------------------------------------------ profile -- */

  /**
   * Create device keys in a new local profile and return the enrolment
   * request for the org admin. With a passphrase the vault is made (or
   * opened) here; an app that seals the keystore apart (the web app runs
   * Argon2id in a Web Worker: `Vault.sealNewKeystore`, `Vault.createSealed`)
   * passes the new vault instead.
   */
  static async createProfile(
    options: ClientOptions & { orgId: string; deviceId: string; label: string; rootPublicKey: string; serverUrl: string } & ({ passphrase: string } | { vault: Vault }),
  ): Promise<{ client: HandoverClient; enrolmentRequest: EnrolmentRequest }> {
    const { crypto } = options;
    const vault = 'vault' in options ? options.vault : await Vault.openOrCreate(crypto, options.storage, options.passphrase, options.pwhashLimits ?? PWHASH_MODERATE);
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

  /** Open the profile in `storage` with its passphrase, or with a vault the app has already unlocked (e.g. from a storage key a session agent kept). */
  static async open(options: ClientOptions & ({ passphrase: string } | { vault: Vault })): Promise<HandoverClient> {
    const vault = 'vault' in options ? options.vault : await Vault.unlock(options.crypto, options.storage, options.passphrase);
    const profile = (await vault.get('profile')) as Profile | undefined;
    const keysJson = await vault.get('device-keys');
    if (!profile || !keysJson) throw new HandoverError('KEYSTORE_CORRUPT', 'the profile is incomplete');
    const client = new HandoverClient(options.crypto, vault, profile, deviceKeysFromJson(keysJson), options);
    await client.trust.load();
    if (profile.orgCertificate && !client.trust.pinned(profile.orgId)) await client.trust.pinOwnOrg(profile.orgCertificate);
    return client;
  }

  /**
   * Make a profile on a new device from a backup (backup.ts): every record
   * comes back, under NEW device keys and a new device id, so the result is
   * a new device to enrol like any other (the lost one is revoked by the
   * org admin). `deviceId` is a full id or a bare name in the backed-up
   * org; the backed-up device's own id is refused. An app that runs the
   * two Argon2id apart (the web app: in a Web Worker, with `readBackup` and
   * `Vault.sealNewKeystore`) passes the opened `contents` and the
   * `sealedKeystore` pair instead of the backup's text and the passphrase;
   * the new vault is only written once the backup is found fit.
   */
  static async restoreProfile(
    options: ClientOptions & { deviceId: string; label?: string } & ({ passphrase: string } | { sealedKeystore: { sealed: string; storageKey: Uint8Array } }) &
      ({ backup: string; recoveryPassphrase: string } | { contents: BackupContents }),
  ): Promise<{ client: HandoverClient; enrolmentRequest: EnrolmentRequest; restored: BackupSummary }> {
    const { crypto } = options;
    const contents = 'contents' in options ? checkBackupContents(options.contents) : readBackup(crypto, options.backup, options.recoveryPassphrase);
    const old = contents.records.find(([name]) => name === PROFILE_RECORD)?.[1] as Omit<Profile, 'registered'> | undefined;
    if (!old || typeof old.orgId !== 'string') throw new HandoverError('BAD_REQUEST', 'this backup holds no staff device profile (an admin profile restores with restoreVault)');
    // A bare name joins the backed-up device's org.
    const deviceId = options.deviceId.includes(':') ? options.deviceId : `${old.orgId}:${options.deviceId}`;
    if (deviceId === old.deviceId) {
      throw new HandoverError('BAD_REQUEST', `a restored device needs a new device id, not ${old.deviceId}: two devices must never share an id or keys`);
    }
    if (orgOfDeviceId(deviceId) !== old.orgId) throw new HandoverError('BAD_REQUEST', `the device id must be one of ${old.orgId} (${old.orgId}:<name>)`);
    const vault =
      'sealedKeystore' in options
        ? await Vault.createSealed(crypto, options.storage, options.sealedKeystore.sealed, options.sealedKeystore.storageKey)
        : await Vault.create(crypto, options.storage, options.passphrase, options.pwhashLimits ?? PWHASH_MODERATE);
    await restoreRecords(vault, { ...contents, records: contents.records.filter(([name]) => name !== PROFILE_RECORD) });
    const profile: Profile = {
      orgId: old.orgId,
      deviceId,
      label: options.label ?? old.label,
      rootPublicKey: old.rootPublicKey,
      serverUrl: options.serverUrl ?? old.serverUrl,
      ...(old.orgCertificate ? { orgCertificate: old.orgCertificate } : {}),
      registered: false,
      retentionMs: old.retentionMs ?? DEFAULT_RETENTION_MS,
    };
    const client = new HandoverClient(crypto, vault, profile, createDeviceKeys(crypto, { deviceId, orgId: old.orgId }), options);
    await client.saveKeys();
    await client.saveProfile();
    await client.trust.load();
    return { client, enrolmentRequest: client.enrolmentRequest(), restored: summaryOf(contents) };
  }

  /**
   * Seal a backup of this profile under a recovery passphrase (not the
   * profile's own): everything but the device's keys. Waits for work in
   * hand first, so what was received is in it.
   */
  async backup(recoveryPassphrase: string, limits: PwhashLimits = this.options.pwhashLimits ?? PWHASH_MODERATE): Promise<{ text: string; summary: BackupSummary }> {
    await this.idle();
    return writeBackup(this.crypto, this.vault, recoveryPassphrase, limits, this.now());
  }

  /**
   * What backup() seals, not sealed yet, for an app that seals it elsewhere
   * (sealBackup in a Web Worker, so Argon2id does not freeze the page). It
   * is the profile in clear: keep it in memory only, and drop it once sealed.
   */
  async backupContents(): Promise<BackupContents> {
    await this.idle();
    return collectBackup(this.vault, this.now());
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

  /** Rotate the signed prekeys weekly, top up the relay's one-time prekeys, drop private halves no message can use. */
  maintainPrekeys(): Promise<void> {
    return this.prekeys.maintain();
  }

  refillOneTimePrekeys(count = ONE_TIME_PREKEY_BATCH): Promise<void> {
    return this.prekeys.refill(count);
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
    const connection = new SocketConnection(
      this.api.baseUrl,
      {
        ticket: () => this.api.socketTicket(),
        signIn: async () => {
          this.api.setToken(undefined);
          await this.signIn();
        },
      },
      undefined,
      { timeoutMs: this.api.timeoutMs },
    );
    const socket = connection.socket;
    this.connection = connection;
    connection.onStopped(() => this.emit('connection', 'revoked'));
    this.socket = socket;
    socket.on('envelope:deliver', (delivery) => {
      this.inbound.deliver(delivery);
    });
    socket.on('envelope:delivered', (n) => {
      const { noticeId, ...notice } = n;
      this.emit('delivered', notice);
      // Recorded first, then the relay may forget it (otherwise it comes again on the next connect).
      this.handleNotice(socket, noticeId, () => this.delivery.delivered(notice.messageId, notice.recipientDeviceId));
    });
    socket.on('envelope:expired', (n) => {
      const { noticeId, ...notice } = n;
      this.emit('expired', notice);
      // Kept first (the sender must see "expired undelivered"), then the relay may forget it; if keeping
      // fails, the notice is not acked and comes again on the next connect.
      this.handleNotice(socket, noticeId, () => this.delivery.expired(notice.messageId, notice.recipientDeviceIds));
    });
    socket.on('prekeys:low', () => {
      void this.refillOneTimePrekeys().catch((err: unknown) => this.reportProblem('prekey-refill', err));
    });
    socket.on('revocations:changed', () => {
      void this.trust
        .refresh()
        .then(() => this.shareWithNewColleagues())
        .catch((err: unknown) => this.reportProblem('history-share', err));
    });
    socket.on('connect', () => this.emit('connection', 'connected'));
    socket.on('disconnect', () => this.emit('connection', 'disconnected'));
    await connection.start();
    // A colleague's device certified since the last sign-in gets this device's history (retried on the next sign-in if it fails).
    await this.shareWithNewColleagues().catch((err: unknown) => this.reportProblem('history-share', err));
  }

  /**
   * Forward the history this device holds to colleagues' devices certified
   * after it (PROTOCOL.md §4.10). Runs on every connect; each colleague is
   * served once.
   */
  shareWithNewColleagues(): Promise<{ devices: string[]; messages: number }> {
    return this.history.shareWithNewColleagues();
  }

  /** Forward a thread's messages (all, or those named) to the devices of other orgs (a participant added later). */
  shareHistory(threadId: string, toOrgIds: readonly string[], messageIds?: readonly string[]): Promise<number> {
    return this.history.shareThread(threadId, toOrgIds, messageIds);
  }

  /** What became of the envelopes this device sent (of one thread, or all): stored, delivered, expired per device. */
  deliveryState(threadId?: string): Promise<DeliveryEntry[]> {
    return this.delivery.list(threadId);
  }

  /**
   * Send again what expired undelivered in some devices' inboxes (a device
   * away for longer than the relay keeps envelopes): each original envelope
   * is forwarded as signed (history sharing), so its author and time stay
   * what they were. Returns how many messages were forwarded.
   */
  async resendExpired(threadId: string): Promise<number> {
    const expired = (await this.delivery.list(threadId)).filter((e) => e.expired.length > 0);
    if (expired.length === 0) return 0;
    const orgs = [...new Set(expired.flatMap((e) => e.expired.map(orgOfDeviceId)))];
    const ids = expired.map((e) => e.messageId);
    const forwarded = await this.history.shareThread(threadId, orgs, ids);
    await this.delivery.resent(ids);
    return forwarded;
  }

  /** Whether the socket to the relay is open now (a read that went offline is not). */
  get online(): boolean {
    return this.socket?.connected === true;
  }

  /** Whether this device sends read receipts (an org's choice, off unless turned on). */
  readReceiptsEnabled(): Promise<boolean> {
    return this.receipts.enabled();
  }

  setReadReceipts(on: boolean): Promise<void> {
    return this.receipts.setEnabled(on);
  }

  /**
   * The person read this thread: when read receipts are on, send each
   * author org one signed receipt naming its messages not receipted yet
   * (by this device or a colleague's). Needs the relay; returns how many
   * messages were receipted (0 when receipts are off or nothing is owed).
   */
  async markRead(threadId: string): Promise<number> {
    if (!(await this.receipts.enabled())) return 0;
    const owed = await this.receipts.owed(await this.messages.threadMessages(threadId), this.profile.orgId);
    let count = 0;
    for (const [orgId, ids] of owed) {
      for (let i = 0; i < ids.length; i += MAX_READ_PER_RECEIPT) {
        const read = ids.slice(i, i + MAX_READ_PER_RECEIPT);
        const receipt: ReadReceipt = { kind: 'handover.receipt', v: 1, read };
        await this.sendAll([{ threadId, orgIds: [orgId], payload: receipt, carries: 'receipt' }]);
        await this.receipts.remember(read);
        count += read.length;
      }
    }
    return count;
  }

  /** History transfers this device received, with how far each got. */
  historyProgress(): Promise<HistoryProgress[]> {
    return this.history.progress();
  }

  /**
   * Fetch everything pending in this device's inbox and process it. The
   * relay emits the pending deliveries before it answers, and Socket.IO keeps
   * order on one connection, so when the answer arrives all are queued here.
   */
  async sync(): Promise<number> {
    const socket = this.socket;
    if (!socket) throw new HandoverError('UNAVAILABLE', 'not connected: call connect() first');
    const waitMs = this.options.requestTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
    const res = await socket
      .timeout(waitMs)
      .emitWithAck('inbox:sync')
      .catch(() => {
        throw relayTimeoutError(this.api.baseUrl, waitMs);
      });
    if (!res.ok) throw relayErrorFrom(res.error, 'the relay refused');
    await this.idle();
    return res.pending;
  }

  /** Wait until every delivery and notice received so far has been processed. */
  async idle(): Promise<void> {
    await this.inbound.idle();
    await Promise.all([...this.noticeWork]);
  }

  /**
   * Record a relay notice, then ack it so the relay forgets it. A notice
   * that could not be recorded is not acked: it comes again on the next
   * connect or sync. (Recording is idempotent, so repeats are harmless.)
   */
  private reportProblem(what: BackgroundProblem['what'], err: unknown): void {
    const code = isHandoverError(err) ? err.code : 'INTERNAL';
    this.emit('problem', { what, code, message: err instanceof Error ? err.message : String(err) });
  }

  private handleNotice(socket: ClientSocket, noticeId: string | undefined, record: () => Promise<void>): void {
    const work = record()
      .then(() => (typeof noticeId === 'string' ? socket.timeout(10_000).emitWithAck('notice:ack', { noticeId }) : undefined))
      // Not recorded or not acked: the relay sends it again on the next connect or sync.
      .catch((err: unknown) => this.reportProblem('notice', err))
      .finally(() => this.noticeWork.delete(work));
    this.noticeWork.add(work);
  }

  async close(): Promise<void> {
    this.inbound.stopRetries();
    this.connection?.close();
    this.connection = undefined;
    this.socket = undefined;
    // Notices still in hand are not awaited: unacked, they come again on the next connect.
    await this.inbound.idle();
  }

  /**
   * Close, wait for work in hand, then wipe the vault's storage key: the
   * app's lock (a shared office computer). This object is unusable after;
   * open the profile again with the passphrase.
   */
  async lock(): Promise<void> {
    await this.close();
    await this.idle();
    this.vault.lock();
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
   * Send the messages of one action in order, resolving the recipients once
   * for all of them (one bundle fetch per org per action).
   */
  sendAll(inputs: readonly SendInput[]): Promise<StoredMessage[]> {
    return this.outbound.sendAll(inputs);
  }

  /* ------------------------------------------------------ local storage -- */

  /**
   * Every message of a thread this device holds, oldest first; with
   * `originals`, each with the signed envelope it came in (read from their
   * own records: only forwarding and audits need them).
   */
  threadMessages(threadId: string, opts: { originals?: boolean } = {}): Promise<StoredMessage[]> {
    return opts.originals ? this.messages.threadMessagesWithOriginals(threadId) : this.messages.threadMessages(threadId);
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

