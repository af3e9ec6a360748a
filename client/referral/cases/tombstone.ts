/**
 * What a device keeps of a thread after a consent withdrawal: ids, the org
 * list, the withdrawal's timeline entry and the purge receipts. No survivor
 * data and no free text (the withdrawal's note is not kept), only enough to
 * show who withdrew and which participants have confirmed the purge.
 */
import type { EventOf } from '../domain/schemas';
import { EMPTY_RETURN_PATH } from '../domain/return-path';
import type { Participant, PurgeConfirmation, PurgeTracking, ThreadState, TimelineEntry } from '../domain/state';

export interface TombstoneReceipt {
  id: string;
  event: EventOf<'purge.receipt'>;
}

export interface Tombstone {
  v: 1;
  threadId: string;
  purgedAt: number;
  /** Messages deleted from this device at the purge. */
  itemsDeleted: number;
  /** Messages of the thread that arrived after the purge and were deleted on arrival (receipts excepted). */
  discardedLater: number;
  participants: Participant[];
  /** The `consent.withdraw` entry of the timeline (summary holds ids only). */
  withdrawal: TimelineEntry;
  /** The thread's heads when it was purged: the `prev` of our receipt. */
  heads: string[];
  receipts: TombstoneReceipt[];
  /** Our own receipt until the transport has taken it (retried by `CaseService.start`). */
  pendingReceipt: EventOf<'purge.receipt'> | null;
  /**
   * The thread's case code under this device's case-code key (purge.ts
   * `caseCodeTag`), so a later referral with the same code can be warned
   * about; not the code itself. Absent in tombstones written before it.
   */
  caseCodeTag?: string;
}

/** Facts about the purge for a thread view. */
export interface PurgeRecord {
  purgedAt: number;
  itemsDeleted: number;
  discardedLater: number;
  receiptPending: boolean;
}

function byTime(a: { at: number; id: string }, b: { at: number; id: string }): number {
  return a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Whether a receipt may join the tombstone: names this withdrawal, from a participant, one per device. */
export function receiptProblem(tomb: Tombstone, receipt: EventOf<'purge.receipt'>): string | null {
  if (receipt.body.withdrawalId !== tomb.withdrawal.id) return 'the receipt names another withdrawal';
  const who = tomb.participants.find((p) => p.orgId === receipt.author.orgId);
  if (!who || who.orgType !== receipt.author.orgType) return `${receipt.author.orgId} is not a participant of this thread`;
  if (tomb.receipts.some((r) => r.event.author.deviceId === receipt.author.deviceId)) return 'this device already confirmed the purge';
  return null;
}

export function purgeTracking(tomb: Tombstone): PurgeTracking {
  const confirmed: PurgeConfirmation[] = [];
  for (const { event } of [...tomb.receipts].sort((a, b) => byTime({ at: a.event.at, id: a.id }, { at: b.event.at, id: b.id }))) {
    const entry = confirmed.find((c) => c.orgId === event.author.orgId);
    if (entry) {
      entry.deviceIds.push(event.author.deviceId);
      entry.itemsDeleted += event.body.itemsDeleted;
    } else {
      confirmed.push({ orgId: event.author.orgId, at: event.at, deviceIds: [event.author.deviceId], itemsDeleted: event.body.itemsDeleted });
    }
  }
  const pending = tomb.participants.map((p) => p.orgId).filter((id) => !confirmed.some((c) => c.orgId === id));
  return {
    withdrawalId: tomb.withdrawal.id,
    withdrawnAt: tomb.withdrawal.at,
    byOrgId: tomb.withdrawal.author.orgId,
    confirmed,
    pending,
    complete: pending.length === 0,
  };
}

/** The thread as it can still be shown after the purge. */
export function tombstoneState(tomb: Tombstone): ThreadState {
  const receipts: TimelineEntry[] = tomb.receipts.map(({ id, event }) => ({
    id,
    eventId: event.eventId,
    type: event.type,
    at: event.at,
    author: event.author,
    summary: `${event.author.orgId} confirmed the purge (${event.body.itemsDeleted} items)`,
    state: 'consent-withdrawn',
  }));
  return {
    threadId: tomb.threadId,
    referralId: null,
    referral: null,
    participants: tomb.participants,
    status: 'consent-withdrawn',
    priority: null,
    responseDeadline: null,
    firstResponseAt: null,
    overdue: false,
    respondedLate: false,
    decision: null,
    intakeSchedule: null,
    returnPath: EMPTY_RETURN_PATH,
    consentExpired: false,
    consentWithdrawal: purgeTracking(tomb),
    overrides: [],
    timeline: [tomb.withdrawal, ...receipts.sort(byTime)],
    rejected: [],
    heads: tomb.heads,
    missingPrev: [],
  };
}
