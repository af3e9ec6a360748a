/**
 * Why this exists: the doc client's conversation with a relay, following
 * PROTOCOL.md §5 and the client checklist of §8 — register (§5.5), sign in
 * by challenge-response (§5.3), a socket ticket per connection and a
 * WebSocket-only Socket.IO connection (§5.8), bundles bound to the org asked
 * (§5.6) and verified (§3.2), send (§5.10), receive in the order of §4.6 and
 * ack as §5.11 says. It imports nothing from shared/, client/ or server/.
 */
import { type Socket, io } from 'socket.io-client';
import { sign } from './crypto';
import type { DeviceKeys } from './device';
import { DocClientError, LABEL, b64u, fromB64u, signingInput, utf8 } from './encoding';
import { type RecipientKeys, openEnvelope, sealEnvelope } from './envelope';
import { decodeFrame, encodeFrame, frameMessageId } from './frame';
import { TrustStore, orgOfDevice } from './trust';
import type {
  DeviceBundle,
  DeviceCertificate,
  EnvelopeHeader,
  MessageBody,
  NetworkInfo,
  OrgCertificate,
  Revocation,
  WireEnvelope,
  WireError,
} from './types';

const DAY_MS = 24 * 3600_000;
const ORG_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** §5.11: failures of the envelope itself are acked away; anything else stays in the inbox. */
const ACK_ON_FAILURE = new Set(['BAD_REQUEST', 'BAD_SIGNATURE', 'DECRYPT_FAILED', 'REPLAY', 'STALE_MESSAGE', 'NOT_RECIPIENT', 'REVOKED', 'EXPIRED']);

/** A refusal from the relay (HTTP error body or socket acknowledgement). */
export class RelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly status?: number,
  ) {
    super(`${code}: ${message}`);
  }
}

export interface ReceivedMessage {
  messageId: string;
  header: EnvelopeHeader;
  body: MessageBody;
  storedAt: number;
}

export interface Failure {
  messageId: string;
  code: string;
  message: string;
  acked: boolean;
}

/** §5.9: `{frame, storedAt}` for a version 2 envelope (§4.12), `{envelope, storedAt}` for version 1. */
export type Delivery = { envelope: WireEnvelope; storedAt: number } | { frame: Uint8Array; storedAt: number };

export interface DocClientOptions {
  url: string;
  /** The network root public key, pinned out of band (§8 step 1). */
  rootPublicKey: Uint8Array;
  device: DeviceKeys;
  /** Swap in a hostile transport for tests. */
  fetch?: typeof fetch;
  now?: () => number;
}

