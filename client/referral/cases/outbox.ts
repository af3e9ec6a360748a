/**
 * The referral outbox: a referral is several messages (the create, its
 * consent overrides, the supplements that carry what only some recipients
 * may see), and from the user's view they all reach the relay or the user
 * is told exactly which are pending until they do. Never a half-sent thread
 * nobody knows about.
 *
 * Before anything is sent, the whole plan is written to the vault: the
 * referral itself (to rebuild it), and the messages in order. Which of them
 * went out is read from the transport, which keeps our copy of every
 * message the relay accepted: after a failed send, and after a crash, the
 * next run (`CaseService.start()`, or `handover outbox`) sends only the
 * rest.
 *
 * - If the create went out, the rest is finished in the same thread. A
 *   pending event whose `at` has grown older than half the clock-skew
 *   window gets a fresh `at` (receivers drop an event more than 5 minutes
 *   from its envelope's send time, PROTOCOL.md §4.8) and the events after
 *   it name its new hash in `prev`. Supplements point at the create, whose
 *   hash never changes.
 * - If the create did not go out, nothing of the referral left the device,
 *   and the create's `at` is part of the thread id: the referral is built
 *   again (consent checked again, now) and sent as a new thread.
 *
 * Known gap: a crash after the relay accepted a message but before the
 * transport stored our copy sends that message again. For an event the
 * copy carries the same event id and every device's replay refuses it as a
 * duplicate (visible among refused events); a repeated supplement repeats
 * the same data.
 */
import { HandoverError, MAX_CLOCK_SKEW_MS, canonicalJson, isHandoverError, toB64u, utf8, type Crypto } from '../../../shared';
import { EventEnvelope, type ReferralBody } from '../domain/schemas';
import type { RecipientDisclosure } from './disclosure';
import type { SentEvent } from './events';
import { Supplement } from './payload';
import type { CaseTransport } from './transport';

const OUTBOX_RECORD = 'referrals/outbox';
/** Older than this, a pending event is given a fresh `at` before it is sent (sealing and routing take time too). */
export const RETIME_AFTER_MS = MAX_CLOCK_SKEW_MS / 2;

export interface OutgoingMessage {
  threadId: string;
  orgIds: string[];
  payload: EventEnvelope | Supplement;
}

/** A referral ready to send: what `refer` builds before anything leaves the device. */
export interface PreparedReferral {
  threadId: string;
  referralId: string;
  recipients: RecipientDisclosure[];
  overrides: SentEvent[];
  messages: OutgoingMessage[];
}

export interface ReferralOptions {
  overrideReason?: string;
  /** The longest consent accepted, in days after it was given (domain/consent.ts `checkConsentExpiry`). */
  maxConsentDays?: number;
}

/** What a finished (or resumed) referral reports. */
export interface SentReferral {
  threadId: string;
  referralId: string;
  recipients: RecipientDisclosure[];
  overrides: SentEvent[];
}

interface OutboxItem {
  /** What it is, for people: ids and org ids only. */
  what: string;
  orgIds: string[];
  payload: EventEnvelope | Supplement;
  done: boolean;
}

interface OutboxEntry {
  v: 1;
  id: string;
  createdAt: number;
  /** The referral as given (to rebuild it when the create never went out). */
  body: ReferralBody;
  options: ReferralOptions;
  /** Hash of the referral as given: the same referral given again is this entry, not a new one. */
  digest: string;
  threadId: string;
  referralId: string;
  recipients: RecipientDisclosure[];
  items: OutboxItem[];
  attempts: number;
  lastError: { code: string; message: string; at: number } | null;
}

/** A referral not completely sent, as `handover outbox` shows it (no survivor data). */
export interface PendingReferral {
  id: string;
  threadId: string;
  createdAt: number;
  /** The create went out: the thread exists for its recipients, the rest is missing. */
  createSent: boolean;
  sent: string[];
  pending: string[];
  /** The organisations still waiting for some part of it (what `pending` describes, by org). */
  pendingOrgIds: string[];
  attempts: number;
  lastError: { code: string; message: string; at: number } | null;
}

