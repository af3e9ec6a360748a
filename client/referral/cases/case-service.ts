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
import type { Crypto } from '../../../shared/crypto/sodium';
import { HandoverError, isHandoverError } from '../../../shared/errors';
import { toHtcdsCsv } from '../domain/export';
import {
  type AcceptBody,
  type AcknowledgeBody,
  type ConsentWithdrawBody,
  type DeclineBody,
  type EventAuthor,
  EventEnvelope,
  type EventOf,
  type EventType,
  type IntakeScheduleBody,
  type OrgRef,
  type OrgTypeName,
  type Purpose,
  REFERRAL_LIMITS,
  ReferralBody,
  ReferralData,
  type RequestInfoBody,
  type ReturnStepBody,
  type ThreadEvent,
  type WithdrawBody,
} from '../domain/schemas';
import { type ThreadRules, type ThreadState, deriveThreadState, validateNextEvent } from '../domain/state';
import { MessageId } from '../../../shared/schemas';
import type { StoredMessage } from '../../sdk/messages';
import { type RecipientDisclosure, planData, planReferral } from './disclosure';
import { type MessageRoute, type Supplement, classify, eventHash, isPastableId, randomId, threadIdOf } from './payload';
import { type CaseThread, type LoadedThread, type ThreadSummary, deriveCaseThread, purgedCaseThread } from './thread-view';
import { type Tombstone, receiptProblem } from './tombstone';
import type { CaseTransport } from './transport';

export type { CaseThread, ProvidedInfo, SecurityWarning, ThreadSummary } from './thread-view';

export interface CaseServiceOptions {
  transport: CaseTransport;
  crypto: Crypto;
  /** The clock for event times, deadlines and consent expiry (tests inject a fake one). */
  now?: () => number;
}

/** An event this device sent, with its hash (its id in `prev` links and timelines). */
export interface SentEvent {
  id: string;
  event: EventEnvelope;
}

export interface ReferResult {
  threadId: string;
  /** Hash of the `referral.create` event. */
  referralId: string;
  /** Per recipient org: what it received, what the consent withheld from it, and any override. */
  recipients: RecipientDisclosure[];
  /** The `consent.override` events sent for recipients outside the consent. */
  overrides: SentEvent[];
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

type Body<T extends EventType> = EventOf<T>['body'];
type Action = Exclude<EventType, 'referral.create' | 'purge.receipt' | 'consent.override'>;

const TOMBSTONE_INDEX = 'referrals/tombstones';
/** Stands in for the thread id while a create is built: the id is derived from everything else. */
const UNDERIVED_THREAD_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
const tombstoneRecord = (threadId: string) => `referrals/tombstone/${threadId}`;

function issuesText(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}

export class CaseService {
  readonly transport: CaseTransport;
  private readonly crypto: Crypto;
  private readonly now: () => number;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(update: CaseUpdate) => void>();
  private readonly unsubscribe: () => void;
  private readonly failureLog: CaseFailure[] = [];

  constructor(options: CaseServiceOptions) {
    this.transport = options.transport;
    this.crypto = options.crypto;
    this.now = options.now ?? Date.now;
    // Subscribe at once so nothing received after construction is missed; `start()` catches up on the rest.
    this.unsubscribe = this.transport.on('message', (message) => {
      void this.enqueue(() => this.receive(message)).catch((err) => this.recordFailure(message.threadId, err));
    });
  }

  /* ----------------------------------------------------------- plumbing -- */

  /**
   * Catch up on what arrived before this service listened (a CLI syncs its
   * inbox before it builds the service): purge threads whose consent was
   * withdrawn, absorb late messages of purged threads, resend receipts.
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
      const purged = await this.tombstoneIds();
      for (const threadId of purged) {
        await each(threadId, async () => {
          const tomb = await this.tombstone(threadId);
          if (!tomb) return;
          const left = await this.transport.threadMessages(threadId);
          if (left.length > 0) await this.absorb(tomb, left);
          if (tomb.pendingReceipt) await this.sendPendingReceipt(tomb);
        });
      }
      for (const threadId of await this.transport.threadIds()) {
        if (!purged.includes(threadId)) await each(threadId, () => this.purgeIfWithdrawn(threadId));
      }
    });
  }

  /** Stop listening to the transport. */
  dispose(): void {
    this.unsubscribe();
  }

