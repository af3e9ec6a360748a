/**
 * The referral case layer of one device: builds thread events, checks them
 * against the thread state and the survivor's consent before anything is
 * sent, derives each thread's state from the messages the device holds, and
 * acts on a consent withdrawal (purge, then a purge receipt).
 *
 * Who did what is taken from the transport's verified sender, never from
 * the payload: an event whose `author` differs from the device that signed
 * its envelope is dropped (and listed in `dropped`). An org's type is the
 * one its root-certified certificate gives, never what a form says; a new
 * thread's id is derived from its `referral.create` (thread-id.ts).
 *
 * Every change (an action, an incoming message, `start`) runs in one queue,
 * so a device never builds an event on a state another task is changing.
 */
import type { z } from 'zod';
import { type Crypto, HandoverError, isHandoverError, describeIssues, MessageId } from '../../../shared';
import { checkConsentExpiry } from '../domain/consent';
import { toHtcdsCsv } from '../domain/export';
import {
  type AcceptBody,
  type AcknowledgeBody,
  type ConsentWithdrawBody,
  type DeclineBody,
  type EventAuthor,
  type EventEnvelope,
  type EventType,
  type IntakeScheduleBody,
  type OrgRef,
  type OrgTypeName,
  type Purpose,
  ReferralBody,
  ReferralData,
  type RequestInfoBody,
  type ReturnStepBody,
  type ThreadEvent,
  type WithdrawBody,
} from '../domain/schemas';
import { type ThreadRules, type ThreadState, deriveThreadState, validateNextEvent } from '../domain/state';
import type { StoredMessage } from '../../sdk/messages';
import { SerialQueue } from '../../sdk/serial-queue';
import { type RecipientDisclosure, planData, planReferral } from './disclosure';
import { CaseStore } from './case-store';
import { type Supplement, threadIdOf } from './payload';
import { type Body, EventBuilder, type SentEvent } from './events';
import { OrgTypes, orgsNamedIn } from './org-types';
import { type HistorySelection, historyFor } from './history';
import { type OutboxRun, type PendingReferral, type PreparedReferral, ReferralOutbox, type ReferralOptions } from './outbox';
import { ConsentPurge, type EarlierWithdrawal, caseCodeTag } from './purge';
import { DEFAULT_DUE_WINDOW_MS, DeadlineAlerts, type DueItem, dueItems } from './reminders';
import { indexEntry, purgedSummary, summaryAt } from './summaries';
import { type CaseThread, type LoadedThread, type ThreadSummary, deriveCaseThread, purgedCaseThread } from './thread-view';
import type { CaseTransport } from './transport';

export type { CaseThread, ProvidedInfo, SecurityWarning, ThreadSummary } from './thread-view';

export interface CaseServiceOptions {
  transport: CaseTransport;
  /** Defaults to the transport's (the SDK client's) crypto instance: one per app. */
  crypto?: Crypto;
  /** The clock for event times, deadlines and consent expiry (tests inject a fake one). */
  now?: () => number;
}

export type { SentEvent } from './events';

export interface ReferResult {
  threadId: string;
  /** Hash of the `referral.create` event. */
  referralId: string;
  /** Per recipient org: what it received, what the consent withheld from it, and any override. */
  recipients: RecipientDisclosure[];
  /** The `consent.override` events sent for recipients outside the consent. */
  overrides: SentEvent[];
  /** Earlier threads of the same case code on this device whose consent was withdrawn: a warning, not a refusal. */
  earlierWithdrawals: EarlierWithdrawal[];
  /** This referral was already in the outbox (given before and not completely sent): it was finished, not sent again. */
  resumed: boolean;
}

export type CaseUpdateKind = 'event' | 'supplement' | 'dropped' | 'purged' | 'receipt' | 'discarded';
export interface CaseUpdate {
  threadId: string;
  kind: CaseUpdateKind;
  type?: string;
}