/** What `finish` did: the referrals completed, and those still pending with why. */
export interface OutboxRun {
  finished: Array<SentReferral & { outboxId: string; rebuilt: boolean }>;
  stillPending: PendingReferral[];
  /** Referrals taken out of the outbox because they can no longer be sent (e.g. the consent expired meanwhile). */
  abandoned: Array<{ outboxId: string; threadId: string; code: string; message: string }>;
}

export interface OutboxContext {
  transport: CaseTransport;
  crypto: Crypto;
  now(): number;
  eventId(event: EventEnvelope): string;
  /** Build the referral's messages (consent and thread checks included); nothing is sent. */
  prepare(body: ReferralBody, options: ReferralOptions): Promise<PreparedReferral>;
  /** Send in order and record our copies in the case store. */
  send(messages: OutgoingMessage[]): Promise<void>;
  /** The thread was purged after a consent withdrawal. */
  purged(threadId: string): Promise<boolean>;
  recordFailure(threadId: string, err: unknown): void;
}

/** Refusals that rebuilding the referral will meet again however often it is tried. */
const CANNOT_BE_SENT = new Set(['CONSENT_SCOPE', 'INVALID_EVENT', 'WRONG_PARTY']);

function isSupplement(payload: EventEnvelope | Supplement): payload is Supplement {
  return (payload as Supplement).kind === 'referral.supplement';
}

function describe(payload: EventEnvelope | Supplement, orgIds: readonly string[]): string {
  if (isSupplement(payload)) return `supplement for ${orgIds.join(', ')}`;
  if (payload.type === 'consent.override') return `consent.override for ${payload.body.recipient.orgId}`;
  return payload.type;
}

export class ReferralOutbox {
  /** Referrals this service finished from the outbox (the same referral given again returns this). */
  private readonly finishedHere = new Map<string, SentReferral>();

  constructor(private readonly ctx: OutboxContext) {}

  /** The digest that recognises the same referral given again. */
  digest(body: ReferralBody): string {
    return toB64u(this.ctx.crypto.hash(utf8(canonicalJson(body))));
  }

  /** Record the plan, then send it; on failure the error says what is pending, and the entry stays. */
  async send(body: ReferralBody, options: ReferralOptions, prepared: PreparedReferral): Promise<SentReferral> {
    const entry: OutboxEntry = {
      v: 1,
      id: toB64u(this.ctx.crypto.random(12)),
      createdAt: this.ctx.now(),
      body,
      options,
      digest: this.digest(body),
      ...this.planOf(prepared),
      attempts: 0,
      lastError: null,
    };
    await this.put(entry);
    return this.deliver(entry);
  }

  /**
   * The same referral given again: still pending (finish it rather than
   * start a second thread), or finished by this service from the outbox.
   */
  async again(body: ReferralBody): Promise<SentReferral | undefined> {
    const digest = this.digest(body);
    const done = this.finishedHere.get(digest);
    if (done) return done;
    const entry = (await this.entries()).find((e) => e.digest === digest);
    return entry ? (await this.resume(entry)).sent : undefined;
  }

  /** Every referral not completely sent. */
  async pending(): Promise<PendingReferral[]> {
    return (await this.entries()).map(statusOf);
  }

  /** Finish every pending referral; failures are recorded, never thrown. */
  async finish(): Promise<OutboxRun> {
    const run: OutboxRun = { finished: [], stillPending: [], abandoned: [] };
    for (const entry of await this.entries()) {
      try {
        const { sent, rebuilt } = await this.resume(entry);
        run.finished.push({ ...sent, outboxId: entry.id, rebuilt });
      } catch (err) {
        this.ctx.recordFailure(entry.threadId, err);
        const left = (await this.entries()).find((e) => e.id === entry.id);
        if (left) run.stillPending.push(statusOf(left));
        else run.abandoned.push({ outboxId: entry.id, threadId: entry.threadId, code: codeOf(err), message: messageOf(err) });
      }
    }
    return run;
  }

  /** Take a referral out of the outbox without sending the rest (what went out stays out). */
  async discard(id: string): Promise<PendingReferral> {
    const entry = (await this.entries()).find((e) => e.id === id);
    if (!entry) throw new HandoverError('NOT_FOUND', `no pending referral ${id} in this device's outbox (see handover outbox)`);
    await this.remove(id);
    return statusOf(entry);
  }

