/**
 * An in-process fake network of CaseTransports for the referral layer's
 * tests. It does what the SDK promises the case layer and nothing more:
 * messages go to every device of the addressed orgs plus the sender's own
 * other devices, the receiver sees the sender's real device and org ids
 * (whatever the payload claims), payloads are copied as JSON (as
 * encryption and the vault would), each device keeps its own store, and a
 * repeated message id is stored once.
 *
 * Nothing is delivered until the test says so (`deliverAll` / `settle`),
 * so tests can hold messages back to create concurrent actions.
 *
 * Hostile parts can be played too: `leakTo` makes messages also reach
 * every device of other orgs (a relay that substituted bundles, or a sender
 * that copies the case elsewhere), named in the recipient list as a real
 * signed header would name them; `send` takes a `sentAt`, as a hostile
 * device signs whatever time it likes.
 */
import { randomBytes } from 'node:crypto';
import { HandoverError } from '../../shared/errors';
import type { OrgTypeName } from '../../client/referral/domain/schemas';
import type { CaseTransport } from '../../client/referral/cases/transport';
import type { StoredMessage } from '../../client/sdk/messages';

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export interface Leak {
  orgIds: readonly string[];
  when: (message: StoredMessage) => boolean;
}

export class LoopbackNetwork {
  private readonly devices: LoopbackTransport[] = [];
  private readonly orgTypes = new Map<string, OrgTypeName>();
  private queue: Array<{ to: LoopbackTransport; message: StoredMessage }> = [];
  private readonly leaks = new Set<Leak>();

  constructor(readonly now: () => number) {}

  device(orgId: string, orgType: OrgTypeName, deviceId: string): LoopbackTransport {
    const known = this.orgTypes.get(orgId);
    if (known && known !== orgType) throw new Error(`${orgId} is already a ${known}`);
    this.orgTypes.set(orgId, orgType);
    const device = new LoopbackTransport(this, orgId, deviceId);
    this.devices.push(device);
    return device;
  }

  orgType(orgId: string): OrgTypeName | undefined {
    return this.orgTypes.get(orgId);
  }

  /** Messages sent but not delivered yet. */
  pending(): number {
    return this.queue.length;
  }

  /** Drop everything in flight (a device that never got them). */
  discardPending(): number {
    const n = this.queue.length;
    this.queue = [];
    return n;
  }

  /** Deliver what is queued now, in send order (not what those deliveries cause). */
  deliverAll(): number {
    const batch = this.queue;
    this.queue = [];
    for (const { to, message } of batch) to.receive(message);
    return batch.length;
  }

  /** Deliver until nothing is in flight and every given service is idle. */
  async settle(services: ReadonlyArray<{ idle(): Promise<void> }>): Promise<void> {
    for (let round = 0; round < 100; round++) {
      await Promise.all(services.map((s) => s.idle()));
      if (this.queue.length === 0) return;
      this.deliverAll();
    }
    throw new Error('the loopback network did not settle');
  }

  /**
   * From now on, every message for which `when` holds (all by default) also
   * goes to every device of `orgIds`, and its recipient list names them.
   * Returns a function that stops the leak.
   */
  leakTo(orgIds: readonly string[], when: (message: StoredMessage) => boolean = () => true): () => void {
    const leak: Leak = { orgIds, when };
    this.leaks.add(leak);
    return () => this.leaks.delete(leak);
  }

  /** @internal The devices a message goes to: every device of its orgs (and of leaking orgs) but the sender. */
  recipientsOf(from: LoopbackTransport, message: StoredMessage): LoopbackTransport[] {
    const orgIds = new Set(message.orgIds);
    for (const leak of this.leaks) if (leak.when(message)) for (const id of leak.orgIds) orgIds.add(id);
    return this.devices.filter((d) => d !== from && orgIds.has(d.orgId));
  }