/** Background work that failed (e.g. a purge receipt the relay did not take); retried by `start()`. */
export interface CaseFailure {
  threadId: string;
  at: number;
  code: string;
  message: string;
}

type Action = Exclude<EventType, 'referral.create' | 'purge.receipt' | 'consent.override'>;


const issuesText = (error: z.ZodError): string => describeIssues(error, 8);

export class CaseService {
  readonly transport: CaseTransport;
  private readonly crypto: Crypto;
  private readonly now: () => number;
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<(update: CaseUpdate) => void>();
  private readonly unsubscribe: () => void;
  private readonly failureLog: CaseFailure[] = [];
  /** Decoded threads and the inbox index (decode once). */
  private readonly store: CaseStore;
  private readonly types: OrgTypes;
  private readonly builder: EventBuilder;
  private readonly purge: ConsentPurge;

  constructor(options: CaseServiceOptions) {
    this.transport = options.transport;
    const crypto = options.crypto ?? options.transport.crypto;
    if (!crypto) throw new HandoverError('BAD_REQUEST', 'the case layer needs a crypto instance (the SDK client has one)');
    this.crypto = crypto;
    this.now = options.now ?? Date.now;
    this.types = new OrgTypes(this.transport);
    this.builder = new EventBuilder(this.crypto, () => this.now(), () => this.author(), () => this.rules);
    this.store = new CaseStore(this.transport, { orgTypeOf: (orgId) => this.types.certified(orgId), eventId: (event) => this.eventId(event) });
    this.purge = new ConsentPurge({
      transport: this.transport,
      rules: this.rules,
      now: () => this.now(),
      eventId: (event) => this.eventId(event),
      orgTypeOf: (orgId) => this.types.certified(orgId),
      author: () => this.author(),
      buildReceipt: (threadId, heads, body) => this.builder.build('purge.receipt', threadId, heads, body),
      send: (threadId, orgIds, payload) => this.sendMessages([{ threadId, orgIds, payload }], { record: false }),
      others: (orgIds) => this.others(orgIds),
      forget: (threadId) => this.store.remove(threadId),
      emit: (update) => this.emit(update),
      recordFailure: (threadId, err) => this.recordFailure(threadId, err),
      tagCaseCode: (caseCode) => caseCodeTag(this.transport, this.crypto, caseCode),
    });
    // Subscribe at once so nothing received after construction is missed; `start()` catches up on the rest.
    this.unsubscribe = this.transport.on('message', (message) => {
      void this.enqueue(() => this.receive(message)).catch((err) => this.recordFailure(message.threadId, err));
    });
  }

  /* ----------------------------------------------------------- plumbing -- */

  /**
   * Catch up on what arrived before this service listened (a CLI syncs its
   * inbox before it builds the service): decode threads the transport holds
   * more of than this layer has seen, purge threads whose consent was
   * withdrawn, absorb late messages of purged threads, resend receipts.
   * Cheap when nothing is behind: it compares message counts, it does not
   * read every thread.
   */
  start(): Promise<void> {
    return this.enqueue(async () => {
      // One thread's trouble must not keep the others from being purged: failures are recorded, not thrown.
      const each = async (threadId: string, work: () => Promise<unknown>) => {
        try {
          await work();
        } catch (err) {
          this.recordFailure(threadId, err);
        }
      };
      const purged = await this.purge.tombstoneIds();
      for (const threadId of purged) await each(threadId, () => this.purge.resume(threadId));
      for (const threadId of await this.store.stale()) {
        if (!purged.includes(threadId)) await each(threadId, async () => this.refresh(threadId, (await this.store.rebuild(threadId)).loaded));
      }
      for (const [threadId, entry] of await this.store.indexEntries()) {
        if (entry.withdrawn && !purged.includes(threadId)) await each(threadId, async () => this.refresh(threadId, await this.store.load(threadId)));
      }
      // A referral a failure or a crash left half-sent is finished now (outbox.ts); failures are recorded.
      this.lastOutboxRun = await this.outbox.finish();
    });
  }

