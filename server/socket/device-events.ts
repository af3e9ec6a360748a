/**
 * What a connected device may ask of the relay — send, ack, sync, notice
 * ack — for one device, with every dependency passed in: no socket here, so
 * each rule can be tested on its own. The socket binding (connection.ts)
 * only calls these and answers the acknowledgement.
 */
import { z } from 'zod';
import { parseEnvelope, HandoverError, isHandoverError, MessageId, readFrame } from '../../shared';
import type { RelayConfig } from '../config';
import { parseInput, toWireError } from '../errors';
import type { RelayMetrics } from '../metrics';
import type { EnvelopeService } from '../services/envelopes';
import type { InboxStore, NoticeStore, RateLimitStore } from '../store';
import { NOTICE_ID } from '../store/validate';
import type { DeliveryPump } from './delivery';
import type { FanOut } from './fan-out';
import { BUSY_RETRY_MS, type SendGate } from './send-gate';

const AckPayload = z.strictObject({ messageId: MessageId });
const NoticeAckPayload = z.strictObject({ noticeId: z.string().regex(NOTICE_ID) });

export interface DeviceEventDeps {
  config: Pick<RelayConfig, 'rateLimits'>;
  store: Pick<InboxStore, 'ackDelivery'> & Pick<NoticeStore, 'ackNotice'> & RateLimitStore;
  envelopes: Pick<EnvelopeService, 'accept'>;
  metrics: Pick<RelayMetrics, 'envelopesAccepted' | 'envelopesRefused' | 'envelopeBytes' | 'acceptSeconds' | 'sendsShed' | 'acks'>;
  gate: SendGate;
  fanOut: Pick<FanOut, 'fanOut' | 'nudge'>;
  isAccepting: () => boolean;
  now: () => number;
  /** Tell the sender's devices that a recipient device stored its envelope. */
  notifyDelivered(senderDeviceId: string, notice: { messageId: string; recipientDeviceId: string; at: number }): void;
}

export class DeviceEvents {
  constructor(
    private readonly deviceId: string,
    private readonly pump: Pick<DeliveryPump, 'acked' | 'ackFailed' | 'replay'>,
    private readonly deps: DeviceEventDeps,
  ) {}

  /** `envelope:send`: answered only once the envelope is in every recipient inbox. */
  async send(envelope: unknown): Promise<{ messageId: string; storedAt: number }> {
    if (!this.deps.isAccepting()) throw new HandoverError('UNAVAILABLE', 'the relay is shutting down; send again after reconnecting');
    const release = this.deps.gate.tryEnter(ciphertextLength(envelope));
    if (!release) {
      this.deps.metrics.sendsShed.inc();
      throw new HandoverError('UNAVAILABLE', 'the relay is busy; send again shortly', { retryAfterMs: BUSY_RETRY_MS });
    }
    try {
      return await this.accept(envelope);
    } catch (err) {
      this.refused(envelope, err);
      throw err;
    } finally {
      release();
    }
  }

  private async accept(envelope: unknown): Promise<{ messageId: string; storedAt: number }> {
    const { config, store, envelopes, metrics } = this.deps;
    const started = process.hrtime.bigint();
    const limit = await store.hitRateLimit(`send:${this.deviceId}`, 60_000, config.rateLimits.sendPerMinute);
    if (!limit.allowed) throw new HandoverError('RATE_LIMITED', 'too many envelopes from this device; slow down', { retryAfterMs: limit.retryAfterMs });
    const accepted = await envelopes.accept(this.deviceId, envelope);
    metrics.envelopesAccepted.inc();
    metrics.envelopeBytes.observe(accepted.blob.length);
    metrics.acceptSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.deps.fanOut.fanOut(accepted);
    return { messageId: accepted.messageId, storedAt: accepted.storedAt };
  }

  /**
   * A storage failure may come after the envelope was written (a lost
   * reply), and a REPLAY of the same envelope means an earlier attempt
   * stored it: in both cases it may sit in inboxes without ever having been
   * offered to connected recipients. Have their pumps read their inboxes again.
   */
  private refused(envelope: unknown, err: unknown): void {
    const code = toWireError(err).code;
    this.deps.metrics.envelopesRefused.inc({ code });
    const maybeStored = code === 'UNAVAILABLE' || (code === 'REPLAY' && isHandoverError(err) && err.details?.alreadyAccepted === true);
    if (!maybeStored) return;
    const recipients = ownRecipients(envelope, this.deviceId);
    if (recipients.length > 0) this.deps.fanOut.nudge(recipients);
  }

  /** `envelope:ack`: the device stored the envelope; the relay frees it and tells the sender. */
  async ack(payload: unknown): Promise<Record<string, never>> {
    const { messageId } = parseInput(AckPayload, payload, 'ack');
    let removed: boolean;
    try {
      removed = await this.deps.store.ackDelivery(this.deviceId, messageId);
    } catch (err) {
      this.pump.ackFailed(messageId);
      throw err;
    }
    const sender = this.pump.acked(messageId);
    if (removed) {
      this.deps.metrics.acks.inc();
      if (sender) this.deps.notifyDelivered(sender, { messageId, recipientDeviceId: this.deviceId, at: this.deps.now() });
    }
    return {};
  }

  /** `inbox:sync`: send what is pending again; answers how many envelopes went out. */
  async sync(): Promise<{ pending: number }> {
    return { pending: await this.pump.replay() };
  }

  /** `notice:ack`: the device handled a kept notice; the relay forgets it. */
  async noticeAck(payload: unknown): Promise<Record<string, never>> {
    const { noticeId } = parseInput(NoticeAckPayload, payload, 'notice ack');
    await this.deps.store.ackNotice(this.deviceId, noticeId);
    return {};
  }
}

/** The size of an envelope's ciphertext (version 2: the whole frame), before any validation (0 when it is not binary). */
function ciphertextLength(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  const ciphertext = typeof value === 'object' && value !== null ? (value as { ciphertext?: unknown }).ciphertext : undefined;
  return ciphertext instanceof Uint8Array ? ciphertext.byteLength : 0;
}

/** The recipient ids of a well-formed envelope sent by this device; none for anything else. */
function ownRecipients(value: unknown, deviceId: string): string[] {
  try {
    if (value instanceof Uint8Array) {
      const frame = readFrame(value);
      return frame.senderDeviceId === deviceId ? frame.recipients.map((r) => r.deviceId) : [];
    }
    const { header } = parseEnvelope(value);
    return header.senderDeviceId === deviceId ? header.recipients.map((r) => r.deviceId) : [];
  } catch {
    return [];
  }
}
