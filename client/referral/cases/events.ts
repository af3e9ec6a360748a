/**
 * Building this device's thread events: the right author (this device, its
 * org and the org's certified type), a fresh random event id, the time of
 * the device's clock, the thread's heads as `prev`; a `referral.create`
 * whose thread id is derived from it; and the visible `consent.override`
 * events an override needs, each checked on the thread so far.
 */
import type { z } from 'zod';
import { type Crypto, HandoverError, describeIssues } from '../../../shared';
import { type EventAuthor, EventEnvelope, type EventOf, type EventType, type Purpose, REFERRAL_LIMITS, type ReferralBody, type ThreadEvent } from '../domain/schemas';
import { type ThreadRules, deriveThreadState, validateNextEvent } from '../domain/state';
import type { RecipientDisclosure } from './disclosure';
import { eventHash, isPastableId, randomId, threadIdOf } from './payload';

/** Stands in for the thread id while a create is built: the id is derived from everything else. */
const UNDERIVED_THREAD_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

export type Body<T extends EventType> = EventOf<T>['body'];

/** An event this device sent, with its hash (its id in `prev` links and timelines). */
export interface SentEvent {
  id: string;
  event: EventEnvelope;
}

export class EventBuilder {
  constructor(
    private readonly crypto: Crypto,
    private readonly now: () => number,
    private readonly author: () => EventAuthor,
    private readonly rules: () => ThreadRules,
  ) {}

  eventId(event: EventEnvelope): string {
    return eventHash(this.crypto, event);
  }

  build<T extends EventType>(type: T, threadId: string, prev: readonly string[], body: Body<T>): EventOf<T> {
    const parsed = EventEnvelope.safeParse({
      type,
      eventId: randomId(this.crypto),
      threadId,
      prev: prev.slice(0, REFERRAL_LIMITS.maxPrev),
      author: this.author(),
      at: this.now(),
      body,
    });
    if (!parsed.success) throw new HandoverError('INVALID_EVENT', `${type}: ${describeIssues(parsed.error as z.ZodError, 8)}`, { type });
    return parsed.data as EventOf<T>;
  }

  /** `consent.override` events for the recipients only an override lets through, each checked on the thread so far. */
  overrideEvents(threadId: string, events: ThreadEvent[], recipients: RecipientDisclosure[], purpose: Purpose): SentEvent[] {
    const out: SentEvent[] = [];
    const all = [...events];
    for (const r of recipients) {
      if (!r.override) continue;
      const state = deriveThreadState(all, { now: this.now(), ...this.rules() });
      const event = this.build('consent.override', threadId, state.heads, {
        recipient: { orgId: r.orgId, orgType: r.orgType },
        purpose,
        fieldGroups: r.fieldGroups,
        reason: r.override.reason,
      });
      validateNextEvent(state, event, this.rules());
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
  buildCreate(body: ReferralBody): EventOf<'referral.create'> {
    for (;;) {
      const draft = this.build('referral.create', UNDERIVED_THREAD_ID, [], body);
      const threadId = threadIdOf(this.crypto, draft);
      if (isPastableId(threadId)) return { ...draft, threadId };
    }
  }
}