  /** Stop listening to the transport. */
  dispose(): void {
    this.unsubscribe();
  }

  /** Resolves when every queued action and every received message has been handled. */
  async idle(): Promise<void> {
    let last: Promise<void>;
    do {
      last = this.queue.idle();
      await last;
    } while (last !== this.queue.idle());
  }

  /** Called after each handled incoming message. */
  onUpdate(listener: (update: CaseUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get failures(): readonly CaseFailure[] {
    return this.failureLog;
  }

  /** The hash that identifies `event` in `prev` links and timelines. */
  eventId(event: EventEnvelope): string {
    return this.builder.eventId(event);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }

  private emit(update: CaseUpdate): void {
    for (const listener of this.listeners) listener(update);
  }

  private recordFailure(threadId: string, err: unknown): void {
    this.failureLog.push({
      threadId,
      at: this.now(),
      code: isHandoverError(err) ? err.code : 'INTERNAL',
      message: err instanceof Error ? err.message : String(err),
    });
  }

  /** What the replay needs from outside the log: thread-id derivation and certified org types. */
  private get rules(): ThreadRules {
    return {
      threadIdOf: (create) => threadIdOf(this.crypto, create),
      certifiedOrgType: (orgId) => this.types.certified(orgId),
    };
  }

  /** This device as an event author. */
  author(): EventAuthor {
    const orgType = this.types.certified(this.transport.orgId);
    if (!orgType) throw new HandoverError('UNTRUSTED_KEY', 'this device has no verified org certificate yet: register the device first');
    return { deviceId: this.transport.deviceId, orgId: this.transport.orgId, orgType };
  }

  /* -------------------------------------------------------------- reads -- */

  private derive(threadId: string, loaded: LoadedThread): CaseThread {
    const orgType = this.types.certified(this.transport.orgId);
    const viewer = orgType ? { orgId: this.transport.orgId, orgType } : null;
    return deriveCaseThread(threadId, loaded, { now: this.now(), ...this.rules, viewer });
  }

  /**
   * The derived thread becomes its inbox line, and an applied consent
   * withdrawal is acted on at once. Returns the thread, or null once purged.
   */
  private async refresh(threadId: string, loaded: LoadedThread): Promise<CaseThread | null> {
    const state = this.derive(threadId, loaded);
    await this.store.setEntry(threadId, indexEntry(threadId, state, loaded, this.transport.orgId));
    if (state.consentWithdrawal && (await this.purge.purgeIfWithdrawn(threadId, state, loaded))) return null;
    return state;
  }

  /** The verified events of a thread (forgeries and malformed payloads left out). */
  async events(threadId: string): Promise<ThreadEvent[]> {
    checkThreadId(threadId);
    return (await this.store.load(threadId)).events;
  }

  /** The thread's state from the messages this device holds, now. */
  async thread(threadId: string): Promise<CaseThread> {
    checkThreadId(threadId);
    const tomb = await this.purge.tombstone(threadId);
    if (tomb) return purgedCaseThread(tomb);
    const loaded = await this.store.load(threadId);
    // An org the thread names that this device has not seen yet (no network needed when all are known; offline it shows as refused).
    await this.types.learn(loaded.events.flatMap((e) => orgsNamedIn(e.event)));
    return this.derive(threadId, loaded);
  }

  /** Every thread this device holds or has purged, newest activity first (from the inbox index: no thread is read). */
  async listThreads(): Promise<ThreadSummary[]> {
    return this.enqueue(async () => {
      const purged = await this.purge.tombstoneIds();
      for (const threadId of await this.store.stale()) {
        if (!purged.includes(threadId)) await this.refresh(threadId, (await this.store.rebuild(threadId)).loaded);
      }
      const now = this.now();
      const out: ThreadSummary[] = [];
      for (const [threadId, entry] of await this.store.indexEntries()) if (!purged.includes(threadId)) out.push(summaryAt(entry, now));
      for (const threadId of purged) {
        const tomb = await this.purge.tombstone(threadId);
        if (tomb) out.push(purgedSummary(threadId, purgedCaseThread(tomb), this.transport.orgId));
      }
      return out.sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0) || (a.threadId < b.threadId ? -1 : 1));
    });
  }