  /** @internal */
  route(from: LoopbackTransport, message: StoredMessage, recipients: readonly LoopbackTransport[]): void {
    if (recipients.length === 0) throw new HandoverError('BAD_REQUEST', 'no recipient device is registered in these orgs');
    for (const to of recipients) this.queue.push({ to, message: { ...copy(message), direction: 'in' } });
  }
}

export class LoopbackTransport implements CaseTransport {
  readonly trust: CaseTransport['trust'];
  private readonly threads = new Map<string, StoredMessage[]>();
  private readonly records = new Map<string, string>();
  private readonly seen = new Set<string>();
  private readonly listeners = new Set<(message: StoredMessage) => void>();

  constructor(
    private readonly network: LoopbackNetwork,
    readonly orgId: string,
    readonly deviceId: string,
  ) {
    this.trust = {
      org: (id: string) => {
        const orgType = network.orgType(id);
        return orgType ? { orgType } : undefined;
      },
    };
  }

  /** `sentAt` (tests only) plays a device that signs another time than its clock's. */
  async send(input: { threadId: string; orgIds: string[]; payload: unknown; sentAt?: number }): Promise<StoredMessage> {
    const now = this.network.now();
    const orgIds = [...new Set([...input.orgIds, this.orgId])];
    const message: StoredMessage = {
      messageId: randomBytes(16).toString('base64url'),
      threadId: input.threadId,
      orgIds,
      senderDeviceId: this.deviceId,
      senderOrgId: this.orgId,
      recipientDeviceIds: [],
      sentAt: input.sentAt ?? now,
      receivedAt: now,
      direction: 'out',
      payload: copy(input.payload),
    };
    const recipients = this.network.recipientsOf(this, message);
    message.recipientDeviceIds = recipients.map((d) => d.deviceId);
    this.network.route(this, message, recipients);
    this.store(message);
    return copy(message);
  }

  async sendAll(inputs: ReadonlyArray<{ threadId: string; orgIds: string[]; payload: unknown }>): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    for (const input of inputs) out.push(await this.send(input));
    return out;
  }

  async threadCounts(): Promise<Record<string, number>> {
    return Object.fromEntries([...this.threads].map(([id, list]) => [id, list.length]));
  }

  /** @internal Called by the network: store, then tell the listeners (as the SDK does). */
  receive(message: StoredMessage): void {
    if (this.seen.has(message.messageId)) return;
    this.store({ ...message, receivedAt: this.network.now() });
    for (const listener of this.listeners) listener(copy(message));
  }

  private store(message: StoredMessage): void {
    this.seen.add(message.messageId);
    const list = this.threads.get(message.threadId) ?? [];
    list.push(message);
    list.sort((a, b) => a.sentAt - b.sentAt || (a.messageId < b.messageId ? -1 : 1));
    this.threads.set(message.threadId, list);
  }

  async threadMessages(threadId: string): Promise<StoredMessage[]> {
    return copy(this.threads.get(threadId) ?? []);
  }

  async threadIds(): Promise<string[]> {
    return [...this.threads.keys()];
  }

  async purgeThread(threadId: string): Promise<number> {
    const n = this.threads.get(threadId)?.length ?? 0;
    this.threads.delete(threadId);
    return n;
  }

  on(_event: 'message', listener: (message: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async getRecord(name: string): Promise<unknown> {
    const text = this.records.get(name);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async putRecord(name: string, value: unknown): Promise<void> {
    this.records.set(name, JSON.stringify(value));
  }

  async deleteRecord(name: string): Promise<void> {
    this.records.delete(name);
  }

  /** Test view of everything this device stores (messages and records), to look for leftover personal data. */
  dump(): string {
    return JSON.stringify({ threads: [...this.threads.entries()], records: [...this.records.entries()] });
  }

  /** Every message this device holds, in every thread (copies). */
  allMessages(): StoredMessage[] {
    return copy([...this.threads.values()].flat());
  }
}