  /** Resolves when every queued action and every received message has been handled. */
  async idle(): Promise<void> {
    let last: Promise<unknown>;
    do {
      last = this.chain;
      await last;
    } while (last !== this.chain);
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
    return eventHash(this.crypto, event);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
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

  /**
   * The org type the root certified for an org, to replay history: from the
   * certificate this device pinned, even if it has expired or been revoked
   * since (an old referral stays readable after its sender's certificate
   * ran out).
   */
  private orgTypeOf(orgId: string): OrgTypeName | undefined {
    if (orgId === this.transport.orgId && this.transport.certificates?.org) return this.transport.certificates.org.orgType;
    const { trust } = this.transport;
    return trust.certifiedOrgType ? trust.certifiedOrgType(orgId) : trust.org(orgId)?.orgType;
  }

  /** The type of an org with a certificate valid now: what a new disclosure is checked against. */
  private currentOrgTypeOf(orgId: string): OrgTypeName | undefined {
    if (orgId === this.transport.orgId && this.transport.certificates?.org) return this.transport.certificates.org.orgType;
    return this.transport.trust.org(orgId)?.orgType;
  }

  /** What the replay needs from outside the log: thread-id derivation and certified org types. */
  private get rules(): ThreadRules {
    return {
      threadIdOf: (create) => threadIdOf(this.crypto, create),
      certifiedOrgType: (orgId) => this.orgTypeOf(orgId),
    };
  }

  /** Fetch the directory once when some org is not known yet (a new org since sign-in). */
  private async learnOrgs(orgIds: readonly string[]): Promise<void> {
    if (!orgIds.some((id) => this.currentOrgTypeOf(id) === undefined)) return;
    await this.transport.trust.refresh?.();
  }

  /**
   * Refuse to disclose to an org named with another type than its
   * certificate (the consent scope and withholding go by type), or to an
   * org without a valid certificate.
   */
  private checkCertifiedType(org: OrgRef): void {
    const certified = this.currentOrgTypeOf(org.orgId);
    if (certified === org.orgType) return;
    const details = { orgId: org.orgId, typed: org.orgType, certified: certified ?? null };
    if (certified === undefined) {
      throw new HandoverError(
        'UNTRUSTED_KEY',
        `${org.orgId} (typed as ${org.orgType}) has no valid org certificate in this network, so its org type cannot be checked; check the org id with \`handover directory\``,
        details,
      );
    }
    throw new HandoverError(
      'UNTRUSTED_KEY',
      `${org.orgId} is typed as ${org.orgType} but its certificate says ${certified}; correct the org type (consent and withholding go by the certified type)`,
      details,
    );
  }

  /** This device as an event author. */
  author(): EventAuthor {
    const orgType = this.orgTypeOf(this.transport.orgId);
    if (!orgType) throw new HandoverError('UNTRUSTED_KEY', 'this device has no verified org certificate yet: register the device first');
    return { deviceId: this.transport.deviceId, orgId: this.transport.orgId, orgType };
  }

  /* -------------------------------------------------------------- reads -- */

  private derive(threadId: string, loaded: LoadedThread): CaseThread {
    const orgType = this.orgTypeOf(this.transport.orgId);
    const viewer = orgType ? { orgId: this.transport.orgId, orgType } : null;
    return deriveCaseThread(threadId, loaded, { now: this.now(), ...this.rules, viewer });
  }

  private async loadMessages(threadId: string): Promise<LoadedThread> {
    const messages = await this.transport.threadMessages(threadId);
    const out: LoadedThread = { events: [], supplements: [], dropped: [], routes: [], messageCount: messages.length };
    for (const message of messages) {
      const c = classify(message, (orgId) => this.orgTypeOf(orgId));
      let carries: MessageRoute['carries'];
      if (c.kind === 'event') {
        const id = this.eventId(c.event);
        out.events.push({ id, event: c.event });
        carries = { kind: 'event', id, type: c.event.type };
      } else if (c.kind === 'supplement') {
        out.supplements.push(c.supplement);
        carries = { kind: 'supplement', eventHash: c.supplement.supplement.eventHash };
      } else {
        out.dropped.push(c.dropped);
        carries = { kind: 'dropped' };
      }
      out.routes.push({
        messageId: message.messageId,
        senderDeviceId: message.senderDeviceId,
        senderOrgId: message.senderOrgId,
        direction: message.direction,
        orgIds: message.orgIds,
        recipientDeviceIds: message.recipientDeviceIds,
        carries,
      });
    }
    return out;
  }

  /** The verified events of a thread (forgeries and malformed payloads left out). */
  async events(threadId: string): Promise<ThreadEvent[]> {
    checkThreadId(threadId);
    return (await this.loadMessages(threadId)).events;
  }

  /** The thread's state from the messages this device holds, now. */
  async thread(threadId: string): Promise<CaseThread> {
    checkThreadId(threadId);
    const tomb = await this.tombstone(threadId);
    if (tomb) return purgedCaseThread(tomb);
    return this.derive(threadId, await this.loadMessages(threadId));
  }

  /** Every thread this device holds or has purged, newest activity first. */
  async listThreads(): Promise<ThreadSummary[]> {
    const ids = new Set([...(await this.transport.threadIds()), ...(await this.tombstoneIds())]);
    const out: ThreadSummary[] = [];
    for (const threadId of ids) {
      const t = await this.thread(threadId);
      const last = t.timeline[t.timeline.length - 1];
      out.push({
        threadId,
        status: t.status,
        priority: t.priority,
        overdue: t.overdue,
        respondedLate: t.respondedLate,
        responseDeadline: t.responseDeadline,
        caseCode: t.referral?.identity.caseCode ?? null,
        role: t.participants.find((p) => p.orgId === this.transport.orgId)?.role ?? null,
        participants: t.participants.map(({ orgId, orgType, role }) => ({ orgId, orgType, role })),
        lastEventAt: last ? last.at : null,
        rejected: t.rejected.length,
        dropped: t.dropped.length,
        securityWarnings: t.securityWarnings.length,
        purged: t.purged !== null,
      });
    }
    return out.sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0) || (a.threadId < b.threadId ? -1 : 1));
  }

