/**
 * Volume scenarios: a network of sender devices (one org each) and a
 * shelter org whose devices receive everything, envelopes sealed up front
 * with the real crypto core, and the ledger that checks the end state:
 * every acknowledged envelope processed exactly once by every recipient
 * device, in per-sender order, bytes intact.
 */
import type { Crypto } from '../../../shared/crypto/types';
import type { RecipientKeys } from '../../../shared/device-keys';
import { toB64u, utf8 } from '../../../shared/encoding';
import { sealEnvelope } from '../../../shared/envelope';
import type { SealedEnvelope } from '../../../shared/schemas';
import type { TestDevice, TestNetwork, TestOrg } from '../../support/network';
import { registerTestDevice, signInTestDevice } from '../../support/relay';
import type { DeliveryFigures } from './figures';

export interface BurstNetwork {
  shelter: TestOrg;
  senders: TestDevice[];
  receivers: TestDevice[];
}

/** `senders` devices, each in its own NGO org, and one shelter org with `receivers` devices. */
export function burstNetwork(network: TestNetwork, label: string, senders: number, receivers: number): BurstNetwork {
  const shelter = network.addOrg(`${label}-shelter`, 'shelter');
  return {
    shelter,
    senders: Array.from({ length: senders }, (_, i) => network.addDevice(network.addOrg(`${label}-ngo${i}`, 'ngo'), `${label}-s${i}`)),
    receivers: Array.from({ length: receivers }, (_, i) => network.addDevice(shelter, `${label}-r${i}`)),
  };
}

export async function registerAll(url: string, devices: readonly TestDevice[]): Promise<void> {
  for (const d of devices) {
    const res = await registerTestDevice(url, d);
    if (res.status !== 201) throw new Error(`registering ${d.keys.deviceId} failed: ${JSON.stringify(res.json)}`);
  }
}

export async function signInAll(fx: { url: string; crypto: Crypto; network: TestNetwork }, devices: readonly TestDevice[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const d of devices) tokens.set(d.keys.deviceId, await signInTestDevice(fx, d));
  return tokens;
}

interface LedgerEntry {
  sender: string;
  seq: number;
  recipients: string[];
}

/** What a receiving device reports: the ids it processed, in order, and its raw counters. */
export interface ReceiverView {
  deviceId: string;
  processed: readonly string[];
  rawDeliveries: number;
  corrupt: number;
}

