import fc from 'fast-check';
import { isHandoverError } from '../../../../shared/errors';
import { RETURN_STEPS, STEP_STATUSES } from '../../../../client/referral/domain/picklists';
import type { EventAuthor, ThreadEvent } from '../../../../client/referral/domain/schemas';
import { deriveThreadState, validateNextEvent } from '../../../../client/referral/domain/state';
import { HOUR, IOM, IOM_KZ, NGO, NGO_2, POLICE, RULES, SHELTER_A, SHELTER_B, T0, ThreadBuilder, at, b64uDigest } from './fixtures';
import { type StepName, step } from './steps';

const AUTHORS: EventAuthor[] = [NGO, NGO_2, SHELTER_A, SHELTER_B, IOM, IOM_KZ, POLICE];
const STEPS: StepName[] = ['ack', 'requestInfo', 'provideInfo', 'accept', 'decline', 'schedule', 'arrived', 'noShow', 'start', 'complete', 'withdraw', 'close', 'consentWithdraw', 'note'];

/** `author` is an index into AUTHORS, or undefined for the party that usually sends this event. */
type Op =
  | { kind: 'step'; name: StepName; author: number | undefined }
  | { kind: 'return'; step: number; status: number; go: boolean; author: number | undefined }
  | { kind: 'purge'; author: number | undefined }
  | { kind: 'add'; author: number | undefined; override: boolean };

// Mostly the right party, sometimes anyone: enough valid events to reach deep states.
const authorArb = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(AUTHORS.length - 1) });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('step' as const), name: fc.constantFrom(...STEPS), author: authorArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('return' as const),
      step: fc.nat(RETURN_STEPS.length - 1),
      status: fc.nat(STEP_STATUSES.length - 1),
      go: fc.boolean(),
      author: authorArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), author: authorArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), author: authorArb, override: fc.boolean() }) },
);

function author(i: number | undefined, usual: EventAuthor): EventAuthor {
  return i === undefined ? usual : (AUTHORS[i % AUTHORS.length] as EventAuthor);
}

const PARTICIPANTS = [NGO, SHELTER_A, SHELTER_B, IOM];

/** Appends one operation's event (the builder supplies `prev` = current heads unless told otherwise). */
function perform(b: ThreadBuilder, op: Op): ThreadEvent {
  switch (op.kind) {
    case 'step':
      return op.author === undefined ? step(b, op.name) : step(b, op.name, author(op.author, NGO));
    case 'return': {
      const name = RETURN_STEPS[op.step] ?? 'return-requested';
      const status = STEP_STATUSES[op.status] ?? 'pending';
      const decision = name === 'risk-assessment' && status === 'done' ? { decision: op.go ? ('go' as const) : ('no-go' as const) } : {};
      return b.add('return.step', author(op.author, IOM), { step: name, status, responsibleOrgId: 'iom-ist', ...decision });
    }
    case 'purge': {
      const withdrawal = b.events.find((e) => e.event.type === 'consent.withdraw');
      return b.add('purge.receipt', author(op.author, PARTICIPANTS[b.events.length % PARTICIPANTS.length] as EventAuthor), { withdrawalId: withdrawal?.id ?? b64uDigest('none', 32), itemsDeleted: 1 });
    }
    case 'add':
      return b.add('participant.add', author(op.author, NGO), {
        orgId: 'iom-kz',
        orgType: 'iom',
        purpose: 'return',
        ...(op.override ? { consentOverrideReason: 'Origin office meets her at arrival' } : {}),
      });
  }
}

/** A thread whose events have random clocks and random (sometimes partial) views of the log: concurrency and skew. */
const concurrentThread = fc
  .array(
    fc.record({
      op: opArb,
      skew: fc.integer({ min: -2 * HOUR, max: 2 * HOUR }),
      seen: fc.array(fc.nat(), { maxLength: 3 }),
      useHeads: fc.nat(3).map((n) => n > 0),
    }),
    { maxLength: 25 },
  )
  .map((ops) => {
    const b = new ThreadBuilder();
    b.create();
    for (const [i, { op, skew, seen, useHeads }] of ops.entries()) {
      const at = (i + 1) * HOUR + skew;
      const prev = useHeads ? b.heads() : [...new Set(seen.map((i) => (b.events[i % b.events.length] as ThreadEvent).id))];
      const e = perform(b, op);
      // Re-make the same operation with the chosen clock and view.
      b.events.pop();
      b.events.push(b.make(e.event.type, e.event.author, e.event.body as never, { at: T0 + at, prev, eventId: e.event.eventId }));
    }
    return b.events;
  });

describe('properties of the derived state', () => {
  test('the state depends on the set of events, not on the order or repeats they arrive in', () => {
    fc.assert(
      fc.property(
        concurrentThread.chain((events) =>
          fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), fc.subarray(events)),
        ),
        fc.integer({ min: 0, max: 30 * 24 * HOUR }),
        ([events, shuffled, repeats], later) => {
          const now = T0 + later;
          expect(deriveThreadState([...shuffled, ...repeats], at(now))).toEqual(deriveThreadState(events, at(now)));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('every event is either applied or rejected, exactly once', () => {
    fc.assert(
      fc.property(concurrentThread, (events) => {
        const state = deriveThreadState(events, at(T0));
        const seen = [...state.timeline.map((t) => t.id), ...state.rejected.map((r) => r.id)].sort();
        expect(seen).toEqual(events.map((e) => e.id).sort());
      }),
      { numRuns: 100 },
    );
  });

  test('validateNextEvent refuses exactly what the replay would reject, with the same code', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
        const b = new ThreadBuilder();
        b.create();
        for (const op of ops) {
          const before = deriveThreadState(b.events, at(T0));
          const e = perform(b, op); // prev = all heads and a later clock: it replays last
          let refused: string | null = null;
          try {
            validateNextEvent(before, e.event, RULES);
          } catch (err) {
            if (!isHandoverError(err)) throw err;
            refused = err.code;
          }
          const after = deriveThreadState(b.events, at(T0));
          expect(after.rejected.find((r) => r.id === e.id)?.code ?? null).toBe(refused);
        }
      }),
      { numRuns: 100 },
    );
  });
});