  /** HTCDS-shaped CSV of this org's threads (purged and consent-withdrawn threads are left out). */
  async exportCsv(): Promise<string> {
    const threads: ThreadState[] = [];
    for (const threadId of (await this.store.indexEntries()).keys()) {
      const t = await this.thread(threadId);
      if (t.purged || !t.referral) continue;
      if (!t.participants.some((p) => p.orgId === this.transport.orgId)) continue;
      threads.push(t);
    }
    return toHtcdsCsv(threads);
  }

  /* ---------------------------------------------------------- reminders -- */

  /**
   * Overdue items, and items due within `windowMs` (default 24 h), of the
   * threads this device holds (reminders.ts), from the inbox index.
   */
  async reminders(opts: { windowMs?: number } = {}): Promise<DueItem[]> {
    return this.enqueue(async () => {
      const purged = await this.purge.tombstoneIds();
      for (const threadId of await this.store.stale()) {
        if (!purged.includes(threadId)) await this.refresh(threadId, (await this.store.rebuild(threadId)).loaded);
      }
      // Lines written before reminders existed carry no dates: derive those threads once.
      for (const [threadId, entry] of await this.store.indexEntries()) {
        if (entry.due === undefined && !purged.includes(threadId)) await this.refresh(threadId, await this.store.load(threadId));
      }
      const entries = [...(await this.store.indexEntries())].filter(([threadId]) => !purged.includes(threadId));
      return dueItems(entries, { now: this.now(), windowMs: opts.windowMs ?? DEFAULT_DUE_WINDOW_MS, orgId: this.transport.orgId });
    });
  }

  /** Alerts for items crossing `thresholdsMs` before their due time (and when overdue), once each, remembered in the vault. */
  deadlineAlerts(thresholdsMs: readonly number[]): DeadlineAlerts {
    return new DeadlineAlerts(this.transport, thresholdsMs);
  }

  /* ------------------------------------------------------------- outbox -- */

  private outboxInstance: ReferralOutbox | undefined;
  private lastOutboxRun: OutboxRun = { finished: [], stillPending: [], abandoned: [] };

  private get outbox(): ReferralOutbox {
    this.outboxInstance ??= new ReferralOutbox({
      transport: this.transport,
      crypto: this.crypto,
      now: () => this.now(),
      eventId: (event) => this.eventId(event),
      prepare: (body, options) => this.prepareReferral(body, options),
      send: (messages) => this.sendMessages(messages),
      purged: async (threadId) => (await this.purge.tombstone(threadId)) !== undefined,
      recordFailure: (threadId, err) => this.recordFailure(threadId, err),
    });
    return this.outboxInstance;
  }

  /** Referrals not completely sent yet (ids and what is pending; no survivor data). */
  pendingReferrals(): Promise<PendingReferral[]> {
    return this.enqueue(() => this.outbox.pending());
  }

  /** Send what is pending in the outbox now (`start()` does this too); failures are recorded in `failures`, not thrown. */
  finishPendingReferrals(): Promise<OutboxRun> {
    return this.enqueue(async () => (this.lastOutboxRun = await this.outbox.finish()));
  }

  /** What the last outbox run (in `start()` or `finishPendingReferrals`) finished, left pending or gave up. */
  get outboxRun(): OutboxRun {
    return this.lastOutboxRun;
  }

  /** Take a pending referral out of the outbox without sending the rest. */
  discardPendingReferral(outboxId: string): Promise<PendingReferral> {
    return this.enqueue(() => this.outbox.discard(outboxId));
  }

  /** Earlier threads of this case code whose consent was withdrawn (tombstones on this device). */
  async consentWithdrawnBefore(caseCode: string): Promise<EarlierWithdrawal[]> {
    return this.enqueue(async () => this.purge.withdrawnWithTag(await caseCodeTag(this.transport, this.crypto, caseCode)));
  }

