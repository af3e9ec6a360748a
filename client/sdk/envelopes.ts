/**
 * The SDK's envelope path, both ways (PROTOCOL.md §4–§5), in one file so a
 * reader follows an envelope from seal to open without hunting:
 *
 * Sending (`Outbound`): resolve the recipients of an action — every
 * current device of the thread's orgs and this device's own other devices,
 * each relay answer bound to the question and verified to the root under
 * the pinned org key — seal one envelope per message, and hand it to the
 * relay until it is accepted; keep the sent copy.
 *
 * Receiving (`Inbound`): deliveries are processed one at a time, in arrival
 * order — open (sender chain and revocation checked by the client itself,
 * then the envelope), persist, then ack. The relay deletes an envelope only
 * after that ack, so a crash at any point means it is delivered again, and
 * the thread record dedupes the second delivery. An envelope that failed in
 * itself is acked and recorded; one that met a relay, network or storage
 * problem stays in the inbox and is tried again (review finding 4).
 */
import {
  type Crypto,
  asBytes,
  type Delivery,
  type DeviceCertificate,
  type EnvelopeDelivery,
  envelopeFromFrame,
  messageIdOfDelivery,
  type DeviceKeys,
  type ErrorCode,
  HandoverError,
  MAX_CLOCK_SKEW_MS,
  type OrgCertificate,
  type RecipientKeys,
  type SealedEnvelope,
  wireOf,
  fromUtf8,
  isHandoverError,
  openEnvelope,
  orgOfDeviceId,
  parseEnvelope,
  relayErrorFrom,
  sealEnvelope,
  toB64u,
  utf8,
  verifyBundle,
} from '../../shared';
import type { ClientSocket } from './connection';
import type { MessageStore } from './message-store';
import { isHistoryPayload, openHistoryItem } from './history';
import { isReceiptPayload, ReadReceipt } from './receipts';
import { type FailedMessage, MessageBody, type OriginalEnvelope, type StoredMessage } from './messages';
import type { RelayApi } from './relay-api';
import type { TrustStore } from './trust';

/* ------------------------------------------------------------- sending -- */

export interface SendInput {
  threadId: string;
  /** Participant orgs of the thread (the sender's own org is added automatically). */
  orgIds: string[];
  payload: unknown;
  /**
   * What the envelope carries: a thread message (default; kept in the
   * thread and in the delivery log), a history carrier (its forwarded
   * original is the message: only the delivery log tracks the carrier) or
   * a read receipt (neither).
   */
  carries?: 'message' | 'history' | 'receipt';
}

/** What sending needs from the device around it. */
export interface OutboundContext {
  crypto: Crypto;
  api: RelayApi;
  trust: TrustStore;
  messages: MessageStore;
  keys(): DeviceKeys;
  me(): { deviceId: string; orgId: string };
  /** This device's certificates (kept with each sent envelope, to forward it later). */
  certificates(): { device?: DeviceCertificate; org?: OrgCertificate };
  /** The relay stored a sent envelope (for the delivery log). */
  onSent(entry: { messageId: string; threadId: string; sentAt: number; storedAt?: number; recipients: string[] }): Promise<void>;
  socket(): ClientSocket | undefined;
  now(): number;
  /** Oldest signed or post-quantum prekey a sender accepts. */
  maxPrekeyAgeMs(): number;
  ackTimeoutMs: number;
}

export class Outbound {
  constructor(private readonly ctx: OutboundContext) {}