export class DocClient {
  readonly trust: TrustStore;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private network?: NetworkInfo;
  private token?: string;
  private socket?: Socket;
  /** Verified devices of the last directory (§4.6 step 2). */
  private readonly directory = new Map<string, DeviceCertificate>();
  private readonly processed = new Set<string>();
  readonly received: ReceivedMessage[] = [];
  readonly failures: Failure[] = [];
  readonly delivered: { messageId: string; recipientDeviceId: string; at: number }[] = [];
  /** Applied to each delivery before it is handled: a hostile relay, for tests. */
  inbound?: (delivery: Delivery) => Delivery;
  /** Every envelope:send this client emitted (hostile tests check nothing left). */
  sends = 0;
  private readonly waiters = new Set<() => void>();
  private handling: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DocClientOptions) {
    this.trust = new TrustStore(opts.rootPublicKey, opts.now ?? Date.now);
    this.fetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  get device(): DeviceKeys {
    return this.opts.device;
  }

  // ---- HTTP (§5.1) ----

  private async http<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, auth = false): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) {
      if (!this.token) throw new Error('not signed in');
      headers.authorization = `Bearer ${this.token}`;
    }
    const res = await this.fetch(new URL(path, this.opts.url), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as unknown;
    if (!res.ok) {
      const err = (json as { error?: WireError }).error;
      throw new RelayError(err?.code ?? 'INTERNAL', err?.message ?? `HTTP ${res.status}`, err?.details, res.status);
    }
    return json as T;
  }

  /** §5.2 / §8 step 1: the relay's network must be the pinned root's. */
  async fetchNetwork(): Promise<NetworkInfo> {
    const info = await this.http<NetworkInfo>('GET', '/v1/network');
    if (info.rootPublicKey !== b64u(this.trust.rootPublicKey) || info.networkId !== this.trust.networkId) {
      throw new DocClientError('UNTRUSTED_KEY', 'the relay serves another network');
    }
    this.network = info;
    return info;
  }

  private get retentionMs(): number {
    return this.network?.limits.retentionMs ?? 30 * DAY_MS;
  }

  /** Import the certificates the org admin issued (the own org's pin is replaced, §2.10). */
  importCertificates(org: OrgCertificate, device: DeviceCertificate): void {
    const admitted = this.trust.admitOrg(org, { replacePin: true });
    this.trust.verifyDevice(admitted, device);
    this.device.importCertificates(org, device);
  }

  /** §5.4 + §5.5: register the org certificate (idempotent) and this device with its first prekeys. */
  async register(oneTimePrekeys = 20): Promise<{ deviceId: string; oneTimePrekeys: number }> {
    const { orgCertificate, certificate } = this.device;
    if (!orgCertificate || !certificate) throw new Error('import certificates first');
    if (!this.network) await this.fetchNetwork();
    await this.http('POST', '/v1/orgs', { certificate: orgCertificate });
    const { signedPrekey, pqPrekey } = this.device.rotateSignedPrekeys(this.now());
    return this.http('POST', '/v1/devices', { certificate, signedPrekey, pqPrekey, oneTimePrekeys: this.device.oneTimeBatch(oneTimePrekeys) });
  }

  /** §5.3: challenge, sign {networkId, deviceId, challengeId, challenge}, session. */
  async signIn(): Promise<void> {
    if (!this.network) await this.fetchNetwork();
    const deviceId = this.device.deviceId;
    const ch = await this.http<{ challengeId: string; challenge: string; expiresAt: number }>('POST', '/v1/auth/challenge', { deviceId });
    const input = signingInput(LABEL.authChallenge, { networkId: this.trust.networkId, deviceId, challengeId: ch.challengeId, challenge: ch.challenge });
    const signature = b64u(sign(input, this.device.sign.privateKey));
    const session = await this.http<{ token: string; expiresAt: number }>('POST', '/v1/auth/session', { deviceId, challengeId: ch.challengeId, signature });
    this.token = session.token;
  }

  /** §2.11 and §5.2: revocations first, then the directory, every certificate verified here. */
  async refreshDirectory(): Promise<void> {
    const list = await this.http<{ revocations: Revocation[]; issuers: OrgCertificate[] }>('GET', '/v1/revocations', undefined, true);
    this.trust.applyRevocations(list);
    const dir = await this.http<{ orgs: { certificate: OrgCertificate; devices: DeviceCertificate[] }[] }>('GET', '/v1/orgs', undefined, true);
    this.directory.clear();
    for (const entry of dir.orgs) {
      let org: OrgCertificate;
      try {
        org = this.trust.admitOrg(entry.certificate);
      } catch {
        continue; // an org this client cannot verify contributes no devices
      }
      for (const d of entry.devices) {
        try {
          this.directory.set(d.deviceId, this.trust.verifyDevice(org, d));
        } catch {
          // not counted
        }
      }
    }
  }

  // ---- Socket (§5.8, §5.9) ----

  async connect(): Promise<void> {
    const { ticket } = await this.http<{ ticket: string; expiresAt: number }>('POST', '/v1/auth/socket-ticket', undefined, true);
    const socket = io(this.opts.url, { transports: ['websocket'], query: { ticket }, reconnection: false, forceNew: true });
    socket.on('envelope:deliver', (delivery: Delivery) => {
      this.handling = this.handling.then(() => this.handleDelivery(delivery)).catch(() => undefined);
    });
    socket.on('envelope:delivered', (notice: { messageId: string; recipientDeviceId: string; at: number; noticeId?: string }) => {
      const { noticeId, ...rest } = notice;
      this.delivered.push(rest);
      if (noticeId) void socket.emitWithAck('notice:ack', { noticeId });
      this.wake();
    });
    socket.on('prekeys:low', () => {
      void this.http('POST', '/v1/devices/me/one-time-prekeys', { prekeys: this.device.oneTimeBatch(100) }, true).catch(() => undefined);
    });
    socket.on('revocations:changed', () => {
      void this.refreshDirectory().catch(() => undefined);
    });
    socket.on('envelope:expired', (notice: { noticeId?: string }) => {
      if (notice.noticeId) void socket.emitWithAck('notice:ack', { noticeId: notice.noticeId });
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  // ---- Sending (§4.2, §5.6, §5.10) ----

  /**
   * §5.6: bind the answer to the question — the org asked for, under its
   * pin, every bundle a device of that org, none twice — then verify every
   * bundle but this device's own. Any failure: nothing is sealed.
   */
  async bundlesFor(orgId: string): Promise<RecipientKeys[]> {
    if (!ORG_ID.test(orgId)) throw new DocClientError('BAD_REQUEST', 'org id');
    const answer = await this.http<{ org: OrgCertificate; bundles: DeviceBundle[] }>('GET', `/v1/orgs/${orgId}/bundles`, undefined, true);
    if (!answer || typeof answer !== 'object' || !Array.isArray(answer.bundles)) throw new DocClientError('UNTRUSTED_KEY', 'malformed bundles answer');
    if (answer.org?.orgId !== orgId) throw new DocClientError('UNTRUSTED_KEY', `bundles answer for ${String(answer.org?.orgId)}, asked ${orgId}`);
    const org = this.trust.admitOrg(answer.org);
    const seen = new Set<string>();
    for (const b of answer.bundles) {
      const id = b?.certificate?.deviceId;
      if (b?.certificate?.orgId !== orgId || typeof id !== 'string' || orgOfDevice(id) !== orgId) {
        throw new DocClientError('UNTRUSTED_KEY', 'a bundle of another org');
      }
      if (seen.has(id)) throw new DocClientError('UNTRUSTED_KEY', 'a device twice');
      seen.add(id);
    }
    const maxAge = this.retentionMs + 7 * DAY_MS;
    return answer.bundles
      .filter((b) => b.certificate.deviceId !== this.device.deviceId)
      .map((b) => {
        const v = this.trust.verifyBundle(org, b, maxAge);
        return {
          deviceId: v.certificate.deviceId,
          identityKey: fromB64u(v.certificate.dhPublicKey, 32),
          signedPrekey: { id: v.signedPrekey.id, publicKey: fromB64u(v.signedPrekey.publicKey, 32) },
          pqPrekey: { id: v.pqPrekey.id, publicKey: fromB64u(v.pqPrekey.publicKey, 1216) },
          ...(v.oneTimePrekey ? { oneTimePrekey: { id: v.oneTimePrekey.id, publicKey: fromB64u(v.oneTimePrekey.publicKey, 32) } } : {}),
        };
      });
  }

  /** Seal `{v, threadId, orgIds, payload}` to every device of those orgs and the own org but this one, and send. */
  async send(input: { threadId: string; orgIds: string[]; payload: unknown; sentAt?: number }): Promise<{ messageId: string; storedAt: number }> {
    const orgIds = [...new Set([this.device.orgId, ...input.orgIds])];
    const body: MessageBody = { v: 1, threadId: input.threadId, orgIds, payload: input.payload };
    for (let attempt = 0; ; attempt++) {
      const recipients: RecipientKeys[] = [];
      for (const orgId of orgIds) recipients.push(...(await this.bundlesFor(orgId)));
      const envelope = sealEnvelope({
        sender: this.device,
        threadId: input.threadId,
        sentAt: input.sentAt ?? this.now(),
        body: utf8(JSON.stringify(body)),
        recipients,
      });
      try {
        return await this.sendEnvelope(envelope);
      } catch (err) {
        if (err instanceof RelayError && err.code === 'DEVICE_SET_MISMATCH' && attempt < 2) continue;
        throw err;
      }
    }
  }

  async sendEnvelope(envelope: WireEnvelope): Promise<{ messageId: string; storedAt: number }> {
    if (!this.socket) throw new Error('not connected');
    this.sends++;
    // §5.9: a version 2 envelope goes as its frame, one binary attachment.
    const payload = envelope.headerBytes ? encodeFrame(envelope.headerBytes, fromB64u(envelope.signature, 64), envelope.ciphertext) : envelope;
    const ack = (await this.socket.timeout(10_000).emitWithAck('envelope:send', payload)) as
      | { ok: true; messageId: string; storedAt: number }
      | { ok: false; error: WireError };
    if (!ack.ok) {
      if (ack.error.code === 'REPLAY' && ack.error.details?.alreadyAccepted === true) return { messageId: envelope.header.messageId, storedAt: this.now() };
      throw new RelayError(ack.error.code, ack.error.message, ack.error.details);
    }
    return { messageId: ack.messageId, storedAt: ack.storedAt };
  }

  // ---- Receiving (§4.6, §5.11) ----

  private async ack(messageId: string): Promise<void> {
    const answer = (await this.socket!.timeout(10_000).emitWithAck('envelope:ack', { messageId })) as { ok: boolean; error?: WireError };
    if (!answer.ok) throw new RelayError(answer.error?.code ?? 'INTERNAL', answer.error?.message ?? 'ack refused');
  }

  /** The sender's certificate from the verified directory, refreshed once when unknown (§4.6 step 2). */
  private async senderCertificate(deviceId: string): Promise<DeviceCertificate> {
    let cert = this.directory.get(deviceId);
    if (!cert || this.trust.isRevoked(deviceId) || cert.expiresAt <= this.now()) {
      await this.refreshDirectory();
      cert = this.directory.get(deviceId);
    }
    if (this.trust.isRevoked(deviceId)) throw new DocClientError('REVOKED', `sender ${deviceId} revoked`);
    if (!cert) throw new DocClientError('UNTRUSTED_KEY', `sender ${deviceId} not verified`);
    return cert;
  }

  async handleDelivery(raw: Delivery): Promise<void> {
    const delivery = this.inbound ? this.inbound(raw) : raw;
    let envelope: WireEnvelope | undefined;
    let messageId: unknown;
    let malformed: DocClientError | undefined;
    if (delivery && 'frame' in delivery) {
      const frame = delivery.frame instanceof Uint8Array ? new Uint8Array(delivery.frame) : undefined;
      try {
        if (!frame) throw new DocClientError('BAD_REQUEST', 'frame must be binary');
        const decoded = decodeFrame(frame);
        envelope = { header: decoded.header, signature: b64u(decoded.signature), ciphertext: decoded.ciphertext, headerBytes: decoded.headerBytes };
        messageId = decoded.header.messageId;
      } catch (err) {
        malformed = err instanceof DocClientError ? err : new DocClientError('BAD_REQUEST', String(err));
        messageId = frame ? frameMessageId(frame) : undefined;
      }
    } else {
      envelope = delivery?.envelope;
      messageId = envelope?.header?.messageId;
    }
    if (typeof messageId !== 'string') return; // nothing to ack by
    if (malformed || !envelope) {
      // §5.11: a frame that does not read is a failure of the envelope itself: recorded, acked away.
      this.failures.push({ messageId, code: 'BAD_REQUEST', message: malformed?.message ?? 'no envelope', acked: true });
      await this.ack(messageId);
      this.wake();
      return;
    }
    // 1. a message already processed: ack again, ignore
    if (this.processed.has(messageId)) {
      await this.ack(messageId);
      return;
    }
    try {
      const ciphertext = envelope.ciphertext as unknown;
      if (!(ciphertext instanceof Uint8Array)) throw new DocClientError('BAD_REQUEST', 'ciphertext must be binary');
      const cert = await this.senderCertificate(envelope.header.senderDeviceId);
      const { body, oneTimePrekeyId } = openEnvelope({
        envelope: { ...envelope, ciphertext: new Uint8Array(ciphertext) },
        recipient: this.device,
        sender: { deviceId: cert.deviceId, signPublicKey: fromB64u(cert.signPublicKey, 32), identityKey: fromB64u(cert.dhPublicKey, 32) },
        now: this.now(),
        retentionMs: this.retentionMs,
        seen: this.processed,
      });
      const message = parseBody(body, envelope.header.threadId);
      this.received.push({ messageId, header: envelope.header, body: message, storedAt: delivery.storedAt });
      this.processed.add(messageId);
      if (oneTimePrekeyId !== undefined) this.device.oneTimePrekeys.delete(oneTimePrekeyId);
      await this.ack(messageId);
    } catch (err) {
      const code = err instanceof DocClientError || err instanceof RelayError ? err.code : 'INTERNAL';
      const acked = ACK_ON_FAILURE.has(code);
      this.failures.push({ messageId, code, message: err instanceof Error ? err.message : String(err), acked });
      if (acked) await this.ack(messageId);
    } finally {
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolve once `check` holds (re-checked on every delivery and notice). */
  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
    const first = check();
    if (first) return first;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`doc client: timed out waiting for ${what}`));
      }, timeoutMs);
      const waiter = (): void => {
        const value = check();
        if (!value) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      this.waiters.add(waiter);
    });
  }

  /** Resolves when every delivery received so far has been handled. */
  idle(): Promise<void> {
    return this.handling;
  }
}

/** §4.7 / §4.6 step 9: the body is JSON of a message body with the header's threadId — else DECRYPT_FAILED. */
export function parseBody(bytes: Uint8Array, threadId: string): MessageBody {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new DocClientError('DECRYPT_FAILED', 'body is not JSON');
  }
  const ok =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).every((k) => ['v', 'threadId', 'orgIds', 'payload'].includes(k)) &&
    'payload' in value &&
    (value as MessageBody).v === 1 &&
    (value as MessageBody).threadId === threadId &&
    Array.isArray((value as MessageBody).orgIds) &&
    (value as MessageBody).orgIds.length >= 1 &&
    (value as MessageBody).orgIds.length <= 50 &&
    (value as MessageBody).orgIds.every((o) => typeof o === 'string' && o.length >= 3 && o.length <= 64 && ORG_ID.test(o));
  if (!ok) throw new DocClientError('DECRYPT_FAILED', 'not a message body for this thread');
  return value as MessageBody;
}