  /* ------------------------------------------------------------ sending -- */

  private others(orgIds: Iterable<string>): string[] {
    return [...new Set(orgIds)].filter((id) => id !== this.transport.orgId);
  }

  /**
   * Send the messages of one action together (the transport resolves the
   * recipients once), decode our own copies into the thread, and bring its
   * inbox line up to date. A purge receipt is not recorded (its thread is gone).
   */
  private async sendMessages(messages: Array<{ threadId: string; orgIds: string[]; payload: EventEnvelope | Supplement }>, opts: { record?: boolean } = {}): Promise<void> {
    const stored = await this.transport.sendAll(messages);
    if (opts.record === false) return;
    let loaded: LoadedThread | undefined;
    for (const m of stored) loaded = await this.store.ingest(m);
    const threadId = messages[0]?.threadId;
    if (loaded && threadId) await this.refresh(threadId, loaded);
  }

  /** Build the event, refuse it locally if the thread would reject it, then send it to every participant. */
  private async act<T extends Action>(threadId: string, type: T, body: Body<T>, alsoTo: string[] = []): Promise<SentEvent> {
    checkThreadId(threadId);
    return this.enqueue(() => this.actNow(threadId, type, body, alsoTo));
  }

  private async actNow<T extends Action>(threadId: string, type: T, body: Body<T>, alsoTo: string[] = []): Promise<SentEvent> {
    const { state } = await this.current(threadId);
    const event = this.builder.build(type, threadId, state.heads, body);
    validateNextEvent(state, event, this.rules);
    await this.sendMessages([{ threadId, orgIds: this.others([...state.participants.map((p) => p.orgId), ...alsoTo]), payload: event }]);
    return { id: this.eventId(event), event };
  }

  /** The live state of a thread this device may still act on. */
  private async current(threadId: string): Promise<{ state: CaseThread; loaded: LoadedThread }> {
    if (await this.purge.tombstone(threadId)) {
      throw new HandoverError('INVALID_EVENT', 'this thread was purged after the survivor withdrew consent', { reason: 'purged' });
    }
    const loaded = await this.store.load(threadId);
    // Orgs a create or an add names must be known (certified types) before the thread can be acted on.
    await this.types.learn(loaded.events.flatMap((e) => orgsNamedIn(e.event)));
    return { state: this.derive(threadId, loaded), loaded };
  }

  /**
   * Send a new referral to its receiving org and coordinators in a new
   * thread, whose id is derived from the referral event. Every recipient's
   * org type must be its certified one (UNTRUSTED_KEY otherwise). The
   * consent is checked for every recipient first (CONSENT_SCOPE, nothing
   * sent), and must not run longer than `maxConsentDays` after it was given
   * (INVALID_EVENT; a year by default); each recipient gets only what the
   * consent lets it see. `overrideReason` (vital interest) lets an
   * out-of-scope send go ahead and records a visible `consent.override`
   * event per affected recipient.
   *
   * All or nothing from the user's view (outbox.ts): the messages are kept
   * in the outbox before they are sent; if some do not go out, the error
   * says which are pending (`details.outbox`) and `start()` finishes them.
   * The same referral given again while pending is finished, not sent twice.
   */
  async refer(input: unknown, opts: ReferralOptions = {}): Promise<ReferResult> {
    const parsed = ReferralBody.safeParse(input);
    if (!parsed.success) throw new HandoverError('INVALID_EVENT', `the referral is not valid: ${issuesText(parsed.error)}`);
    const body = parsed.data;
    return this.enqueue(async () => {
      const earlierWithdrawals = await this.purge.withdrawnWithTag(await caseCodeTag(this.transport, this.crypto, body.identity.caseCode));
      const again = await this.outbox.again(body);
      if (again) return { ...again, earlierWithdrawals, resumed: true };
      const prepared = await this.prepareReferral(body, opts);
      const sent = await this.outbox.send(body, opts, prepared);
      return { ...sent, earlierWithdrawals, resumed: false };
    });
  }