  /**
   * Every current device of the thread's orgs and our own other devices,
   * verified. Each relay answer is bound to the question (review finding 1):
   * the org certificate must be the org asked for, under the key this
   * device pinned for it, and every bundle a device of that org.
   */
  async recipientsFor(orgIds: readonly string[]): Promise<RecipientKeys[]> {
    const out: RecipientKeys[] = [];
    const now = this.ctx.now();
    for (const orgId of new Set([...orgIds, this.ctx.me().orgId])) {
      const answer = await this.ctx.api.bundles(orgId);
      if (answer.org.orgId !== orgId) {
        throw new HandoverError('UNTRUSTED_KEY', `the relay answered with org ${answer.org.orgId} when asked for ${orgId}; nothing was sent`);
      }
      const org = await this.ctx.trust.admitOrg(answer.org);
      const seen = new Set<string>();
      for (const bundle of answer.bundles) {
        const { deviceId } = bundle.certificate;
        if (bundle.certificate.orgId !== orgId || orgOfDeviceId(deviceId) !== orgId) {
          throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} among the devices of ${orgId}; nothing was sent`);
        }
        if (seen.has(deviceId)) throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} twice; nothing was sent`);
        seen.add(deviceId);
        if (deviceId === this.ctx.me().deviceId) continue;
        out.push(
          verifyBundle(this.ctx.trust.anchor, org, bundle, {
            now,
            revocations: this.ctx.trust.revocationStatus(),
            maxPrekeyAgeMs: this.ctx.maxPrekeyAgeMs(),
            maxClockSkewMs: MAX_CLOCK_SKEW_MS,
          }),
        );
      }
    }
    return out;
  }

  /**
   * Send several messages of one action (a referral, its overrides and
   * supplements) in order, resolving the recipients once for all of them:
   * one bundle fetch per org per action, not per message. A one-time prekey
   * is used by the first envelope to its device only (the device deletes
   * its private half on first use); later ones rest on the signed prekey.
   */
  async sendAll(inputs: readonly SendInput[]): Promise<StoredMessage[]> {
    const own = this.ctx.me().orgId;
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
        const sentAt = this.ctx.now();
        const { contentKey, ...envelope } = sealEnvelope(this.ctx.crypto, {
          sender: { deviceId: this.ctx.me().deviceId, signPrivateKey: this.ctx.keys().sign.privateKey, identity: this.ctx.keys().identity },
          recipients: mine,
          threadId: input.threadId,
          sentAt,
          body,
          keepContentKey: true,
        });
        let storedAt: number | undefined;
        try {
          storedAt = await this.emitSend(envelope);
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
          senderDeviceId: this.ctx.me().deviceId,
          senderOrgId: own,
          recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
          sentAt,
          receivedAt: sentAt,
          direction: 'out',
          payload: input.payload,
          ...this.original(envelope, contentKey),
        };
        const carries = input.carries ?? 'message';
        if (carries === 'message') await this.ctx.messages.add(stored);
        if (carries !== 'receipt') await this.ctx.onSent({ messageId: stored.messageId, threadId: stored.threadId, sentAt, ...(storedAt !== undefined ? { storedAt } : {}), recipients: stored.recipientDeviceIds });
        out.push(stored);
        break;
      }
    }
    return out;
  }

  /** What this device keeps of an envelope it sent, to forward it later (history sharing). */
  private original(sealed: SealedEnvelope, contentKey: Uint8Array | undefined): { original?: OriginalEnvelope } {
    const { device, org } = this.ctx.certificates();
    if (!contentKey || !device || !org) return {};
    return {
      original: {
        header: sealed.header,
        signature: sealed.signature,
        ciphertext: toB64u(sealed.ciphertext),
        contentKey: toB64u(contentKey),
        senderCertificate: device,
        senderOrgCertificate: org,
      },
    };
  }


  /** Hand the envelope to the relay until it accepts it; returns when the relay stored it (its clock). */
  private async emitSend(envelope: SealedEnvelope): Promise<number | undefined> {
    const socket = this.ctx.socket();
    if (!socket) throw new HandoverError('UNAVAILABLE', 'not connected: call connect() first');
    // Version 2: one binary frame (PROTOCOL.md §4.12), encoded once for every attempt.
    const wire = wireOf(envelope);
    const timeout = this.ctx.ackTimeoutMs;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await socket.timeout(timeout).emitWithAck('envelope:send', wire);
        if (res.ok) return res.storedAt;
        // Only the signed-in sender can hit its own message id again: an earlier
        // attempt was stored and its ack was lost, so the send did succeed.
        if (res.error.code === 'REPLAY' && res.error.details?.alreadyAccepted === true) return undefined;
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
}

function withoutOneTimePrekey(r: RecipientKeys): RecipientKeys {
  const { oneTimePrekey: _used, ...rest } = r;
  return rest;
}

/* ----------------------------------------------------------- receiving -- */

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

/** What receiving needs from the device around it. */
export interface InboundContext {
  crypto: Crypto;
  trust: TrustStore;
  messages: MessageStore;
  keys(): DeviceKeys;
  socket(): ClientSocket | undefined;
  now(): number;
  retentionMs(): number;
  /** Persist the device keys (after a one-time prekey was used up). */
  saveKeys(): Promise<void>;
  onMessage(message: StoredMessage): void;
  onFailure(failure: FailedMessage): void;
  /** A signed read receipt from another device, already verified as its envelope (`at` is its signed sentAt). */
  onReceipt(receipt: { threadId: string; read: string[]; fromDeviceId: string; fromOrgId: string; at: number }): Promise<void>;
  /** A forwarded message of a history transfer was taken (for "receiving history: 12 of 40"). */
  onHistory(progress: { transferId: string; fromDeviceId: string; index: number; total: number }): void;
}