export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  readonly acked = new Set<string>();

  /**
   * Seal `perSender` envelopes from each sender to `recipients` (bundles
   * without one-time prekeys: the signed prekey is the last resort, so any
   * number of envelopes stays openable). Bodies are valid SDK message bodies.
   */
  seal(
    crypto: Crypto,
    network: TestNetwork,
    senders: readonly TestDevice[],
    recipients: readonly RecipientKeys[],
    perSender: number,
    orgIds: readonly string[],
  ): Map<string, SealedEnvelope[]> {
    const out = new Map<string, SealedEnvelope[]>();
    for (const sender of senders) {
      const threadId = toB64u(crypto.random(16));
      const list: SealedEnvelope[] = [];
      const senderId = sender.keys.deviceId;
      for (let seq = 0; seq < perSender; seq++) {
        const body = { v: 1, threadId, orgIds: [sender.org.orgId, ...orgIds], payload: { sender: senderId, seq } };
        const envelope = sealEnvelope(crypto, {
          sender: network.senderKeys(sender),
          recipients,
          threadId,
          sentAt: Date.now(),
          body: utf8(JSON.stringify(body)),
        });
        this.entries.set(envelope.header.messageId, { sender: senderId, seq, recipients: recipients.map((r) => r.deviceId) });
        list.push(envelope);
      }
      out.set(senderId, list);
    }
    return out;
  }

  ack(messageId: string): void {
    this.acked.add(messageId);
  }

  /** Pairs (acked envelope, recipient device) among the given receivers. */
  expectedFor(receivers: readonly ReceiverView[]): number {
    const ids = new Set(receivers.map((r) => r.deviceId));
    let n = 0;
    for (const id of this.acked) for (const r of this.entries.get(id)?.recipients ?? []) if (ids.has(r)) n++;
    return n;
  }

  deliveredFor(receivers: readonly ReceiverView[]): number {
    let n = 0;
    for (const r of receivers) for (const id of new Set(r.processed)) if (this.acked.has(id) && this.entries.get(id)?.recipients.includes(r.deviceId)) n++;
    return n;
  }

  /** The end state, with the first few problems spelled out. */
  verify(receivers: readonly ReceiverView[], sent: number): { figures: DeliveryFigures; problems: string[] } {
    const problems: string[] = [];
    let lost = 0;
    let duplicates = 0;
    let orderViolations = 0;
    let unexpected = 0;
    let raw = 0;
    let processedTotal = 0;
    let corrupt = 0;
    for (const r of receivers) {
      raw += r.rawDeliveries;
      corrupt += r.corrupt;
      processedTotal += r.processed.length;
      const counts = new Map<string, number>();
      for (const id of r.processed) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [id, n] of counts) {
        if (n > 1) {
          duplicates += n - 1;
          if (problems.length < 10) problems.push(`${r.deviceId} processed ${id} ${n} times`);
        }
        const entry = this.entries.get(id);
        if (!entry || !entry.recipients.includes(r.deviceId)) {
          unexpected++;
          if (problems.length < 10) problems.push(`${r.deviceId} got ${id}, not addressed to it`);
        }
      }
      for (const id of this.acked) {
        const entry = this.entries.get(id);
        if (entry?.recipients.includes(r.deviceId) && !counts.has(id)) {
          lost++;
          if (problems.length < 10) problems.push(`${r.deviceId} never got ${entry.sender}#${entry.seq} (${id})`);
        }
      }
      // Per-sender order: sequence numbers must rise in processing order.
      const last = new Map<string, number>();
      for (const id of r.processed) {
        const entry = this.entries.get(id);
        if (!entry) continue;
        const prev = last.get(entry.sender) ?? -1;
        if (entry.seq <= prev) {
          orderViolations++;
          if (problems.length < 10) problems.push(`${r.deviceId}: ${entry.sender}#${entry.seq} after #${prev}`);
        }
        last.set(entry.sender, Math.max(prev, entry.seq));
      }
    }
    if (corrupt > 0) problems.push(`${corrupt} deliveries with bytes not matching the signed hash`);
    const figures: DeliveryFigures = {
      envelopesSent: sent,
      envelopesAcknowledged: this.acked.size,
      recipientDeliveriesExpected: this.expectedFor(receivers),
      recipientDeliveriesDelivered: this.deliveredFor(receivers),
      lost,
      duplicatesAfterDedupe: duplicates,
      redeliveriesBeforeDedupe: raw - processedTotal,
      orderViolations,
      corruptDeliveries: corrupt,
      deliveredButNotAddressed: unexpected,
    };
    return { figures, problems };
  }
}

/** Percentiles of a list of numbers (ms), rounded. */
export function percentiles(values: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

/** Where a lost envelope is in Redis (default key prefix), for a precise failure message. */
export async function explainInRedis(
  client: { get(k: string): Promise<string | null>; hgetall(k: string): Promise<Record<string, string>>; smembers(k: string): Promise<string[]>; hget(k: string, f: string): Promise<string | null> },
  messageId: string,
  deviceIds: readonly string[],
): Promise<Record<string, unknown>> {
  const inboxes: Record<string, { entry: string | null; replay: string | null }> = {};
  for (const d of deviceIds) {
    inboxes[d] = { entry: await client.hget(`ho:inbox-index:{${d}}`, messageId), replay: await client.hget(`ho:replay:{${d}}`, messageId) };
  }
  return { inboxes };
}
