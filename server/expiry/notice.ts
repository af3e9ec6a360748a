/**
 * The expiry notice, defined once: what the sweeper keeps for a sender
 * whose envelope expired undelivered, and what the socket layer reads back
 * and sends on when that sender connects. The relay wrote every kept notice
 * itself, yet the reader checks it against this schema before sending it on
 * (anything else in the notice store is dropped, not forwarded).
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

export function encodeExpiryNotice(notice: ExpiryNotice): string {
  return JSON.stringify(notice);
}

/** A kept notice's JSON as an expiry notice, or undefined when it is not one. */
export function decodeExpiryNotice(json: string): ExpiryNotice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = ExpiryNotice.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Up to `limit` kept expiry notices of a device, oldest first, each with
 * its id. A kept notice that is not an expiry notice is acked (dropped)
 * rather than sent on; if that ack fails it is dropped on a later connect.
 */
export async function readKeptExpiryNotices(
  store: Pick<NoticeStore, 'readNotices' | 'ackNotice'>,
  deviceId: string,
  limit: number,
): Promise<Array<ExpiryNotice & { noticeId: string }>> {
  const kept: Array<ExpiryNotice & { noticeId: string }> = [];
  for (const { noticeId, json } of await store.readNotices(deviceId, limit)) {
    const notice = decodeExpiryNotice(json);
    if (notice) kept.push({ ...notice, noticeId });
    else await store.ackNotice(deviceId, noticeId).catch(() => undefined);
  }
  return kept;
}
