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
 * Two actions change the thread for good, and are recognised by what they
 * leave rather than by a matching event: a consent withdrawal is done once
 * the thread is consent-withdrawn or purged (its events are gone then, and
 * the case layer refuses anything more), and adding an org is done once the
 * org is a participant (whoever withdrew or added it: sending it again could
 * only be refused). A withdrawal that went out takes the thread's other
 * items with it (they hold the case's words, and the thread is purged).
 * Until a withdrawal is sent, the survivor's data stays on this device: the
 * case layer purges when it sends.
 *
 * Adding an org is checked against the consent when it is queued (the
 * thread screen: not covered needs a written vital-interest reason, kept in
 * the item) and again by the case layer when it is sent; if it is refused
 * then, the item fails with the reason, as any other.
 *
 * Referrals have their own outbox in the case layer (a referral is several
 * messages); this module only lists them.
 */
import type { CaseService, CaseThread, DeclineBody, IntakeScheduleBody, Purpose, ReturnStepBody, ThreadEvent } from '../../referral/index';
import { type HandoverClient, isHandoverError } from '../../sdk/index';

const RECORD = 'web-outbox';

/** The actions that wait in the outbox when the relay is away (each one event; the case layer checks the consent again at send time). */
export type QueuedAction =
  | { kind: 'note'; body: { text: string } }
  | { kind: 'acknowledge' | 'accept' | 'arrived' | 'no-show' | 'start-service' | 'complete-service'; body: Record<string, never> }
  | { kind: 'decline'; body: DeclineBody }
  | { kind: 'request-info'; body: { questions: string } }
  | { kind: 'provide-info'; body: { details: string } }
  | { kind: 'schedule'; body: IntakeScheduleBody }
  | { kind: 'withdraw'; body: { reasonCode: Extract<ThreadEvent['event'], { type: 'referral.withdraw' }>['body']['reasonCode']; details?: string } }
  | { kind: 'close'; body: { reasonForCaseClosure: string } }
  | { kind: 'return-step'; body: Omit<ReturnStepBody, 'responsibleOrgId'> }
  | { kind: 'withdraw-consent'; body: Parameters<CaseService['withdrawConsent']>[1] }
  | { kind: 'add-participant'; body: { orgId: string; purpose: Purpose; overrideReason?: string } };

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
  'withdraw-consent': 'consent.withdraw',
  'add-participant': 'participant.add',
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
    case 'withdraw-consent':
      // Sent, it purges this device's copy of the case (the case layer does, before it resolves).
      return cases.withdrawConsent(threadId, action.body);
    case 'add-participant':
      return cases.addParticipant(threadId, action.body);
  }
}

/** What of a thread tells a withdrawal or an added org is done already. */
export type ThreadFacts = Pick<CaseThread, 'purged' | 'consentWithdrawal' | 'participants'>;

/** The thread's state or event that is this item, when the relay took it before the item was removed (a reload in between). */
export function sentAlready(item: OutboxItem, events: readonly ThreadEvent[], deviceId: string, thread?: ThreadFacts): boolean {
  // Final changes, whoever made them: the thread shows them (no matching event needed; a purged thread has none).
  if (item.kind === 'withdraw-consent') return thread !== undefined && (Boolean(thread.purged) || thread.consentWithdrawal !== null);
  if (item.kind === 'add-participant') {
    const { orgId } = item.body;
    return thread !== undefined ? thread.participants.some((p) => p.orgId === orgId) : events.some((e) => e.event.type === 'participant.add' && e.event.body.orgId === orgId);
  }
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

  /** The relay took the item (or the thread holds it): out of the outbox; a withdrawal takes its purged thread's other items along. */
  private async done(item: OutboxItem): Promise<void> {
    if (item.kind !== 'withdraw-consent') return this.remove(item.id);
    this.items = this.items.filter((i) => i.threadId !== item.threadId);
    await this.save();
    this.changed();
  }

  private addedBySelf(item: OutboxItem & { kind: 'add-participant' }, events: readonly ThreadEvent[]): boolean {
    const since = item.triedAt ?? Infinity;
    return events.some((e) => e.event.type === 'participant.add' && e.event.body.orgId === item.body.orgId && e.event.author.deviceId === this.client.deviceId && e.event.at >= since);
  }

  private async attempt(item: OutboxItem): Promise<{ status: 'sent' | 'queued' } | { status: 'failed'; error: unknown }> {
    if (this.disposed || !this.client.online) return { status: 'queued' };
    this.inFlight.add(item.id);
    this.changed();
    try {
      const final = item.kind === 'withdraw-consent' || item.kind === 'add-participant';
      const thread = final ? await this.cases.thread(item.threadId) : undefined;
      const events = thread?.purged ? [] : await this.cases.events(item.threadId);
      if (sentAlready(item, events, this.client.deviceId, thread)) {
        // Added by this device, and a reload came before the history went to the new org: send it now (it is the same messages).
        if (item.kind === 'add-participant' && item.triedAt !== undefined && this.addedBySelf(item, events)) {
          // Best effort: the org is a participant either way (the add went out); a failure here is logged, not the item's.
          await this.cases.shareHistory(item.threadId, item.body.orgId).catch((err: unknown) => console.warn('the case history was not shared again:', isHandoverError(err) ? err.code : String(err)));
        }
        await this.done(item);
        return { status: 'sent' };
      }
      item.triedAt = Date.now();
      await this.save();
      await dispatch(this.cases, item.threadId, item);
      await this.done(item);
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