  /** A referral's messages, checked (certified types, thread structure, consent and its expiry) and built; nothing is sent. */
  private async prepareReferral(body: ReferralBody, opts: ReferralOptions): Promise<PreparedReferral> {
    const { header } = body;
    checkConsentExpiry(body.consent, opts.maxConsentDays);
    const recipients: OrgRef[] = [header.referredOrganisation, ...header.coordinators];
    await this.types.learn(recipients.map((r) => r.orgId));
    // Consent and withholding go by org type: it must be the certified one before anything is planned.
    for (const r of recipients) this.types.checkCertified(r);
    const empty = deriveThreadState([], { now: this.now(), ...this.rules });
    // Structure first (distinct orgs), so that error is not hidden behind a consent refusal.
    validateNextEvent(empty, this.builder.buildCreate(body), this.rules);
    const plan = planReferral(body, {
      recipients,
      purpose: header.purpose,
      now: this.now(),
      ...(opts.overrideReason !== undefined ? { overrideReason: opts.overrideReason } : {}),
    });
    const create = this.builder.buildCreate(plan.shared);
    const { threadId } = create;
    validateNextEvent(empty, create, this.rules);
    const created: SentEvent = { id: this.eventId(create), event: create };
    const overrides = this.builder.overrideEvents(threadId, [created], plan.recipients, header.purpose);
    const orgIds = this.others(recipients.map((r) => r.orgId));
    return {
      threadId,
      referralId: created.id,
      recipients: plan.recipients,
      overrides,
      messages: [
        { threadId, orgIds, payload: create },
        ...overrides.map((o) => ({ threadId, orgIds, payload: o.event })),
        ...plan.supplements.map((sup) => ({
          threadId,
          orgIds: this.others(sup.orgIds),
          payload: { kind: 'referral.supplement' as const, threadId, eventHash: created.id, data: sup.data },
        })),
      ],
    };
  }

  acknowledge(threadId: string, body: z.input<typeof AcknowledgeBody> = {}): Promise<SentEvent> {
    return this.act(threadId, 'referral.acknowledge', body);
  }

  requestInfo(threadId: string, body: z.input<typeof RequestInfoBody>): Promise<SentEvent> {
    return this.act(threadId, 'referral.request-info', body);
  }

  /**
   * Answer an information request (the latest one unless `inReplyTo` names
   * it). `data` goes through the same consent check and redaction as the
   * referral; `overrideReason` works as in `refer`.
   */
  async provideInfo(
    threadId: string,
    input: { inReplyTo?: string; details?: string; data?: ReferralData; overrideReason?: string },
  ): Promise<SentEvent & { recipients: RecipientDisclosure[]; overrides: SentEvent[] }> {
    checkThreadId(threadId);
    return this.enqueue(async () => {
      const { state, loaded } = await this.current(threadId);
      const referral = state.referral;
      if (!referral) throw new HandoverError('INVALID_EVENT', 'the thread has no referral yet', { reason: 'no-referral' });
      const requests = state.timeline.filter((t) => t.type === 'referral.request-info');
      const inReplyTo = input.inReplyTo ?? requests[requests.length - 1]?.id;
      if (!inReplyTo) throw new HandoverError('INVALID_EVENT', 'there is no information request to answer', { reason: 'invalid-transition' });
      const recipients: OrgRef[] = state.participants.filter((p) => p.orgId !== this.transport.orgId).map(({ orgId, orgType }) => ({ orgId, orgType }));
      // The replay accepted these types only as certified; check again against the certificates held now.
      for (const r of recipients) this.types.checkCertified(r);
      const parsedData = input.data === undefined ? undefined : ReferralData.safeParse(input.data);
      if (parsedData && !parsedData.success) throw new HandoverError('INVALID_EVENT', `the data is not valid: ${issuesText(parsedData.error)}`);
      const data = parsedData?.data;
      const plan =
        data && Object.keys(data).length > 0
          ? planData(referral, data, {
              recipients,
              purpose: referral.header.purpose,
              now: this.now(),
              withdrawn: state.consentWithdrawal !== null,
              ...(input.overrideReason !== undefined ? { overrideReason: input.overrideReason } : {}),
            })
          : null;
      const shared = plan && Object.keys(plan.shared).length > 0 ? plan.shared : undefined;
      const event = this.builder.build('referral.provide-info', threadId, state.heads, {
        inReplyTo,
        ...(input.details !== undefined ? { details: input.details } : {}),
        ...(shared ? { data: shared } : {}),
      });
      validateNextEvent(state, event, this.rules);
      const sent: SentEvent = { id: this.eventId(event), event };
      const overrides = plan ? this.builder.overrideEvents(threadId, [...loaded.events, sent], plan.recipients, referral.header.purpose) : [];

      const orgIds = this.others(state.participants.map((p) => p.orgId));
      await this.sendMessages([
        { threadId, orgIds, payload: event },
        ...overrides.map((o) => ({ threadId, orgIds, payload: o.event })),
        ...(plan?.supplements ?? []).map((sup) => ({
          threadId,
          orgIds: this.others(sup.orgIds),
          payload: { kind: 'referral.supplement' as const, threadId, eventHash: sent.id, data: sup.data },
        })),
      ]);
      return { ...sent, recipients: plan?.recipients ?? [], overrides };
    });
  }

