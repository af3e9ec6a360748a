/**
 * Test fixtures for the referral workflow: the demo scenario's orgs and
 * devices, and a thread builder that produces schema-valid events with
 * stand-in hashes (SHA-256 of the event JSON; the real client hashes the
 * signed event, which the state machine never needs to know). Thread ids
 * are derived from the create with the real derivation over SHA-256 as the
 * stand-in hash, and org types are "certified" by a fixed table.
 */
import { createHash } from 'node:crypto';
import example from '../../../../examples/referral.json';
import { orderEvents } from '../../../../client/referral/domain/order';
import {
  type EventAuthor,
  EventEnvelope,
  type EventOf,
  type EventType,
  type OrgTypeName,
  ReferralBody,
  type ThreadEvent,
} from '../../../../client/referral/domain/schemas';
import type { DeriveOptions, ThreadRules } from '../../../../client/referral/domain/state';
import { deriveThreadId } from '../../../../client/referral/domain/thread-id';

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;
export const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

export const NGO: EventAuthor = { orgId: 'ngo-taraz', orgType: 'ngo', deviceId: 'ngo-taraz:ngo-dev-1' };
export const NGO_2: EventAuthor = { orgId: 'ngo-taraz', orgType: 'ngo', deviceId: 'ngo-taraz:ngo-dev-2' };
export const SHELTER_A: EventAuthor = { orgId: 'shelter-ist', orgType: 'shelter', deviceId: 'shelter-ist:sh-dev-a' };
export const SHELTER_B: EventAuthor = { orgId: 'shelter-ist', orgType: 'shelter', deviceId: 'shelter-ist:sh-dev-b' };
export const IOM: EventAuthor = { orgId: 'iom-ist', orgType: 'iom', deviceId: 'iom-ist:iom-dev-1' };
export const IOM_KZ: EventAuthor = { orgId: 'iom-kz', orgType: 'iom', deviceId: 'iom-kz:iomkz-dev-1' };
export const POLICE: EventAuthor = { orgId: 'police-ist', orgType: 'authority', deviceId: 'police-ist:pol-dev-1' };

export function b64uDigest(text: string, bytes: number): string {
  return createHash('sha256').update(text).digest().subarray(0, bytes).toString('base64url');
}

/** The id of a thread the builder has not created yet (events made before any create). */
export const THREAD_ID = b64uDigest('thread-1', 16);

/** The org types the root certified in these tests. */
export const CERTIFIED: Readonly<Record<string, OrgTypeName>> = {
  'ngo-taraz': 'ngo',
  'shelter-ist': 'shelter',
  'shelter-ank': 'shelter',
  'iom-ist': 'iom',
  'iom-kz': 'iom',
  'police-ist': 'authority',
};

export function stubThreadIdOf(create: EventOf<'referral.create'>): string {
  return deriveThreadId((m) => createHash('sha256').update(m).digest(), create);
}

export const RULES: ThreadRules = {
  threadIdOf: stubThreadIdOf,
  certifiedOrgType: (orgId) => (Object.hasOwn(CERTIFIED, orgId) ? CERTIFIED[orgId] : undefined),
};

/** Options for deriveThreadState at `now`. */
export function at(now: number): DeriveOptions {
  return { now, ...RULES };
}

/** The demo referral (examples/referral.json), parsed, so every test starts from a valid body. */
export function exampleReferral(): ReferralBody {
  return ReferralBody.parse(structuredClone(example));
}

type BodyOf<T extends EventType> = Extract<EventEnvelope, { type: T }>['body'];

export interface AddOptions {
  at?: number;
  /** Defaults to the current heads of the thread. */
  prev?: string[];
  eventId?: string;
  threadId?: string;
}

/** Builds a thread event by event; each event is parsed by the real schema. */
export class ThreadBuilder {
  readonly events: ThreadEvent[] = [];
  private clock = T0;
  private counter = 0;
  /** THREAD_ID until `create()`, then the id derived from that create. */
  threadId = THREAD_ID;

  heads(): string[] {
    return orderEvents(this.events).heads;
  }

  make<T extends EventType>(type: T, author: EventAuthor, body: BodyOf<T>, opts: AddOptions = {}): ThreadEvent {
    this.counter++;
    const at = opts.at ?? (this.clock += 60_000);
    const event = EventEnvelope.parse({
      type,
      eventId: opts.eventId ?? b64uDigest(`${this.threadId}/event/${this.counter}`, 16),
      threadId: opts.threadId ?? this.threadId,
      prev: opts.prev ?? this.heads(),
      author,
      at,
      body,
    });
    return { id: b64uDigest(JSON.stringify(event), 32), event };
  }

  add<T extends EventType>(type: T, author: EventAuthor, body: BodyOf<T>, opts: AddOptions = {}): ThreadEvent {
    const e = this.make(type, author, body, opts);
    this.events.push(e);
    return e;
  }

  /**
   * A proper create: its thread id is derived from it, and the builder's
   * thread becomes that one. To forge a create that claims an existing
   * thread, use `add('referral.create', ...)` (it takes the builder's id).
   */
  create(body: ReferralBody = exampleReferral(), opts: AddOptions & { author?: EventAuthor } = {}): ThreadEvent {
    const { author = NGO, ...rest } = opts;
    const draft = this.make('referral.create', author, body, { at: T0, prev: [], ...rest });
    const event = { ...(draft.event as EventOf<'referral.create'>) };
    event.threadId = stubThreadIdOf(event);
    this.threadId = event.threadId;
    const made: ThreadEvent = { id: b64uDigest(JSON.stringify(event), 32), event };
    this.events.push(made);
    return made;
  }
}
