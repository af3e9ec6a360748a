/**
 * The consent-withdrawal lifecycle of one device: when a thread holds an
 * applied `consent.withdraw`, keep a tombstone, delete every message and
 * decoded record of the thread, send this device's signed purge receipt
 * (retried until the relay takes it), and from then on absorb the thread's
 * late messages (receipts join the tombstone, everything else is deleted on
 * arrival). The tombstone is written first, so a crash at any point is
 * finished by the next `CaseService.start()`.
 *
 * The tombstone keeps the case code only as a keyed hash (`caseCodeTag`),
 * so referring the same survivor again can warn that consent was withdrawn
 * before. The key is random, per device, and kept in the vault: someone who
 * only knows case codes (or a tombstone that leaked on its own) cannot tell
 * which codes were withdrawn.
 */
import { type Crypto, fromB64u, toB64u, utf8 } from '../../../shared';
import type { StoredMessage } from '../../sdk/messages';
import type { EventAuthor, EventEnvelope, EventOf } from '../domain/schemas';
import { type ThreadRules, validateNextEvent } from '../domain/state';
import { classify } from './payload';
import type { CaseThread, LoadedThread } from './thread-view';
import { type Tombstone, receiptProblem } from './tombstone';
import type { CaseTransport } from './transport';

const TOMBSTONE_INDEX = 'referrals/tombstones';
const tombstoneRecord = (threadId: string) => `referrals/tombstone/${threadId}`;
const CASE_CODE_KEY_RECORD = 'referrals/case-code-key';
const CASE_CODE_TAG_LABEL = 'handover/case-code-tag/v1';

/**
 * A case code under this device's case-code key (created on first use).
 * Codes are compared as people write them, so case and surrounding space
 * do not matter (`trz-2026-0147` is `TRZ-2026-0147`).
 */
export async function caseCodeTag(records: Pick<CaseTransport, 'getRecord' | 'putRecord'>, crypto: Crypto, caseCode: string): Promise<string> {
  let stored = await records.getRecord(CASE_CODE_KEY_RECORD);
  if (typeof stored !== 'string') {
    stored = toB64u(crypto.random(32));
    await records.putRecord(CASE_CODE_KEY_RECORD, stored);
  }
  const normalised = caseCode.normalize('NFKC').trim().toUpperCase();
  return toB64u(crypto.hash(utf8(`${CASE_CODE_TAG_LABEL}\0${normalised}`), 32, fromB64u(stored as string)));
}

/** An earlier thread of the same case code whose consent was withdrawn. */
export interface EarlierWithdrawal {
  threadId: string;
  withdrawnAt: number;
}

/** What the purge needs from the case service around it. */
export interface PurgeContext {
  transport: CaseTransport;
  rules: ThreadRules;
  now(): number;
  eventId(event: EventEnvelope): string;
  orgTypeOf(orgId: string): string | undefined;
  author(): EventAuthor;
  buildReceipt(threadId: string, heads: readonly string[], body: EventOf<'purge.receipt'>['body']): EventOf<'purge.receipt'>;
  /** Send to the other orgs of the list (the transport also keeps our own copy). */
  send(threadId: string, orgIds: string[], payload: EventEnvelope): Promise<void>;
  others(orgIds: Iterable<string>): string[];
  /** Forget the decoded record and inbox line of a thread. */
  forget(threadId: string): Promise<void>;
  emit(update: { threadId: string; kind: 'purged' | 'receipt' | 'discarded'; type?: string }): void;
  recordFailure(threadId: string, err: unknown): void;
  /** The case code's keyed hash (`caseCodeTag`), kept in the tombstone. */
  tagCaseCode?(caseCode: string): Promise<string>;
}

export class ConsentPurge {
  constructor(private readonly ctx: PurgeContext) {}

  async tombstoneIds(): Promise<string[]> {
    const ids = await this.ctx.transport.getRecord(TOMBSTONE_INDEX);
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  }

  async tombstone(threadId: string): Promise<Tombstone | undefined> {
    const value = await this.ctx.transport.getRecord(tombstoneRecord(threadId));
    return value && typeof value === 'object' && (value as Tombstone).v === 1 ? (value as Tombstone) : undefined;
  }

  /** Purged threads whose case code had this tag (see `caseCodeTag`). */
  async withdrawnWithTag(tag: string): Promise<EarlierWithdrawal[]> {
    const out: EarlierWithdrawal[] = [];
    for (const threadId of await this.tombstoneIds()) {
      const tomb = await this.tombstone(threadId);
      if (tomb?.caseCodeTag === tag) out.push({ threadId, withdrawnAt: tomb.withdrawal.at });
    }
    return out;
  }

  private async saveTombstone(tomb: Tombstone): Promise<void> {
    await this.ctx.transport.putRecord(tombstoneRecord(tomb.threadId), tomb);
    const ids = await this.tombstoneIds();
    if (!ids.includes(tomb.threadId)) await this.ctx.transport.putRecord(TOMBSTONE_INDEX, [...ids, tomb.threadId]);
  }