  accept(threadId: string, body: z.input<typeof AcceptBody> = {}): Promise<SentEvent> {
    return this.act(threadId, 'referral.accept', body);
  }

  decline(threadId: string, body: DeclineBody): Promise<SentEvent> {
    return this.act(threadId, 'referral.decline', body);
  }

  scheduleIntake(threadId: string, body: IntakeScheduleBody): Promise<SentEvent> {
    return this.act(threadId, 'intake.schedule', body);
  }

  arrived(threadId: string, body: { note?: string } = {}): Promise<SentEvent> {
    return this.act(threadId, 'intake.arrived', body);
  }

  noShow(threadId: string, body: { note?: string } = {}): Promise<SentEvent> {
    return this.act(threadId, 'intake.no-show', body);
  }

  startService(threadId: string, body: { note?: string } = {}): Promise<SentEvent> {
    return this.act(threadId, 'service.start', body);
  }

  completeService(threadId: string, body: { note?: string } = {}): Promise<SentEvent> {
    return this.act(threadId, 'service.complete', body);
  }

  /** The sender withdraws the referral (e.g. referred elsewhere). */
  withdraw(threadId: string, body: z.input<typeof WithdrawBody>): Promise<SentEvent> {
    return this.act(threadId, 'referral.withdraw', body);
  }

  note(threadId: string, text: string): Promise<SentEvent> {
    return this.act(threadId, 'note', { text });
  }

  /**
   * Bring another org into the thread (the sender or receiving org only).
   * The consent must cover it for `purpose` (CONSENT_SCOPE otherwise);
   * `overrideReason` records a visible vital-interest override instead. The
   * org type comes from its verified certificate; a given type must match it
   * (UNTRUSTED_KEY). The new org sees only what is sent from now on.
   */
  async addParticipant(threadId: string, input: { orgId: string; orgType?: OrgTypeName; purpose: Purpose; overrideReason?: string }): Promise<SentEvent> {
    checkThreadId(threadId);
    await this.types.learn([input.orgId]);
    const orgType = input.orgType ?? this.types.current(input.orgId);
    if (!orgType) {
      throw new HandoverError('UNTRUSTED_KEY', `${input.orgId} has no valid org certificate in this network; check the org id with \`handover directory\``, {
        orgId: input.orgId,
        typed: null,
        certified: null,
      });
    }
    this.types.checkCertified({ orgId: input.orgId, orgType });
    const sent = await this.act(
      threadId,
      'participant.add',
      {
        orgId: input.orgId,
        orgType,
        purpose: input.purpose,
        ...(input.overrideReason !== undefined ? { consentOverrideReason: input.overrideReason } : {}),
      },
      [input.orgId],
    );
    // The new org gets the thread's history that the consent lets it see, so it can act at once (PROTOCOL.md §4.10).
    await this.shareHistory(threadId, input.orgId).catch((err: unknown) => this.recordFailure(threadId, err));
    return sent;
  }