export class Inbound {
  /** Deliveries are processed one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();
  /** Envelopes left in the inbox after a transient failure, waiting to be tried again. */
  private readonly retries = new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly ctx: InboundContext) {}

  /** A delivery from the relay: processed after those before it. */
  deliver(delivery: Delivery): void {
    // receive() handles every failure itself (records it, retries or acks); this only keeps the chain alive.
    this.queue = this.queue.then(() => this.receive(delivery)).catch(() => undefined);
  }

  /** Wait until every delivery received so far has been processed. */
  async idle(): Promise<void> {
    let last: Promise<void>;
    do {
      last = this.queue;
      await last;
    } while (last !== this.queue);
  }

  /**
   * Open, verify, persist, then ack. An envelope that failed in itself is
   * acked and recorded; one that met a relay, network or storage problem is
   * left in the inbox and tried again with backoff, and shown meanwhile as
   * "could not open yet" (never acked, dropped or reported delivered).
   */
  private async receive(delivery: Delivery): Promise<void> {
    // Whatever arrived is attacker text until parsed: read the ids defensively for the failure record.
    let raw: { header?: unknown } = {};
    let envelope: SealedEnvelope | undefined;
    let frameError: unknown;
    if (typeof delivery === 'object' && delivery !== null && 'frame' in delivery) {
      // Version 2: the frame decodes strictly to the envelope (and its ids), or not at all.
      try {
        envelope = envelopeFromFrame(asBytes(delivery.frame));
        raw = envelope;
      } catch (err) {
        frameError = err;
        raw = { header: { messageId: messageIdOrUnknown(delivery) } };
      }
    } else if (typeof delivery === 'object' && delivery !== null && typeof delivery.envelope === 'object' && delivery.envelope !== null) {
      raw = delivery.envelope;
    }
    const header = typeof raw.header === 'object' && raw.header !== null ? (raw.header as { messageId?: unknown; senderDeviceId?: unknown }) : {};
    let messageId = typeof header.messageId === 'string' && header.messageId.length <= 64 ? header.messageId : 'unknown';
    try {
      if (frameError !== undefined) throw frameError;
      envelope ??= parseEnvelope({ ...(delivery as EnvelopeDelivery).envelope, ciphertext: toUint8Array((delivery as EnvelopeDelivery).envelope.ciphertext) });
      messageId = envelope.header.messageId;
      if (await this.ctx.messages.hasSeen(envelope.header.threadId, messageId)) {
        this.cancelRetry(messageId);
        await this.ack(messageId); // a redelivery after a lost ack
        return;
      }
      const stored = await this.open(envelope);
      // Persist first (keys only when a one-time prekey was used up, then the message), then ack.
      if (stored.usedOneTimePrekey) await this.ctx.saveKeys();
      if ('receipt' in stored) {
        // A receipt is recorded in the delivery log, never stored as a message; recording is idempotent.
        await this.ctx.onReceipt(stored.receipt);
        this.cancelRetry(messageId);
        await this.ack(messageId);
        return;
      }
      // A forwarded message the device already holds is not stored twice; its carrier is remembered, so a redelivery is acked at once.
      const fresh = await this.ctx.messages.add(stored.message, stored.history ? { carrierId: messageId } : {});
      this.cancelRetry(messageId);
      await this.ack(messageId);
      if (stored.history) this.ctx.onHistory({ ...stored.history, fromDeviceId: envelope.header.senderDeviceId });
      if (fresh) this.ctx.onMessage(stored.message);
    } catch (err) {
      const code: ErrorCode = isHandoverError(err) ? err.code : 'INTERNAL';
      const final = ENVELOPE_FAILURES.has(code);
      const failure: FailedMessage = {
        messageId,
        senderDeviceId: typeof header.senderDeviceId === 'string' ? header.senderDeviceId.slice(0, 200) : 'unknown',
        receivedAt: this.ctx.now(),
        code,
        reason: err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500),
        pending: !final,
      };
      await this.ctx.messages.recordFailure(failure).catch(() => undefined); // recording is best effort; the outcome below is not
      if (final) {
        this.cancelRetry(messageId);
        // Acked but not stored: an id the relay made up must never stop the genuine envelope later.
        if (messageId !== 'unknown') await this.ack(messageId);
      } else if (messageId !== 'unknown') {
        this.scheduleRetry(messageId, delivery);
      }
      this.ctx.onFailure(failure);
    }
  }

  /** Everything that makes an envelope a message, or a typed error saying why not. */
  private async open(
    envelope: ReturnType<typeof parseEnvelope>,
  ): Promise<
    | { message: StoredMessage; usedOneTimePrekey: boolean; history?: { transferId: string; index: number; total: number } }
    | { receipt: { threadId: string; read: string[]; fromDeviceId: string; fromOrgId: string; at: number }; usedOneTimePrekey: boolean }
  > {
    const sender = await this.ctx.trust.device(envelope.header.senderDeviceId);
    const opened = openEnvelope(this.ctx.crypto, {
      envelope,
      recipient: this.ctx.keys(),
      sender: { signPublicKey: sender.signPublicKey, identityKey: sender.identityKey },
      now: this.ctx.now(),
      maxAgeMs: this.ctx.retentionMs(),
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
    const usedOneTimePrekey = opened.usedOneTimePrekeyId !== undefined;
    if (isReceiptPayload(body.data.payload)) {
      this.ctx.crypto.wipe(opened.contentKey);
      const receipt = ReadReceipt.safeParse(body.data.payload);
      if (!receipt.success) throw new HandoverError('BAD_REQUEST', 'a read receipt that does not match its schema');
      // Its time is the signed envelope's, its author the verified sender: nothing here comes from the relay.
      const { threadId, sentAt, senderDeviceId } = envelope.header;
      return { receipt: { threadId, read: receipt.data.read, fromDeviceId: senderDeviceId, fromOrgId: sender.org.orgId, at: sentAt }, usedOneTimePrekey };
    }
    if (isHistoryPayload(body.data.payload)) {
      // A forwarded envelope: the message is the original author's, checked on its own (history.ts).
      const forwarded = openHistoryItem(this.ctx.crypto, this.ctx.trust, body.data.payload, { threadId: envelope.header.threadId, now: this.ctx.now() });
      this.ctx.crypto.wipe(opened.contentKey);
      return { message: forwarded.message, usedOneTimePrekey, history: forwarded.transfer };
    }
    const message: StoredMessage = {
      messageId: envelope.header.messageId,
      threadId: body.data.threadId,
      orgIds: body.data.orgIds,
      senderDeviceId: envelope.header.senderDeviceId,
      senderOrgId: sender.org.orgId,
      recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
      sentAt: envelope.header.sentAt,
      receivedAt: this.ctx.now(),
      direction: 'in',
      payload: body.data.payload,
      original: {
        header: envelope.header,
        signature: envelope.signature,
        ciphertext: toB64u(envelope.ciphertext),
        contentKey: toB64u(opened.contentKey),
        senderCertificate: sender.certificate,
        senderOrgCertificate: sender.org,
      },
    };
    this.ctx.crypto.wipe(opened.contentKey);
    return { message, usedOneTimePrekey };
  }

  private scheduleRetry(messageId: string, delivery: Delivery): void {
    const previous = this.retries.get(messageId);
    if (previous) clearTimeout(previous.timer);
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = Math.min(RETRY_MAX_MS, 500 * 2 ** Math.min(attempts - 1, 10)) * (1 + Math.random() / 4);
    const timer = setTimeout(() => {
      if (!this.retries.has(messageId)) return;
      this.deliver(delivery);
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

  /** Forget the retries waiting (the device closes; the relay keeps the envelopes). */
  stopRetries(): void {
    for (const { timer } of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
  }

  private async ack(messageId: string): Promise<void> {
    // An ack the relay did not take (it is down) is harmless: it delivers the envelope again and dedupe drops it.
    await this.ctx.socket()?.timeout(10_000).emitWithAck('envelope:ack', { messageId }).catch(() => undefined);
  }
}

/** The message id at the front of a frame that did not decode, to ack it away; 'unknown' when there is none. */
function messageIdOrUnknown(delivery: Delivery): string {
  try {
    return messageIdOfDelivery(delivery);
  } catch {
    return 'unknown'; // not even an id: nothing can be acked, the failure is still recorded
  }
}

/** Socket.IO hands binary over as Buffer (Node) or ArrayBuffer (browser). */
export function toUint8Array(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new HandoverError('BAD_REQUEST', 'ciphertext is not binary');
}