  /** HTCDS-shaped CSV of this org's threads (purged and consent-withdrawn threads are left out). */
  async exportCsv(): Promise<string> {
    const threads: ThreadState[] = [];
    for (const threadId of await this.transport.threadIds()) {
      const t = await this.thread(threadId);
      if (t.purged || !t.referral) continue;
      if (!t.participants.some((p) => p.orgId === this.transport.orgId)) continue;
      threads.push(t);
    }
    return toHtcdsCsv(threads);
  }

  /* ------------------------------------------------------------ sending -- */

  private build<T extends EventType>(type: T, threadId: string, prev: readonly string[], body: Body<T>): EventOf<T> {
    const parsed = EventEnvelope.safeParse({
      type,
      eventId: randomId(this.crypto),
      threadId,
      prev: prev.slice(0, REFERRAL_LIMITS.maxPrev),
      author: this.author(),
      at: this.now(),
      body,
    });
    if (!parsed.success) throw new HandoverError('INVALID_EVENT', `${type}: ${issuesText(parsed.error)}`, { type });
    return parsed.data as EventOf<T>;
  }

  private others(orgIds: Iterable<string>): string[] {
    return [...new Set(orgIds)].filter((id) => id !== this.transport.orgId);
  }

  private async send(threadId: string, orgIds: string[], payload: EventEnvelope | Supplement): Promise<void> {
    await this.transport.send({ threadId, orgIds, payload });
  }

  /** Build the event, refuse it locally if the thread would reject it, then send it to every participant. */
  private async act<T extends Action>(threadId: string, type: T, body: Body<T>, alsoTo: string[] = []): Promise<SentEvent> {
    checkThreadId(threadId);
    return this.enqueue(() => this.actNow(threadId, type, body, alsoTo));
  }

