/**
 * Fan-out of stored envelopes to the delivery pumps of connected devices,
 * in this process and the others. A live envelope is offered to the pumps
 * here as is; other processes get only its ids (`inbox:new` over the Redis
 * adapter) and their pumps read the inbox. A nudge has pumps read their
 * inboxes again, for envelopes that may be stored but were never offered.
 */
import type { AcceptedEnvelope } from '../services/envelopes';
import type { DeliveryPump, PendingItem } from './delivery';
import { encodeOnce } from './encode-once';

type Pump = Pick<DeliveryPump, 'offer' | 'replaySoon'>;

/** The `inbox:new` channel between relay processes. */
export interface ProcessBus {
  publish(notice: { recipientDeviceIds: string[]; messageId: string }): void;
  subscribe(handler: (notice: unknown) => void): void;
}

export class FanOut {
  private readonly pumps = new Map<string, Set<Pump>>();
  private crossProcess = false;

  constructor(private readonly bus: ProcessBus) {
    // Another process stored an envelope for devices that may have sockets here.
    bus.subscribe((notice) => {
      for (const deviceId of recipientsOf(notice)) this.replayPumpsOf(deviceId);
    });
  }

  /** From now on, fan-outs and nudges also go to the other processes (once the Redis adapter is installed). */
  enableCrossProcess(): void {
    this.crossProcess = true;
  }

  add(deviceId: string, pump: Pump): void {
    const mine = this.pumps.get(deviceId) ?? new Set();
    mine.add(pump);
    this.pumps.set(deviceId, mine);
  }

  remove(deviceId: string, pump: Pump): void {
    const mine = this.pumps.get(deviceId);
    mine?.delete(pump);
    if (mine?.size === 0) this.pumps.delete(deviceId);
  }

  /** Deliver a newly stored envelope to its recipients, here and in the other processes. */
  fanOut(accepted: AcceptedEnvelope): void {
    const item: PendingItem = { messageId: accepted.messageId, senderDeviceId: accepted.senderDeviceId, blob: accepted.blob, delivery: accepted.delivery };
    // The same delivery goes to every recipient socket here: Socket.IO encodes it once.
    if (accepted.recipientDeviceIds.length > 1) encodeOnce(accepted.delivery);
    for (const deviceId of accepted.recipientDeviceIds) for (const pump of this.pumps.get(deviceId) ?? []) pump.offer(item);
    if (this.crossProcess) this.bus.publish({ recipientDeviceIds: accepted.recipientDeviceIds, messageId: accepted.messageId });
  }

  /** Have the recipients' pumps (here and in the other processes) read their inboxes again. */
  nudge(recipientDeviceIds: string[]): void {
    for (const deviceId of recipientDeviceIds) this.replayPumpsOf(deviceId);
    if (this.crossProcess) this.bus.publish({ recipientDeviceIds, messageId: '' });
  }

  private replayPumpsOf(deviceId: string): void {
    for (const pump of this.pumps.get(deviceId) ?? []) pump.replaySoon();
  }
}

/** The device ids of an `inbox:new` notice from another process (it came as JSON: checked, not trusted). */
function recipientsOf(notice: unknown): string[] {
  const ids = typeof notice === 'object' && notice !== null ? (notice as { recipientDeviceIds?: unknown }).recipientDeviceIds : undefined;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
}