  /** Finish what a crash or an unreachable relay left of a purged thread: late messages, our receipt. */
  async resume(threadId: string): Promise<void> {
    const tomb = await this.tombstone(threadId);
    if (!tomb) return;
    const left = await this.ctx.transport.threadMessages(threadId);
    if (left.length > 0) await this.absorb(tomb, left);
    if (tomb.pendingReceipt) await this.sendPendingReceipt(tomb);
  }

  /**
   * If the thread holds an applied consent withdrawal: tombstone, delete,
   * receipt. Returns whether it did.
   */
  async purgeIfWithdrawn(threadId: string, state: CaseThread, loaded: LoadedThread): Promise<boolean> {
    const withdrawal = state.consentWithdrawal;
    const entry = withdrawal && state.timeline.find((t) => t.id === withdrawal.withdrawalId);
    if (!withdrawal || !entry) return false;

    const me = this.ctx.author();
    const receipts = loaded.events.filter(
      (e): e is { id: string; event: EventOf<'purge.receipt'> } =>
        e.event.type === 'purge.receipt' && state.timeline.some((t) => t.id === e.id),
    );
    const confirmedHere = receipts.some((r) => r.event.author.deviceId === me.deviceId);
    let pendingReceipt: EventOf<'purge.receipt'> | null = null;
    if (!confirmedHere) {
      try {
        pendingReceipt = this.ctx.buildReceipt(threadId, state.heads, { withdrawalId: withdrawal.withdrawalId, itemsDeleted: loaded.messageCount });
        validateNextEvent(state, pendingReceipt, this.ctx.rules);
      } catch (err) {
        // The purge matters more than the receipt: delete anyway and leave the failure visible.
        this.ctx.recordFailure(threadId, err);
        pendingReceipt = null;
      }
    }
    const caseCode = state.referral?.identity.caseCode;
    const caseCodeTag = caseCode && this.ctx.tagCaseCode ? await this.ctx.tagCaseCode(caseCode) : undefined;
    const tomb: Tombstone = {
      v: 1,
      threadId,
      purgedAt: this.ctx.now(),
      itemsDeleted: loaded.messageCount,
      discardedLater: 0,
      participants: state.participants,
      withdrawal: entry,
      heads: state.heads,
      receipts: receipts.map(({ id, event }) => ({ id, event })),
      pendingReceipt,
      ...(caseCodeTag ? { caseCodeTag } : {}),
    };
    await this.saveTombstone(tomb);
    tomb.itemsDeleted = await this.ctx.transport.purgeThread(threadId);
    await this.ctx.forget(threadId);
    await this.saveTombstone(tomb);
    this.ctx.emit({ threadId, kind: 'purged' });
    if (tomb.pendingReceipt) await this.sendPendingReceipt(tomb);
    return true;
  }

  async sendPendingReceipt(tomb: Tombstone): Promise<void> {
    const pending = tomb.pendingReceipt;
    if (!pending) return;
    // A receipt retried later gets the time it is actually sent: receivers drop an event whose time is not its envelope's.
    const receipt: EventOf<'purge.receipt'> = { ...pending, at: this.ctx.now() };
    if (!tomb.receipts.some((r) => r.event.author.deviceId === receipt.author.deviceId)) {
      try {
        await this.ctx.send(tomb.threadId, this.ctx.others(tomb.participants.map((p) => p.orgId)), receipt);
      } catch (err) {
        this.ctx.recordFailure(tomb.threadId, err);
        return; // kept pending; `start()` tries again
      }
      tomb.receipts.push({ id: this.ctx.eventId(receipt), event: receipt });
    }
    tomb.pendingReceipt = null;
    await this.saveTombstone(tomb);
    // The transport stored our outgoing copy; the tombstone now holds it.
    await this.ctx.transport.purgeThread(tomb.threadId);
    await this.ctx.forget(tomb.threadId);
  }

  /** Messages for a purged thread: receipts join the tombstone, everything else is deleted on arrival. */
  async absorb(tomb: Tombstone, messages: StoredMessage[]): Promise<void> {
    for (const message of messages) {
      const c = classify(message, (orgId) => this.ctx.orgTypeOf(orgId));
      if (c.kind === 'event' && c.event.type === 'purge.receipt' && receiptProblem(tomb, c.event) === null) {
        tomb.receipts.push({ id: this.ctx.eventId(c.event), event: c.event });
        this.ctx.emit({ threadId: tomb.threadId, kind: 'receipt', type: c.event.type });
      } else {
        tomb.discardedLater++;
        this.ctx.emit({ threadId: tomb.threadId, kind: 'discarded' });
      }
    }
    await this.saveTombstone(tomb);
    await this.ctx.transport.purgeThread(tomb.threadId);
    await this.ctx.forget(tomb.threadId);
  }
}