  private async actNow<T extends Action>(threadId: string, type: T, body: Body<T>, alsoTo: string[] = []): Promise<SentEvent> {
    const { state } = await this.current(threadId);
    const event = this.build(type, threadId, state.heads, body);
    validateNextEvent(state, event, this.rules);
    await this.send(threadId, this.others([...state.participants.map((p) => p.orgId), ...alsoTo]), event);
    return { id: this.eventId(event), event };
  }

  /** The live state of a thread this device may still act on. */
  private async current(threadId: string): Promise<{ state: CaseThread; loaded: LoadedThread }> {
    if (await this.tombstone(threadId)) {
      throw new HandoverError('INVALID_EVENT', 'this thread was purged after the survivor withdrew consent', { reason: 'purged' });
    }
    const loaded = await this.loadMessages(threadId);
    return { state: this.derive(threadId, loaded), loaded };
  }

  /** `consent.override` events for the recipients only an override lets through, each checked on the thread so far. */
  private overrideEvents(threadId: string, events: ThreadEvent[], recipients: RecipientDisclosure[], purpose: Purpose): SentEvent[] {
    const out: SentEvent[] = [];
    const all = [...events];
    for (const r of recipients) {
      if (!r.override) continue;
      const state = deriveThreadState(all, { now: this.now(), ...this.rules });
      const event = this.build('consent.override', threadId, state.heads, {
        recipient: { orgId: r.orgId, orgType: r.orgType },
        purpose,
        fieldGroups: r.fieldGroups,
        reason: r.override.reason,
      });
      validateNextEvent(state, event, this.rules);
      const sent = { id: this.eventId(event), event };
      all.push(sent);
      out.push(sent);
    }
    return out;
  }

  /**
   * A `referral.create` with its derived thread id. A new event id is drawn
   * until the id can be pasted into a command (no leading `-` or `_`).
   */
  private buildCreate(body: ReferralBody): EventOf<'referral.create'> {
    for (;;) {
      const draft = this.build('referral.create', UNDERIVED_THREAD_ID, [], body);
      const threadId = threadIdOf(this.crypto, draft);
      if (isPastableId(threadId)) return { ...draft, threadId };
    }
  }

