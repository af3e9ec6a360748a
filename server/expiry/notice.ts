/**
 * The kept notices, defined once: what the relay keeps for a sending device
 * until it acks — an expiry (the sweeper: the envelope expired undelivered
 * in some inboxes) or a delivery (a recipient device acked the envelope) —
 * and what the socket layer reads back and sends on when that sender
 * connects. Both are kept so a sender that is offline when they happen (a
 * CLI runs for seconds) still learns them. The relay wrote every kept
 * notice itself, yet the reader checks it against these schemas before
 * sending it on (anything else in the notice store is dropped, not
 * forwarded).
 */
import { z } from 'zod';
import { MessageId } from '../../shared';
import type { NoticeStore } from '../store';

export const ExpiryNotice = z.strictObject({
  messageId: MessageId,
  /** The recipient devices that had not stored the envelope when it expired. */
  recipientDeviceIds: z.array(z.string()).max(10_000),
  /** When the relay noticed the expiry (ms). */
  at: z.number().int(),
});
export type ExpiryNotice = z.infer<typeof ExpiryNotice>;

/**
 * The notice as the sender's device receives it (`envelope:expired`): with
 * its id when the relay kept it, for the device to ack with `notice:ack`.
 */
export type SentExpiryNotice = ExpiryNotice & { noticeId?: string };

export const DeliveredNotice = z.strictObject({
  kind: z.literal('delivered'),
  messageId: MessageId,
  recipientDeviceId: z.string().max(200),
  /** When the recipient device acked (ms). */
  at: z.number().int(),
});
export type DeliveredNotice = z.infer<typeof DeliveredNotice>;

/** `envelope:delivered` as the sender's device receives it: with its id when kept, to ack with `notice:ack`. */
export type SentDeliveredNotice = Omit<DeliveredNotice, 'kind'> & { noticeId?: string };

export function encodeDeliveredNotice(notice: Omit<DeliveredNotice, 'kind'>): string {
  return JSON.stringify({ kind: 'delivered', ...notice });
}

export function encodeExpiryNotice(notice: ExpiryNotice): string {
  return JSON.stringify(notice);
}

export type KeptNotice =
  | { event: 'envelope:expired'; notice: ExpiryNotice & { noticeId: string } }
  | { event: 'envelope:delivered'; notice: Omit<DeliveredNotice, 'kind'> & { noticeId: string } };

/** A kept notice's JSON as the event to send, or undefined when it is neither kind. */
export function decodeKeptNotice(json: string, noticeId: string): KeptNotice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const delivered = DeliveredNotice.safeParse(value);
  if (delivered.success) {
    const { kind: _kind, ...notice } = delivered.data;
    return { event: 'envelope:delivered', notice: { ...notice, noticeId } };
  }
  const expiry = ExpiryNotice.safeParse(value);
  return expiry.success ? { event: 'envelope:expired', notice: { ...expiry.data, noticeId } } : undefined;
}

/**
 * Up to `limit` kept notices of a device, oldest first, each with its id.
 * A kept notice of neither kind is acked (dropped) rather than sent on; if
 * that ack fails, the read fails (the store is failing) and is tried again
 * on a later connect.
 */
export async function readKeptNotices(
  store: Pick<NoticeStore, 'readNotices' | 'ackNotice'>,
  deviceId: string,
  limit: number,
): Promise<KeptNotice[]> {
  const kept: KeptNotice[] = [];
  for (const { noticeId, json } of await store.readNotices(deviceId, limit)) {
    const notice = decodeKeptNotice(json, noticeId);
    if (notice) kept.push(notice);
    // A store that cannot drop it now fails this read: the caller logs it, and the notices come on a later connect.
    else await store.ackNotice(deviceId, noticeId);
  }
  return kept;
}
