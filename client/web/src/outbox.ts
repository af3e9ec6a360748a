/**
 * The web app's outbox: thread actions (a note, an acknowledgement, a
 * return step…) the user sent while the relay was away or slow. Each is
 * written to the device's vault (encrypted under the storage key, like every
 * other record: never plaintext in IndexedDB) before it is tried, shown as
 * "sending…" until the relay took it, survives a reload and the lock, and is
 * sent when the relay is back. The case layer builds the event at send time
 * (fresh `at` and `prev`), so a late note lands after what arrived meanwhile
 * and the state machine checks it against the thread as it is then.
 *
 * Exactly once: items go one at a time, oldest first; one is removed only
 * once the relay took it. An item found already in the thread (the page was
 * reloaded after the relay took it, before it was removed) is not sent again:
 * an event of this device of the same type and body, made after the item was
 * last handed to the case layer, is that item (an identical note behind it
 * is handed over only later, so it is never mistaken for the first one).
 * Known gap, as in the case layer's referral outbox: a page closed after the relay took the envelope but before this device stored
 * its own copy sends it again (visible as a second note).
 *
 * Referrals have their own outbox in the case layer (a referral is several
 * messages); this module only lists them.
 */
import type { CaseService, DeclineBody, IntakeScheduleBody, ReturnStepBody, ThreadEvent } from '../../referral/index';
import { type HandoverClient, isHandoverError } from '../../sdk/index';

const RECORD = 'web-outbox';

/** The actions that wait in the outbox when the relay is away (each one event; no consent decision at send time). */
export type QueuedAction =
  | { kind: 'note'; body: { text: string } }
  | { kind: 'acknowledge' | 'accept' | 'arrived' | 'no-show' | 'start-service' | 'complete-service'; body: Record<string, never> }
  | { kind: 'decline'; body: DeclineBody }
  | { kind: 'request-info'; body: { questions: string } }
  | { kind: 'provide-info'; body: { details: string } }
  | { kind: 'schedule'; body: IntakeScheduleBody }
  | { kind: 'withdraw'; body: { reasonCode: Extract<ThreadEvent['event'], { type: 'referral.withdraw' }>['body']['reasonCode']; details?: string } }
  | { kind: 'close'; body: { reasonForCaseClosure: string } }
  | { kind: 'return-step'; body: Omit<ReturnStepBody, 'responsibleOrgId'> };

export type QueuedKind = QueuedAction['kind'];

/** The event type each action makes (to find it in the thread after a reload). */
export const EVENT_TYPE: Record<QueuedKind, ThreadEvent['event']['type']> = {
  note: 'note',
  acknowledge: 'referral.acknowledge',
  accept: 'referral.accept',
  decline: 'referral.decline',
  'request-info': 'referral.request-info',
  'provide-info': 'referral.provide-info',
  schedule: 'intake.schedule',
  arrived: 'intake.arrived',
  'no-show': 'intake.no-show',
  'start-service': 'service.start',
  'complete-service': 'service.complete',
  withdraw: 'referral.withdraw',
  close: 'case.close',
  'return-step': 'return.step',
};

export type OutboxItem = QueuedAction & {
  id: string;
  threadId: string;
  queuedAt: number;
  /** When it was last handed to the case layer (saved first): only an item tried before can be in the thread already. */
  triedAt?: number;
  /** Set when the relay or the thread refused it: it is not tried again; the user sees why and discards it. */
  failed?: { code: string; message: string };
};

/** Where an item is now, for the screens. */
export type ItemState = 'sending' | 'waiting' | 'failed';

/** Failures of the way, not of the action: the item waits and is tried again. */
const TRANSIENT = new Set(['UNAVAILABLE', 'RATE_LIMITED', 'UNAUTHENTICATED', 'DEVICE_SET_MISMATCH']);

export function isTransient(err: unknown): boolean {
  return isHandoverError(err) && TRANSIENT.has(err.code);
}

/** Send one action through the case layer (which builds, checks and signs the event now). */
export function dispatch(cases: CaseService, threadId: string, action: QueuedAction): Promise<unknown> {
  switch (action.kind) {
    case 'note':
      return cases.note(threadId, action.body.text);
    case 'acknowledge':
      return cases.acknowledge(threadId);
    case 'accept':
      return cases.accept(threadId);
    case 'arrived':
      return cases.arrived(threadId);
    case 'no-show':
      return cases.noShow(threadId);
    case 'start-service':
      return cases.startService(threadId);
    case 'complete-service':
      return cases.completeService(threadId);
    case 'decline':
      return cases.decline(threadId, action.body);
    case 'request-info':
      return cases.requestInfo(threadId, action.body);
    case 'provide-info':
      return cases.provideInfo(threadId, action.body);
    case 'schedule':
      return cases.scheduleIntake(threadId, action.body);
    case 'withdraw':
      return cases.withdraw(threadId, action.body);
    case 'close':
      return cases.close(threadId, action.body.reasonForCaseClosure);
    case 'return-step':
      return cases.returnStep(threadId, action.body);
  }
}