  /* -------------------------------------------------------------- inner -- */

  private planOf(prepared: PreparedReferral): Pick<OutboxEntry, 'threadId' | 'referralId' | 'recipients' | 'items'> {
    return {
      threadId: prepared.threadId,
      referralId: prepared.referralId,
      recipients: prepared.recipients,
      items: prepared.messages.map((m) => ({ what: describe(m.payload, m.orgIds), orgIds: m.orgIds, payload: m.payload, done: false })),
    };
  }

  private async resume(entry: OutboxEntry): Promise<{ sent: SentReferral; rebuilt: boolean }> {
    if (await this.ctx.purged(entry.threadId)) {
      await this.remove(entry.id);
      throw new HandoverError('INVALID_EVENT', `the pending referral in thread ${entry.threadId} was not finished: the survivor withdrew consent and the thread was purged`, { reason: 'purged' });
    }
    await this.reconcile(entry);
    const rebuilt = !entry.items[0]?.done;
    if (rebuilt) {
      // Nothing left the device: build it again (new time, new thread id), consent checked as of now.
      let prepared: PreparedReferral;
      try {
        prepared = await this.ctx.prepare(entry.body, entry.options);
      } catch (err) {
        if (isHandoverError(err) && CANNOT_BE_SENT.has(err.code)) {
          await this.remove(entry.id);
          throw new HandoverError(err.code, `the pending referral was not sent and cannot be any more: ${err.message}; nothing of it left this device`, err.details);
        }
        throw err;
      }
      const widened = widenedOverrides(entry.recipients, prepared.recipients);
      if (widened) {
        await this.remove(entry.id);
        throw new HandoverError(
          'CONSENT_SCOPE',
          `the pending referral was not sent and cannot be any more: ${widened}, which the override given with it did not cover; nothing of it left this device`,
          { reason: 'override-widened' },
        );
      }
      Object.assign(entry, this.planOf(prepared));
    } else {
      this.retime(entry);
    }
    await this.put(entry);
    const sent = await this.deliver(entry);
    this.finishedHere.set(entry.digest, sent);
    return { sent, rebuilt };
  }

  /** Send what is not done; afterwards the entry is gone, or updated with what went out and why the rest did not. */
  private async deliver(entry: OutboxEntry): Promise<SentReferral> {
    const pending = entry.items.filter((i) => !i.done);
    try {
      await this.ctx.send(pending.map((i) => ({ threadId: entry.threadId, orgIds: i.orgIds, payload: i.payload })));
    } catch (err) {
      await this.reconcile(entry);
      entry.attempts++;
      entry.lastError = { code: codeOf(err), message: messageOf(err), at: this.ctx.now() };
      await this.put(entry);
      throw partlySent(statusOf(entry), err);
    }
    await this.remove(entry.id);
    return {
      threadId: entry.threadId,
      referralId: entry.referralId,
      recipients: entry.recipients,
      overrides: entry.items.flatMap((i) =>
        !isSupplement(i.payload) && i.payload.type === 'consent.override' ? [{ id: this.ctx.eventId(i.payload), event: i.payload }] : [],
      ),
    };
  }

  /** Mark what the transport holds our copy of (the relay accepted it); take the copy as it went out. */
  private async reconcile(entry: OutboxEntry): Promise<void> {
    const mine = (await this.ctx.transport.threadMessages(entry.threadId)).filter(
      (m) => m.direction === 'out' && m.senderDeviceId === this.ctx.transport.deviceId,
    );
    for (const item of entry.items) {
      if (item.done) continue;
      const copy = mine.find((m) => samePayload(m.payload, item.payload));
      if (copy) {
        item.done = true;
        item.payload = copy.payload as EventEnvelope | Supplement;
      }
    }
  }