  /**
   * Send a new referral to its receiving org and coordinators in a new
   * thread, whose id is derived from the referral event. Every recipient's
   * org type must be its certified one (UNTRUSTED_KEY otherwise). The
   * consent is checked for every recipient first (CONSENT_SCOPE, nothing
   * sent); each recipient gets only what the consent lets it see.
   * `overrideReason` (vital interest) lets an out-of-scope send go ahead and
   * records a visible `consent.override` event per affected recipient.
   */
  async refer(input: unknown, opts: { overrideReason?: string } = {}): Promise<ReferResult> {
    const parsed = ReferralBody.safeParse(input);
    if (!parsed.success) throw new HandoverError('INVALID_EVENT', `the referral is not valid: ${issuesText(parsed.error)}`);
    const body = parsed.data;
    return this.enqueue(async () => {
      const { header } = body;
      const recipients: OrgRef[] = [header.referredOrganisation, ...header.coordinators];
      await this.learnOrgs(recipients.map((r) => r.orgId));
      // Consent and withholding go by org type: it must be the certified one before anything is planned.
      for (const r of recipients) this.checkCertifiedType(r);
      const empty = deriveThreadState([], { now: this.now(), ...this.rules });
      // Structure first (distinct orgs), so that error is not hidden behind a consent refusal.
      validateNextEvent(empty, this.buildCreate(body), this.rules);
      const plan = planReferral(body, {
        recipients,
        purpose: header.purpose,
        now: this.now(),
        ...(opts.overrideReason !== undefined ? { overrideReason: opts.overrideReason } : {}),
      });
      const create = this.buildCreate(plan.shared);
      const { threadId } = create;
      validateNextEvent(empty, create, this.rules);
      const created: SentEvent = { id: this.eventId(create), event: create };
      const overrides = this.overrideEvents(threadId, [created], plan.recipients, header.purpose);

      const orgIds = this.others(recipients.map((r) => r.orgId));
      await this.send(threadId, orgIds, create);
      for (const o of overrides) await this.send(threadId, orgIds, o.event);
      for (const s of plan.supplements) {
        await this.send(threadId, this.others(s.orgIds), { kind: 'referral.supplement', threadId, eventHash: created.id, data: s.data });
      }
      return { threadId, referralId: created.id, recipients: plan.recipients, overrides };
    });
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
      for (const r of recipients) this.checkCertifiedType(r);
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
      const event = this.build('referral.provide-info', threadId, state.heads, {
        inReplyTo,
        ...(input.details !== undefined ? { details: input.details } : {}),
        ...(shared ? { data: shared } : {}),
      });
      validateNextEvent(state, event, this.rules);
      const sent: SentEvent = { id: this.eventId(event), event };
      const overrides = plan ? this.overrideEvents(threadId, [...loaded.events, sent], plan.recipients, referral.header.purpose) : [];

      const orgIds = this.others(state.participants.map((p) => p.orgId));
      await this.send(threadId, orgIds, event);
      for (const o of overrides) await this.send(threadId, orgIds, o.event);
      for (const s of plan?.supplements ?? []) {
        await this.send(threadId, this.others(s.orgIds), { kind: 'referral.supplement', threadId, eventHash: sent.id, data: s.data });
      }
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
    await this.learnOrgs([input.orgId]);
    const orgType = input.orgType ?? this.currentOrgTypeOf(input.orgId);
    if (!orgType) {
      throw new HandoverError('UNTRUSTED_KEY', `${input.orgId} has no valid org certificate in this network; check the org id with \`handover directory\``, {
        orgId: input.orgId,
        typed: null,
        certified: null,
      });
    }
    this.checkCertifiedType({ orgId: input.orgId, orgType });
    return this.act(
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
    return this.enqueue(async () => {
      const sent = await this.actNow(threadId, 'consent.withdraw', body);
      await this.purgeIfWithdrawn(threadId);
      return sent;
    });
  }

  /* ------------------------------------------------ consent withdrawal -- */

  private async receive(message: StoredMessage): Promise<void> {
    const tomb = await this.tombstone(message.threadId);
    if (tomb) {
      await this.absorb(tomb, [message]);
      return;
    }
    const c = classify(message, (orgId) => this.orgTypeOf(orgId));
    if (c.kind === 'event') await this.learnOrgs(orgsNamedIn(c.event)).catch(() => undefined);
    if (c.kind === 'event' && c.event.type === 'consent.withdraw' && (await this.purgeIfWithdrawn(message.threadId))) return;
    this.emit({ threadId: message.threadId, kind: c.kind, ...(c.kind === 'event' ? { type: c.event.type } : {}) });
  }

  /**
   * If the thread holds an applied consent withdrawal: keep a tombstone,
   * delete every message of the thread, and send this device's purge receipt.
   * The tombstone is written first, so a crash at any point is finished by `start()`.
   */
  private async purgeIfWithdrawn(threadId: string): Promise<boolean> {
    const loaded = await this.loadMessages(threadId);
    const state = this.derive(threadId, loaded);
    const withdrawal = state.consentWithdrawal;
    const entry = withdrawal && state.timeline.find((t) => t.id === withdrawal.withdrawalId);
    if (!withdrawal || !entry) return false;

    const me = this.author();
    const receipts = loaded.events.filter(
      (e): e is { id: string; event: EventOf<'purge.receipt'> } =>
        e.event.type === 'purge.receipt' && state.timeline.some((t) => t.id === e.id),
    );
    const confirmedHere = receipts.some((r) => r.event.author.deviceId === me.deviceId);
    let pendingReceipt: EventOf<'purge.receipt'> | null = null;
    if (!confirmedHere) {
      try {
        pendingReceipt = this.build('purge.receipt', threadId, state.heads, { withdrawalId: withdrawal.withdrawalId, itemsDeleted: loaded.messageCount });
        validateNextEvent(state, pendingReceipt, this.rules);
      } catch (err) {
        // The purge matters more than the receipt: delete anyway and leave the failure visible.
        this.recordFailure(threadId, err);
        pendingReceipt = null;
      }
    }
    const tomb: Tombstone = {
      v: 1,
      threadId,
      purgedAt: this.now(),
      itemsDeleted: loaded.messageCount,
      discardedLater: 0,
      participants: state.participants,
      withdrawal: entry,
      heads: state.heads,
      receipts: receipts.map(({ id, event }) => ({ id, event })),
      pendingReceipt,
    };
    await this.saveTombstone(tomb);
    tomb.itemsDeleted = await this.transport.purgeThread(threadId);
    await this.saveTombstone(tomb);
    this.emit({ threadId, kind: 'purged' });
    if (tomb.pendingReceipt) await this.sendPendingReceipt(tomb);
    return true;
  }

  private async sendPendingReceipt(tomb: Tombstone): Promise<void> {
    const pending = tomb.pendingReceipt;
    if (!pending) return;
    // A receipt retried later gets the time it is actually sent: receivers drop an event whose time is not its envelope's.
    const receipt: EventOf<'purge.receipt'> = { ...pending, at: this.now() };
    if (!tomb.receipts.some((r) => r.event.author.deviceId === receipt.author.deviceId)) {
      try {
        await this.send(tomb.threadId, this.others(tomb.participants.map((p) => p.orgId)), receipt);
      } catch (err) {
        this.recordFailure(tomb.threadId, err);
        return; // kept pending; `start()` tries again
      }
      tomb.receipts.push({ id: this.eventId(receipt), event: receipt });
    }
    tomb.pendingReceipt = null;
    await this.saveTombstone(tomb);
    // The transport stored our outgoing copy; the tombstone now holds it.
    await this.transport.purgeThread(tomb.threadId);
  }

  /** Messages for a purged thread: receipts join the tombstone, everything else is deleted on arrival. */
  private async absorb(tomb: Tombstone, messages: StoredMessage[]): Promise<void> {
    for (const message of messages) {
      const c = classify(message, (orgId) => this.orgTypeOf(orgId));
      if (c.kind === 'event' && c.event.type === 'purge.receipt' && receiptProblem(tomb, c.event) === null) {
        tomb.receipts.push({ id: this.eventId(c.event), event: c.event });
        this.emit({ threadId: tomb.threadId, kind: 'receipt', type: c.event.type });
      } else {
        tomb.discardedLater++;
        this.emit({ threadId: tomb.threadId, kind: 'discarded' });
      }
    }
    await this.saveTombstone(tomb);
    await this.transport.purgeThread(tomb.threadId);
  }

  private async tombstoneIds(): Promise<string[]> {
    const ids = await this.transport.getRecord(TOMBSTONE_INDEX);
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  }

  private async tombstone(threadId: string): Promise<Tombstone | undefined> {
    const value = await this.transport.getRecord(tombstoneRecord(threadId));
    return value && typeof value === 'object' && (value as Tombstone).v === 1 ? (value as Tombstone) : undefined;
  }

  private async saveTombstone(tomb: Tombstone): Promise<void> {
    await this.transport.putRecord(tombstoneRecord(tomb.threadId), tomb);
    const ids = await this.tombstoneIds();
    if (!ids.includes(tomb.threadId)) await this.transport.putRecord(TOMBSTONE_INDEX, [...ids, tomb.threadId]);
  }
}

/** The orgs an event names as participants (their certificates are needed to replay it). */
function orgsNamedIn(event: EventEnvelope): string[] {
  if (event.type === 'referral.create') return [event.body.header.referredOrganisation, ...event.body.header.coordinators].map((o) => o.orgId);
  if (event.type === 'participant.add') return [event.body.orgId];
  return [];
}

function checkThreadId(threadId: string): void {
  if (!MessageId.safeParse(threadId).success) throw new HandoverError('BAD_REQUEST', `"${threadId}" is not a thread id`);
}