/** The thread's event that is this item, when the relay took it before the item was removed (a reload in between). */
export function sentAlready(item: OutboxItem, events: readonly ThreadEvent[], deviceId: string): boolean {
  const since = item.triedAt;
  if (since === undefined) return false;
  const type = EVENT_TYPE[item.kind];
  const wanted = item.body as Record<string, unknown>;
  return events.some((e) => {
    const ev = e.event;
    if (ev.type !== type || ev.author.deviceId !== deviceId || ev.at < since) return false;
    const body = ev.body as Record<string, unknown>;
    return Object.entries(wanted).every(([k, v]) => JSON.stringify(body[k]) === JSON.stringify(v));
  });
}

function isItem(value: unknown): value is OutboxItem {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === 'string' &&
    typeof v.threadId === 'string' &&
    typeof v.queuedAt === 'number' &&
    typeof v.kind === 'string' &&
    v.kind in EVENT_TYPE &&
    typeof v.body === 'object' &&
    v.body !== null
  );
}

export class Outbox {
  private items: OutboxItem[] = [];
  private readonly inFlight = new Set<string>();
  private readonly listeners = new Set<() => void>();
  /** One item at a time, in order: submissions and flushes queue here. */
  private chain: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly client: HandoverClient,
    private readonly cases: CaseService,
  ) {}

  /** The outbox this device kept (in its vault) from earlier sessions. */
  static async load(client: HandoverClient, cases: CaseService): Promise<Outbox> {
    const outbox = new Outbox(client, cases);
    const kept = await client.getRecord(RECORD);
    outbox.items = Array.isArray(kept) ? kept.filter(isItem) : [];
    outbox.referrals = (await cases.pendingReferrals()).length;
    return outbox;
  }

  /** Items, oldest first; of one thread when given. */
  list(threadId?: string): readonly OutboxItem[] {
    return threadId === undefined ? [...this.items] : this.items.filter((i) => i.threadId === threadId);
  }

  /** Everything waiting: thread actions here, and referrals the case layer holds until all of them went out. */
  get count(): number {
    return this.items.length + this.referrals;
  }

  private referrals = 0;

  /** Count the case layer's pending referrals again (after a referral could not go out, and after each flush). */
  async countReferrals(): Promise<void> {
    const n = (await this.cases.pendingReferrals()).length;
    if (n === this.referrals) return;
    this.referrals = n;
    this.changed();
  }

  stateOf(item: OutboxItem): ItemState {
    if (item.failed) return 'failed';
    return this.inFlight.has(item.id) ? 'sending' : 'waiting';
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop telling anyone (the lock); what is queued stays in the vault for the next unlock. */
  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }

  /** Resolves when nothing is being sent or saved. */
  idle(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task);
    // The chain goes on after a failure; the caller of this task gets the failure itself.
    this.chain = next.catch(() => undefined);
    return next;
  }

  private save(): Promise<void> {
    return this.client.putRecord(RECORD, this.items);
  }

  /**
   * Keep the action, then send it if the relay is there. Resolves 'sent'
   * when the relay took it, 'queued' when it waits for the relay; rejects
   * (and keeps nothing) when the thread or the relay refused it, so the
   * form that sent it can say why, as when it is sent directly.
   */
  async submit(threadId: string, action: QueuedAction, onKept?: () => void): Promise<'sent' | 'queued'> {
    const item = { ...action, id: randomId(this.client), threadId, queuedAt: Date.now() } as OutboxItem;
    await this.run(async () => {
      this.items.push(item);
      await this.save();
    });
    // Kept: the form that made it can be emptied now (a slow relay must not leave it there to be sent twice).
    onKept?.();
    this.changed();
    return this.run(async () => {
      const outcome = await this.attempt(item);
      if (outcome.status !== 'failed') return outcome.status;
      await this.remove(item.id);
      throw outcome.error;
    });
  }

  /** Send what waits, oldest first; stops at the first item the relay cannot take now. */
  flush(): Promise<void> {
    return this.run(async () => {
      for (const item of [...this.items]) {
        if (item.failed || !this.items.includes(item)) continue;
        const outcome = await this.attempt(item);
        if (outcome.status === 'queued') return;
        if (outcome.status === 'failed') {
          item.failed = { code: isHandoverError(outcome.error) ? outcome.error.code : 'INTERNAL', message: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) };
          await this.save();
          this.changed();
        }
      }
    });
  }

  /** Take an item out without sending it (one that failed, or one the user no longer wants sent). */
  discard(id: string): Promise<void> {
    return this.run(() => this.remove(id));
  }

  private async remove(id: string): Promise<void> {
    this.items = this.items.filter((i) => i.id !== id);
    await this.save();
    this.changed();
  }

  private async attempt(item: OutboxItem): Promise<{ status: 'sent' | 'queued' } | { status: 'failed'; error: unknown }> {
    if (this.disposed || !this.client.online) return { status: 'queued' };
    this.inFlight.add(item.id);
    this.changed();
    try {
      if (sentAlready(item, await this.cases.events(item.threadId), this.client.deviceId)) {
        await this.remove(item.id);
        return { status: 'sent' };
      }
      item.triedAt = Date.now();
      await this.save();
      await dispatch(this.cases, item.threadId, item);
      await this.remove(item.id);
      return { status: 'sent' };
    } catch (error) {
      if (isTransient(error)) return { status: 'queued' };
      return { status: 'failed', error };
    } finally {
      this.inFlight.delete(item.id);
      this.changed();
    }
  }
}

function randomId(client: HandoverClient): string {
  return Array.from(client.crypto.random(12), (b) => b.toString(16).padStart(2, '0')).join('');
}
