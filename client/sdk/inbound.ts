/**
 * Receiving: deliveries are processed one at a time, in arrival order —
 * open (sender chain and revocation checked by the client itself, then the
 * envelope), persist, then ack. The relay deletes an envelope only after
 * that ack, so a crash at any point means it is delivered again, and the
 * thread record dedupes the second delivery. An envelope that failed in
 * itself is acked and recorded; one that met a relay, network or storage
 * problem stays in the inbox and is tried again (review finding 4).
 */
import type { Crypto } from '../../shared/crypto/types';
import type { DeviceKeys } from '../../shared/device-keys';
import { fromUtf8 } from '../../shared/encoding';
import { openEnvelope, parseEnvelope } from '../../shared/envelope';
import { type ErrorCode, HandoverError, isHandoverError } from '../../shared/errors';
import type { Delivery } from '../../shared/socket-events';
import type { ClientSocket } from './connection';
import type { MessageStore } from './message-store';
import { type FailedMessage, MessageBody, type StoredMessage } from './messages';
import type { TrustStore } from './trust';

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
}

export class Inbound {
  /** Deliveries are processed one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();
  /** Envelopes left in the inbox after a transient failure, waiting to be tried again. */
  private readonly retries = new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly ctx: InboundContext) {}

  /** A delivery from the relay: processed after those before it. */
  deliver(delivery: Delivery): void {
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
    const raw: { header?: unknown } = typeof delivery === 'object' && delivery !== null && typeof delivery.envelope === 'object' && delivery.envelope !== null ? delivery.envelope : {};
    const header = typeof raw.header === 'object' && raw.header !== null ? (raw.header as { messageId?: unknown; senderDeviceId?: unknown }) : {};
    let messageId = typeof header.messageId === 'string' && header.messageId.length <= 64 ? header.messageId : 'unknown';
    try {
      const envelope = parseEnvelope({ ...delivery.envelope, ciphertext: toUint8Array(delivery.envelope.ciphertext) });
      messageId = envelope.header.messageId;
      if (await this.ctx.messages.hasSeen(envelope.header.threadId, messageId)) {
        this.cancelRetry(messageId);
        await this.ack(messageId); // a redelivery after a lost ack
        return;
      }
      const stored = await this.open(envelope);
      // Persist first (keys only when a one-time prekey was used up, then the message), then ack.
      if (stored.usedOneTimePrekey) await this.ctx.saveKeys();
      await this.ctx.messages.add(stored.message);
      this.cancelRetry(messageId);
      await this.ack(messageId);
      this.ctx.onMessage(stored.message);
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
  private async open(envelope: ReturnType<typeof parseEnvelope>): Promise<{ message: StoredMessage; usedOneTimePrekey: boolean }> {
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

/** Socket.IO hands binary over as Buffer (Node) or ArrayBuffer (browser). */
export function toUint8Array(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new HandoverError('BAD_REQUEST', 'ciphertext is not binary');
}