  /** Fresh `at` for pending events grown too old, and `prev` links that follow their new hashes. */
  private retime(entry: OutboxEntry): void {
    const now = this.ctx.now();
    const renamed = new Map<string, string>();
    for (const item of entry.items) {
      if (item.done) continue;
      const payload = item.payload;
      if (isSupplement(payload)) {
        const target = renamed.get(payload.eventHash);
        if (target) item.payload = { ...payload, eventHash: target };
        continue;
      }
      const prev = payload.prev.map((id) => renamed.get(id) ?? id);
      const stale = now - payload.at > RETIME_AFTER_MS;
      if (!stale && prev.every((id, i) => id === payload.prev[i])) continue;
      const next = EventEnvelope.parse({ ...payload, prev, at: stale ? now : payload.at });
      renamed.set(this.ctx.eventId(payload), this.ctx.eventId(next));
      item.payload = next;
    }
  }

  private async entries(): Promise<OutboxEntry[]> {
    const value = await this.ctx.transport.getRecord(OUTBOX_RECORD);
    return Array.isArray(value) ? (value as OutboxEntry[]).filter((e) => e && e.v === 1) : [];
  }

  private async put(entry: OutboxEntry): Promise<void> {
    const others = (await this.entries()).filter((e) => e.id !== entry.id);
    await this.ctx.transport.putRecord(OUTBOX_RECORD, [...others, entry]);
  }

  private async remove(id: string): Promise<void> {
    const left = (await this.entries()).filter((e) => e.id !== id);
    if (left.length === 0) await this.ctx.transport.deleteRecord(OUTBOX_RECORD);
    else await this.ctx.transport.putRecord(OUTBOX_RECORD, left);
  }
}

/**
 * A vital-interest override was given for the violations of its time; a
 * referral built again later (the consent has expired meanwhile, say) must
 * not ride on it for new ones. Returns what is new, or null.
 */
function widenedOverrides(before: readonly RecipientDisclosure[], now: readonly RecipientDisclosure[]): string | null {
  const problems: string[] = [];
  for (const r of now) {
    const earlier = before.find((b) => b.orgId === r.orgId)?.override?.violations ?? [];
    const added = (r.override?.violations ?? []).filter((v) => !earlier.includes(v));
    if (added.length > 0) problems.push(`for ${r.orgId} now also ${added.join(', ')}`);
  }
  return problems.length > 0 ? `the consent no longer covers it as it did (${problems.join('; ')})` : null;
}

/** The same message: an event by its author's event id (its time may have been renewed), a supplement by content. */
function samePayload(held: unknown, wanted: EventEnvelope | Supplement): boolean {
  if (isSupplement(wanted)) {
    const s = Supplement.safeParse(held);
    return s.success && s.data.eventHash === wanted.eventHash && canonicalJson(s.data.data) === canonicalJson(wanted.data);
  }
  const e = EventEnvelope.safeParse(held);
  return e.success && e.data.type === wanted.type && e.data.eventId === wanted.eventId && e.data.author.deviceId === wanted.author.deviceId;
}

function statusOf(entry: OutboxEntry): PendingReferral {
  return {
    id: entry.id,
    threadId: entry.threadId,
    createdAt: entry.createdAt,
    createSent: entry.items[0]?.done ?? false,
    sent: entry.items.filter((i) => i.done).map((i) => i.what),
    pending: entry.items.filter((i) => !i.done).map((i) => i.what),
    pendingOrgIds: [...new Set(entry.items.filter((i) => !i.done).flatMap((i) => i.orgIds))].sort(),
    attempts: entry.attempts,
    lastError: entry.lastError,
  };
}

const codeOf = (err: unknown): string => (isHandoverError(err) ? err.code : 'INTERNAL');
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The error `refer` ends with when not everything went out: the cause's code, and exactly what is pending. */
function partlySent(status: PendingReferral, cause: unknown): HandoverError {
  const code = isHandoverError(cause) ? cause.code : 'UNAVAILABLE';
  const later = 'the next time a case command runs on this device, or now with `handover outbox`';
  const message = status.createSent
    ? `the referral was only partly sent (${messageOf(cause)}). Thread ${status.threadId}: sent ${status.sent.join(', ')}; ` +
      `pending ${status.pending.join(', ')}. The rest is kept in this device's outbox and sent ${later}.`
    : `the referral was not sent (${messageOf(cause)}); nothing of it left this device. It is kept in this device's outbox ` +
      `and sent as a new thread ${later}; do not run refer again.`;
  return new HandoverError(code, message, { outbox: status, cause: { code: codeOf(cause), message: messageOf(cause) } });
}