  /**
   * Forward to an org of the thread (normally one just added) every message
   * of the thread that the survivor's consent lets its certified type see,
   * as signed by their authors. Messages with withheld groups are left out
   * and listed. Needs a transport that can forward (the SDK client can).
   */
  async shareHistory(threadId: string, orgId: string): Promise<{ forwarded: number; withheld: HistorySelection['withheld'] }> {
    checkThreadId(threadId);
    return this.enqueue(async () => {
      const { state, loaded } = await this.current(threadId);
      const orgType = this.types.current(orgId);
      if (!state.referral) throw new HandoverError('INVALID_EVENT', 'the thread has no referral to share yet', { reason: 'no-referral' });
      if (!orgType || !state.participants.some((p) => p.orgId === orgId)) {
        throw new HandoverError('WRONG_PARTY', `${orgId} is not a participant of this thread with a valid certificate`);
      }
      const forward = this.transport.shareHistory;
      if (!forward) throw new HandoverError('BAD_REQUEST', 'this transport cannot forward history');
      const selection = historyFor(loaded, state.referral, { orgId, orgType });
      const forwarded = selection.messageIds.length > 0 ? await forward.call(this.transport, threadId, [orgId], selection.messageIds) : 0;
      return { forwarded, withheld: selection.withheld };
    });
  }

  /** An IOM office records a return-path step; the responsible org defaults to this one. */
  returnStep(threadId: string, body: Omit<ReturnStepBody, 'responsibleOrgId'> & { responsibleOrgId?: string }): Promise<SentEvent> {
    return this.act(threadId, 'return.step', { ...body, responsibleOrgId: body.responsibleOrgId ?? this.transport.orgId });
  }

  close(threadId: string, reasonForCaseClosure: string): Promise<SentEvent> {
    return this.act(threadId, 'case.close', { reasonForCaseClosure });
  }

  /**
   * Record that the survivor withdrew consent. Every participant's client
   * (this one included) then deletes the thread and answers with a purge
   * receipt. Resolves after this device has purged its own copy.
   */
  async withdrawConsent(threadId: string, body: z.input<typeof ConsentWithdrawBody>): Promise<SentEvent> {
    checkThreadId(threadId);
    // Sending it records it in the thread, which purges this device's copy at once (refresh).
    return this.enqueue(() => this.actNow(threadId, 'consent.withdraw', body));
  }

  /* ------------------------------------------------------- receiving -- */

  /** A message the transport verified and stored: decode it once, update the thread, act on a withdrawal. */
  private async receive(message: StoredMessage): Promise<void> {
    const tomb = await this.purge.tombstone(message.threadId);
    if (tomb) {
      await this.purge.absorb(tomb, [message]);
      return;
    }
    const loaded = await this.store.ingest(message);
    const route = loaded.routes.find((r) => r.messageId === message.messageId);
    const carried = route?.carries.kind === 'event' ? loaded.events.find((e) => e.id === (route.carries as { id: string }).id) : undefined;
    // An org named for the first time (a new participant) is learned before the thread is derived again.
    if (carried) await this.types.learn(orgsNamedIn(carried.event));
    if ((await this.refresh(message.threadId, loaded)) === null) return;
    const kind = route?.carries.kind ?? 'dropped';
    this.emit({ threadId: message.threadId, kind, ...(carried ? { type: carried.event.type } : {}) });
  }
}

function checkThreadId(threadId: string): void {
  if (!MessageId.safeParse(threadId).success) throw new HandoverError('BAD_REQUEST', `"${threadId}" is not a thread id`);
}
