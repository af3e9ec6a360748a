import { isHandoverError } from '../../../../shared/errors';
import { deriveThreadState, validateNextEvent, type ThreadState } from '../../../../client/referral/domain/state';
import type { EventAuthor, EventOf, ThreadEvent } from '../../../../client/referral/domain/schemas';
import {
  DAY,
  HOUR,
  IOM,
  IOM_KZ,
  NGO,
  NGO_2,
  POLICE,
  RULES,
  SHELTER_A,
  SHELTER_B,
  T0,
  ThreadBuilder,
  at,
  b64uDigest,
  exampleReferral,
  stubThreadIdOf,
} from './fixtures';
import { type StepName, step } from './steps';

function derive(b: ThreadBuilder, now = T0): ThreadState {
  return deriveThreadState(b.events, at(now));
}

function thread(steps: StepName[] = []): ThreadBuilder {
  const b = new ThreadBuilder();
  b.create();
  for (const name of steps) step(b, name);
  return b;
}

function rejection(state: ThreadState, e: ThreadEvent) {
  return state.rejected.find((r) => r.id === e.id);
}

function applied(state: ThreadState, e: ThreadEvent): boolean {
  return state.timeline.some((t) => t.id === e.id);
}

describe('a new referral', () => {
  test('starts the thread: sender, receiving org and coordinator, priority and deadline', () => {
    const b = thread();
    const state = derive(b);
    expect(state.status).toBe('sent');
    expect(state.threadId).toBe(b.threadId);
    expect(state.threadId).toBe(stubThreadIdOf(b.events[0]!.event as EventOf<'referral.create'>));
    expect(state.participants.map((p) => [p.orgId, p.orgType, p.role])).toEqual([
      ['ngo-taraz', 'ngo', 'sender'],
      ['shelter-ist', 'shelter', 'receiving'],
      ['iom-ist', 'iom', 'coordinator'],
    ]);
    expect(state.priority).toBe('urgent');
    expect(state.responseDeadline).toBe(T0 + 72 * HOUR);
    expect(state.rejected).toEqual([]);
  });

  test('a thread without its referral has no status, and events in it are rejected as no-referral', () => {
    const b = new ThreadBuilder();
    const note = b.add('note', NGO, { text: 'hello' }, { prev: [b64uDigest('missing', 32)] });
    const state = derive(b);
    expect(state.status).toBeNull();
    expect(rejection(state, note)?.reason).toBe('no-referral');
    expect(state.missingPrev).toEqual([b64uDigest('missing', 32)]);
  });

  test('a create of another thread mixed into this one changes nothing', () => {
    const b = thread();
    const other = new ThreadBuilder();
    const foreign = other.create(exampleReferral(), { at: T0 + 1, prev: b.heads(), eventId: b64uDigest('other thread', 16) });
    b.events.push(foreign);
    const state = derive(b);
    expect(rejection(state, foreign)?.reason).toBe('wrong-thread');
    expect(state.referralId).toBe(b.events[0]!.id);
  });

  test('sender, receiving org and coordinators must be different orgs', () => {
    const body = exampleReferral();
    body.header.referredOrganisation = { orgId: 'ngo-taraz', orgType: 'ngo' };
    const b = new ThreadBuilder();
    const create = b.create(body);
    const state = derive(b);
    expect(rejection(state, create)?.code).toBe('INVALID_EVENT');
    expect(state.status).toBeNull();
  });
});

describe('intake lifecycle', () => {
  test('the full path walks through every state', () => {
    const b = thread(['ack', 'requestInfo', 'provideInfo', 'accept', 'schedule', 'noShow', 'schedule', 'arrived', 'start', 'complete', 'close']);
    const state = derive(b);
    expect(state.rejected).toEqual([]);
    expect(state.timeline.map((t) => t.state)).toEqual([
      'sent',
      'acknowledged',
      'info-requested',
      'acknowledged',
      'accepted',
      'intake-scheduled',
      'no-show',
      'intake-scheduled',
      'arrived',
      'in-service',
      'completed',
      'closed',
    ]);
    expect(state.decision?.outcome).toBe('accepted');
    expect(state.intakeSchedule?.location).toBe('Consulate entrance');
    expect(state.firstResponseAt).toBe(state.timeline[1]?.at);
  });

  test.each<[string, StepName[], StepName, string]>([
    ['accept straight from sent', [], 'accept', 'accepted'],
    ['decline straight from sent', [], 'decline', 'declined'],
    ['request info straight from sent', [], 'requestInfo', 'info-requested'],
    ['request info again', ['requestInfo'], 'requestInfo', 'info-requested'],
    ['accept while info is requested', ['requestInfo'], 'accept', 'accepted'],
    ['decline after acknowledging', ['ack'], 'decline', 'declined'],
    ['arrival without a schedule (walk-in)', ['accept'], 'arrived', 'arrived'],
    ['late arrival after a no-show', ['accept', 'schedule', 'noShow'], 'arrived', 'arrived'],
    ['reschedule', ['accept', 'schedule'], 'schedule', 'intake-scheduled'],
    ['withdraw before a response', [], 'withdraw', 'withdrawn'],
    ['withdraw after acceptance', ['accept', 'schedule'], 'withdraw', 'withdrawn'],
    ['withdraw during service', ['accept', 'arrived', 'start'], 'withdraw', 'withdrawn'],
    ['consent withdrawn at any point', ['accept'], 'consentWithdraw', 'consent-withdrawn'],
    ['consent withdrawn after closing', ['decline', 'close'], 'consentWithdraw', 'consent-withdrawn'],
    ['close after a decline', ['decline'], 'close', 'closed'],
  ])('%s', (_name, before, last, expected) => {
    const b = thread(before);
    const e = step(b, last);
    const state = derive(b);
    expect(rejection(state, e)).toBeUndefined();
    expect(state.status).toBe(expected);
  });

  test.each<[string, StepName[], StepName, string]>([
    ['accept after a decline', ['decline'], 'accept', 'invalid-transition'],
    ['decline after acceptance', ['accept'], 'decline', 'invalid-transition'],
    ['acknowledge after acceptance', ['accept'], 'ack', 'invalid-transition'],
    ['acknowledge twice', ['ack'], 'ack', 'duplicate'],
    ['accept twice', ['accept'], 'accept', 'duplicate'],
    ['schedule before acceptance', ['ack'], 'schedule', 'invalid-transition'],
    ['arrival before acceptance', [], 'arrived', 'invalid-transition'],
    ['no-show without a schedule', ['accept'], 'noShow', 'invalid-transition'],
    ['service before arrival', ['accept', 'schedule'], 'start', 'invalid-transition'],
    ['completion before service', ['accept', 'arrived'], 'complete', 'invalid-transition'],
    ['arrival twice', ['accept', 'arrived'], 'arrived', 'duplicate'],
    ['provide info nobody asked for', ['ack'], 'provideInfo', 'invalid-transition'],
    ['request info after acceptance', ['accept'], 'requestInfo', 'invalid-transition'],
    ['withdraw after a decline', ['decline'], 'withdraw', 'invalid-transition'],
    ['withdraw twice', ['withdraw'], 'withdraw', 'duplicate'],
    ['accept a withdrawn referral', ['withdraw'], 'accept', 'invalid-transition'],
    ['withdraw a completed service', ['accept', 'arrived', 'start', 'complete'], 'withdraw', 'invalid-transition'],
    ['a note after consent was withdrawn', ['consentWithdraw'], 'note', 'invalid-transition'],
    ['close twice', ['close'], 'close', 'duplicate'],
    ['withdraw consent twice', ['consentWithdraw'], 'consentWithdraw', 'duplicate'],
  ])('refused: %s', (_name, before, last, reason) => {
    const b = thread(before);
    const statusBefore = derive(b).status;
    const e = step(b, last);
    const state = derive(b);
    expect(rejection(state, e)).toMatchObject({ code: 'INVALID_EVENT', reason });
    expect(state.status).toBe(statusBefore);
  });

  test('provide-info must answer a request-info of this thread', () => {
    const b = thread(['requestInfo']);
    const stray = b.add('referral.provide-info', NGO, { inReplyTo: b.events[0]!.id, details: 'x' });
    expect(rejection(derive(b), stray)?.reason).toBe('invalid-transition');
  });
});

describe('only the right party acts', () => {
  const RECEIVING_ONLY: [StepName, StepName[]][] = [
    ['ack', []],
    ['requestInfo', []],
    ['accept', []],
    ['decline', []],
    ['schedule', ['accept']],
    ['arrived', ['accept']],
    ['noShow', ['accept', 'schedule']],
    ['start', ['accept', 'arrived']],
    ['complete', ['accept', 'arrived', 'start']],
  ];
  const cases = RECEIVING_ONLY.flatMap(([name, before]) =>
    ([['sender', NGO], ['coordinator', IOM], ['outsider', POLICE]] as [string, EventAuthor][]).map(
      ([who, author]) => [name, who, before, author] as const,
    ),
  );

  test.each(cases)('%s by the %s is WRONG_PARTY; by the shelter it is applied', (name, _who, before, author) => {
    const b = thread(before);
    const wrong = step(b, name, author);
    const state = derive(b);
    expect(rejection(state, wrong)).toMatchObject({ code: 'WRONG_PARTY', reason: 'wrong-party' });

    const right = step(b, name, SHELTER_A);
    expect(applied(derive(b), right)).toBe(true);
  });

  test.each([
    ['withdraw', 'the receiving org', SHELTER_A],
    ['withdraw', 'a coordinator', IOM],
    ['provideInfo', 'the receiving org', SHELTER_A],
  ] as const)('%s by %s is WRONG_PARTY', (name, _who, author) => {
    const b = thread(name === 'provideInfo' ? ['requestInfo'] : []);
    const e = step(b, name, author);
    expect(rejection(derive(b), e)?.code).toBe('WRONG_PARTY');
  });

  test('another device of the sender org may withdraw', () => {
    const b = thread();
    const e = step(b, 'withdraw', NGO_2);
    expect(applied(derive(b), e)).toBe(true);
  });

  test('a coordinator cannot close the case; sender and receiving org can', () => {
    const b = thread();
    const byCoordinator = step(b, 'close', IOM);
    expect(rejection(derive(b), byCoordinator)?.code).toBe('WRONG_PARTY');
    const byShelter = step(b, 'close', SHELTER_B);
    expect(applied(derive(b), byShelter)).toBe(true);
  });

  test('return steps are recorded by IOM only', () => {
    const b = thread();
    const body = { step: 'return-requested', status: 'done', responsibleOrgId: 'iom-ist' } as const;
    const byNgo = b.add('return.step', NGO, body);
    const byShelter = b.add('return.step', SHELTER_A, body);
    const byIom = b.add('return.step', IOM, body);
    const state = derive(b);
    expect(rejection(state, byNgo)?.code).toBe('WRONG_PARTY');
    expect(rejection(state, byShelter)?.code).toBe('WRONG_PARTY');
    expect(applied(state, byIom)).toBe(true);
  });

  test('every participant may add notes; a non-participant may not', () => {
    const b = thread();
    const notes = [NGO, SHELTER_B, IOM].map((author) => step(b, 'note', author));
    const outsider = step(b, 'note', POLICE);
    const state = derive(b);
    for (const n of notes) expect(applied(state, n)).toBe(true);
    expect(rejection(state, outsider)).toMatchObject({ code: 'WRONG_PARTY', message: expect.stringContaining('police-ist') });
  });

  test('an author claiming another org type than its org joined with is WRONG_PARTY', () => {
    const b = thread();
    const e = step(b, 'accept', { orgId: 'shelter-ist', orgType: 'iom', deviceId: 'shelter-ist:sh-dev-a' });
    expect(rejection(derive(b), e)?.code).toBe('WRONG_PARTY');
  });

  test('the consent override event is the sender org’s', () => {
    const b = thread();
    const body = { recipient: { orgId: 'iom-kz', orgType: 'iom' as const }, purpose: 'return' as const, fieldGroups: ['identity' as const], reason: 'Imminent danger' };
    const byShelter = b.add('consent.override', SHELTER_A, body);
    const bySender = b.add('consent.override', NGO, body);
    const state = derive(b);
    expect(rejection(state, byShelter)?.code).toBe('WRONG_PARTY');
    expect(state.overrides).toEqual([expect.objectContaining({ id: bySender.id, reason: 'Imminent danger', via: 'consent.override' })]);
  });
});

describe('replay order and concurrency', () => {
  test('two shelter staff accept concurrently: the first in the order wins, the other is visible as a duplicate', () => {
    const b = thread();
    const prev = b.heads();
    const a = b.add('referral.accept', SHELTER_A, {}, { at: T0 + HOUR, prev });
    const c = b.add('referral.accept', SHELTER_B, {}, { at: T0 + HOUR, prev });
    const [winner, loser] = a.id < c.id ? [a, c] : [c, a];
    for (const events of [b.events, [...b.events].reverse()]) {
      const state = deriveThreadState(events, at(T0));
      expect(state.decision).toMatchObject({ outcome: 'accepted', id: winner.id, author: winner.event.author });
      expect(state.rejected).toEqual([expect.objectContaining({ id: loser.id, reason: 'duplicate', code: 'INVALID_EVENT' })]);
      expect(state.heads).toEqual([a.id, c.id].sort());
    }
  });

  test('among concurrent events the earlier `at` wins before the hash decides', () => {
    const b = thread();
    const prev = b.heads();
    const late = b.add('referral.accept', SHELTER_A, {}, { at: T0 + 2 * HOUR, prev });
    const early = b.add('referral.decline', SHELTER_B, { reasonCode: 'safety' }, { at: T0 + HOUR, prev });
    const state = derive(b);
    expect(state.status).toBe('declined');
    expect(rejection(state, late)?.reason).toBe('invalid-transition');
    expect(applied(state, early)).toBe(true);
  });

  test('causality beats clocks: an event comes after what it saw, even with an earlier `at`', () => {
    const b = thread();
    const ack = b.add('referral.acknowledge', SHELTER_A, {}, { at: T0 - DAY });
    const state = derive(b);
    expect(applied(state, ack)).toBe(true);
    expect(state.timeline.map((t) => t.type)).toEqual(['referral.create', 'referral.acknowledge']);
  });

  test('the same event given twice counts once; a reused event id is a duplicate', () => {
    const b = thread();
    const note = step(b, 'note');
    const replayed = b.add('note', NGO, { text: 'other text' }, { eventId: note.event.eventId });
    const state = deriveThreadState([...b.events, note], at(T0));
    expect(state.timeline.filter((t) => t.id === note.id)).toHaveLength(1);
    expect(rejection(state, replayed)?.reason).toBe('duplicate');
  });

  test('an event of another thread or without prev is refused', () => {
    const b = thread();
    const foreign = b.add('note', NGO, { text: 'x' }, { threadId: b64uDigest('thread-2', 16) });
    const orphan = b.add('note', NGO, { text: 'x' }, { prev: [] });
    const state = derive(b);
    expect(rejection(state, foreign)?.reason).toBe('wrong-thread');
    expect(rejection(state, orphan)?.reason).toBe('invalid-transition');
  });

  test('heads are the events nobody references yet', () => {
    const b = thread(['ack']);
    expect(derive(b).heads).toEqual([b.events[1]!.id]);
  });
});

describe('response deadline', () => {
  test.each([
    ['emergency', 24 * HOUR],
    ['urgent', 72 * HOUR],
    ['normal', 14 * DAY],
  ] as const)('%s: overdue only once `now` passes the deadline without a response', (priority, window) => {
    const body = exampleReferral();
    body.header.priority = priority;
    const b = new ThreadBuilder();
    b.create(body);
    const atDeadline = derive(b, T0 + window);
    expect(atDeadline.responseDeadline).toBe(T0 + window);
    expect(atDeadline).toMatchObject({ overdue: false, status: 'sent' });
    expect(derive(b, T0 + window + 1)).toMatchObject({ overdue: true, status: 'expired' });
  });

  test('a response in time is never overdue', () => {
    const b = thread(['ack']);
    expect(derive(b, T0 + 30 * DAY)).toMatchObject({ overdue: false, respondedLate: false, status: 'acknowledged' });
  });

  test('a request for information counts as a response', () => {
    const b = thread(['requestInfo']);
    expect(derive(b, T0 + 30 * DAY).overdue).toBe(false);
  });

  test('a late response is applied and flagged late', () => {
    const b = thread();
    b.add('referral.acknowledge', SHELTER_A, {}, { at: T0 + 73 * HOUR });
    expect(derive(b, T0 + 80 * HOUR)).toMatchObject({ overdue: false, respondedLate: true, status: 'acknowledged' });
  });

  test('an expired referral can still be acknowledged or withdrawn', () => {
    const b = thread();
    const expired = derive(b, T0 + 4 * DAY);
    expect(expired.status).toBe('expired');
    expect(() => validateNextEvent(expired, b.make('referral.acknowledge', SHELTER_A, {}).event, RULES)).not.toThrow();
    expect(() => validateNextEvent(expired, b.make('referral.withdraw', NGO, { reasonCode: 'no-response' }).event, RULES)).not.toThrow();
  });

  test('a withdrawn referral is not overdue', () => {
    const b = thread(['withdraw']);
    expect(derive(b, T0 + 30 * DAY)).toMatchObject({ overdue: false, status: 'withdrawn' });
  });
});

describe('adding participants (consent gated)', () => {
  const add = (b: ThreadBuilder, by: EventAuthor, org: EventAuthor, reason?: string) =>
    b.add('participant.add', by, {
      orgId: org.orgId,
      orgType: org.orgType,
      purpose: 'return',
      ...(reason !== undefined ? { consentOverrideReason: reason } : {}),
    });

  test('an org the consent does not cover is refused with CONSENT_SCOPE', () => {
    const b = thread();
    const e = add(b, NGO, IOM_KZ);
    const state = derive(b);
    expect(rejection(state, e)).toMatchObject({ code: 'CONSENT_SCOPE', reason: 'consent-scope' });
    expect(state.participants.map((p) => p.orgId)).not.toContain('iom-kz');
  });

  test('a written override adds it and is recorded visibly', () => {
    const b = thread();
    const e = add(b, SHELTER_A, IOM_KZ, 'Origin office must receive her at the airport; survivor unreachable');
    const state = derive(b);
    expect(state.participants.find((p) => p.orgId === 'iom-kz')).toMatchObject({ role: 'coordinator', addedBy: e.id });
    expect(state.overrides).toEqual([expect.objectContaining({ id: e.id, via: 'participant.add', recipient: { orgId: 'iom-kz', orgType: 'iom' } })]);
    expect(state.timeline.at(-1)?.summary).toContain('consent override');
  });

  test('an org type the consent covers joins without an override, then acts as a participant', () => {
    const body = exampleReferral();
    body.consent.coveredOrgTypes = ['iom'];
    const b = new ThreadBuilder();
    b.create(body);
    add(b, NGO, IOM_KZ);
    const note = step(b, 'note', IOM_KZ);
    const accept = step(b, 'accept', IOM_KZ);
    const state = derive(b);
    expect(state.overrides).toEqual([]);
    expect(applied(state, note)).toBe(true);
    expect(rejection(state, accept)?.code).toBe('WRONG_PARTY');
  });

  test('consent that has expired by the event time refuses the new org', () => {
    const body = exampleReferral();
    body.consent.coveredOrgTypes = ['iom'];
    const b = new ThreadBuilder();
    b.create(body);
    const e = b.add('participant.add', NGO, { orgId: 'iom-kz', orgType: 'iom', purpose: 'return' }, { at: body.consent.expiresAt });
    expect(rejection(derive(b), e)?.code).toBe('CONSENT_SCOPE');
  });

  test('adding a participant twice is a duplicate; non-participants cannot add', () => {
    const b = thread();
    const twice = add(b, NGO, IOM);
    const byOutsider = add(b, POLICE, IOM_KZ, 'because');
    const state = derive(b);
    expect(rejection(state, twice)?.reason).toBe('duplicate');
    expect(rejection(state, byOutsider)?.code).toBe('WRONG_PARTY');
  });
});

describe('consent withdrawal and purge receipts', () => {
  const receipt = (b: ThreadBuilder, author: EventAuthor, withdrawalId: string) =>
    b.add('purge.receipt', author, { withdrawalId, itemsDeleted: 4 });

  test('every participant org stays pending until it confirms the purge', () => {
    const b = thread(['accept']);
    const withdrawal = step(b, 'consentWithdraw', SHELTER_A);
    let state = derive(b);
    expect(state.status).toBe('consent-withdrawn');
    expect(state.consentWithdrawal).toMatchObject({ withdrawalId: withdrawal.id, byOrgId: 'shelter-ist', complete: false });
    expect(state.consentWithdrawal?.pending).toEqual(['ngo-taraz', 'shelter-ist', 'iom-ist']);

    receipt(b, SHELTER_A, withdrawal.id);
    receipt(b, IOM, withdrawal.id);
    state = derive(b);
    expect(state.consentWithdrawal?.pending).toEqual(['ngo-taraz']);
    expect(state.consentWithdrawal?.confirmed.map((c) => c.orgId)).toEqual(['shelter-ist', 'iom-ist']);

    receipt(b, SHELTER_B, withdrawal.id);
    receipt(b, NGO, withdrawal.id);
    state = derive(b);
    expect(state.consentWithdrawal).toMatchObject({ pending: [], complete: true });
    expect(state.consentWithdrawal?.confirmed.find((c) => c.orgId === 'shelter-ist')).toMatchObject({
      deviceIds: ['shelter-ist:sh-dev-a', 'shelter-ist:sh-dev-b'],
      itemsDeleted: 8,
    });
    expect(state.rejected).toEqual([]);
  });

  test('bad receipts are refused and visible', () => {
    const b = thread();
    const early = receipt(b, SHELTER_A, b.events[0]!.id);
    const withdrawal = step(b, 'consentWithdraw', NGO);
    const first = receipt(b, IOM, withdrawal.id);
    const again = b.add('purge.receipt', IOM, { withdrawalId: withdrawal.id, itemsDeleted: 0 });
    const wrongId = receipt(b, SHELTER_A, first.id);
    const outsider = receipt(b, POLICE, withdrawal.id);
    const state = derive(b);
    expect(rejection(state, early)?.reason).toBe('invalid-transition');
    expect(rejection(state, again)?.reason).toBe('duplicate');
    expect(rejection(state, wrongId)?.reason).toBe('invalid-transition');
    expect(rejection(state, outsider)?.code).toBe('WRONG_PARTY');
    expect(state.consentWithdrawal?.pending).toEqual(['ngo-taraz', 'shelter-ist']);
  });

  test('after withdrawal nobody can add participants, and the case can still be closed', () => {
    const b = thread(['consentWithdraw']);
    const add = b.add('participant.add', NGO, { orgId: 'iom-kz', orgType: 'iom', purpose: 'return', consentOverrideReason: 'urgent' });
    const close = step(b, 'close');
    const state = derive(b);
    expect(rejection(state, add)?.reason).toBe('invalid-transition');
    expect(applied(state, close)).toBe(true);
    expect(state.consentWithdrawal).not.toBeNull();
  });

  test('consentExpired follows `now`', () => {
    const b = thread();
    const expiresAt = exampleReferral().consent.expiresAt;
    expect(derive(b, expiresAt - 1).consentExpired).toBe(false);
    expect(derive(b, expiresAt).consentExpired).toBe(true);
  });
});

describe('validateNextEvent', () => {
  function codeOf(fn: () => void): { code: string; reason: unknown } | null {
    try {
      fn();
      return null;
    } catch (err) {
      if (!isHandoverError(err)) throw err;
      return { code: err.code, reason: err.details?.reason };
    }
  }

  test('refuses before sending with the same codes the replay would record', () => {
    const b = thread(['ack']);
    const state = derive(b);
    expect(codeOf(() => validateNextEvent(state, b.make('referral.accept', NGO, {}).event, RULES))).toEqual({ code: 'WRONG_PARTY', reason: 'wrong-party' });
    expect(codeOf(() => validateNextEvent(state, b.make('intake.schedule', SHELTER_A, { scheduledFor: T0 }).event, RULES))).toEqual({
      code: 'INVALID_EVENT',
      reason: 'invalid-transition',
    });
    expect(
      codeOf(() => validateNextEvent(state, b.make('participant.add', NGO, { orgId: 'iom-kz', orgType: 'iom', purpose: 'return' }).event, RULES)),
    ).toEqual({ code: 'CONSENT_SCOPE', reason: 'consent-scope' });
    const replay = b.make('note', SHELTER_A, { text: 'x' }, { eventId: b.events[1]!.event.eventId });
    expect(codeOf(() => validateNextEvent(state, replay.event, RULES))).toEqual({ code: 'INVALID_EVENT', reason: 'duplicate' });
    expect(codeOf(() => validateNextEvent(state, b.make('referral.accept', SHELTER_B, {}).event, RULES))).toBeNull();
  });
});

describe('hostile participants (issue 11)', () => {
  /** A certified org outside the thread that learned its id (as the relay knows every id). */
  const ATTACKER: EventAuthor = { orgId: 'ngo-evil', orgType: 'ngo', deviceId: 'ngo-evil:evil-dev-1' };
  const rules = { ...RULES, certifiedOrgType: (orgId: string) => (orgId === 'ngo-evil' ? 'ngo' : RULES.certifiedOrgType(orgId)) } as const;
  const deriveWith = (events: ThreadEvent[]) => deriveThreadState(events, { now: T0, ...rules });

  /** The attacker's referral: itself as sender, the real shelter as receiving org. */
  function hijackBody() {
    const body = exampleReferral();
    body.identity.firstName = 'Someone';
    body.header.coordinators = [];
    return body;
  }

  test('finding 2: a create with at: 1 claiming an accepted thread is refused as thread-mismatch and changes nothing', () => {
    const b = thread(['ack', 'accept']);
    const before = deriveWith(b.events);
    const forged = b.add('referral.create', ATTACKER, hijackBody(), { at: 1, prev: [] });
    const after = deriveWith(b.events);
    expect(rejection(after, forged)).toMatchObject({ code: 'INVALID_EVENT', reason: 'thread-mismatch', author: ATTACKER });
    expect(after.referralId).toBe(before.referralId);
    expect(after.referral).toEqual(before.referral);
    expect(after.participants).toEqual(before.participants);
    expect(after.status).toBe('accepted');
    expect(after.timeline).toEqual(before.timeline);
  });

  test('finding 2: a create dated one minute before the real one never wins, whatever it names', () => {
    const b = thread();
    const real = b.events[0]!;
    const forged = b.add('referral.create', ATTACKER, hijackBody(), { at: T0 - 60_000, prev: [] });
    // The forged create replays first (earlier time, no prev): it still cannot start the thread.
    const state = deriveWith(b.events);
    expect(state.timeline.map((t) => t.id)).toEqual([real.id]);
    expect(state.rejected.map((r) => [r.id, r.reason])).toEqual([[forged.id, 'thread-mismatch']]);
    expect(state.participants.map((p) => p.orgId)).toEqual(['ngo-taraz', 'shelter-ist', 'iom-ist']);
  });

  test('finding 2: a second create never changes anything, not even a copy of the real one with another time', () => {
    const b = thread(['accept']);
    const real = b.events[0]!.event as EventOf<'referral.create'>;
    const copy = b.add('referral.create', NGO, real.body, { at: real.at + 1, prev: [], eventId: real.eventId });
    const state = deriveWith(b.events);
    expect(rejection(state, copy)?.reason).toBe('thread-mismatch');
    expect(state.status).toBe('accepted');
    expect(() => validateNextEvent(state, copy.event, rules)).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', details: expect.objectContaining({ reason: 'thread-mismatch' }) }));
  });

  test('finding 2: only the sender or receiving org may add participants (not a coordinator, not an outsider)', () => {
    const add = (b: ThreadBuilder, by: EventAuthor) =>
      b.add('participant.add', by, { orgId: 'iom-kz', orgType: 'iom', purpose: 'return', consentOverrideReason: 'Meets her at the airport' });
    for (const [who, author, ok] of [
      ['coordinator', IOM, false],
      ['outsider', POLICE, false],
      ['attacker', ATTACKER, false],
      ['sender', NGO_2, true],
      ['receiving org', SHELTER_B, true],
    ] as const) {
      const b = thread();
      const e = add(b, author);
      const state = deriveWith(b.events);
      if (ok) expect([who, applied(state, e)]).toEqual([who, true]);
      else expect([who, rejection(state, e)?.code]).toEqual([who, 'WRONG_PARTY']);
    }
  });

  test('finding 2: only the sender or receiving org may withdraw consent (not a coordinator, not an outsider)', () => {
    for (const [who, author, ok] of [
      ['coordinator', IOM, false],
      ['outsider', POLICE, false],
      ['attacker', ATTACKER, false],
      ['sender', NGO, true],
      ['receiving org', SHELTER_A, true],
    ] as const) {
      const b = thread(['accept']);
      const e = step(b, 'consentWithdraw', author);
      const state = deriveWith(b.events);
      if (ok) expect([who, state.status]).toEqual([who, 'consent-withdrawn']);
      else expect([who, rejection(state, e)?.code, state.status]).toEqual([who, 'WRONG_PARTY', 'accepted']);
    }
  });

  test('finding 2: a participant cannot burn another device’s event id with an earlier-dated copy', () => {
    const b = thread();
    const prev = b.heads();
    const accept = b.add('referral.accept', SHELTER_A, {}, { at: T0 + HOUR, prev });
    const squat = b.add('note', IOM, { text: 'first!' }, { at: T0 + HOUR - 1, prev, eventId: accept.event.eventId });
    const state = deriveWith(b.events);
    expect(applied(state, squat)).toBe(true);
    expect(applied(state, accept)).toBe(true);
    expect(state.status).toBe('accepted');
  });

  test('finding 5: a create naming an org with another type than its certificate is refused (org-type-mismatch)', () => {
    const body = exampleReferral();
    // IOM typed as an NGO: the consent withholds health needs from "iom" only.
    body.header.coordinators = [{ orgId: 'iom-ist', orgType: 'ngo' }];
    const b = new ThreadBuilder();
    const create = b.create(body);
    const state = deriveWith(b.events);
    expect(rejection(state, create)).toMatchObject({ code: 'UNTRUSTED_KEY', reason: 'org-type-mismatch', message: expect.stringContaining('iom-ist is certified as iom, not ngo') });
    expect(state.referral).toBeNull();
    expect(state.participants).toEqual([]);
  });

  test('finding 5: a create whose author or receiving org is mislabelled, or names an uncertified org, is refused', () => {
    const lyingAuthor = new ThreadBuilder();
    const byLiar = lyingAuthor.create(exampleReferral(), { author: { ...NGO, orgType: 'shelter' } });
    expect(rejection(deriveWith(lyingAuthor.events), byLiar)?.reason).toBe('org-type-mismatch');

    const body = exampleReferral();
    body.header.referredOrganisation = { orgId: 'shelter-ist', orgType: 'authority' };
    const mislabelled = new ThreadBuilder();
    expect(rejection(deriveWith(mislabelled.events.concat(mislabelled.create(body))), mislabelled.events[0]!)?.reason).toBe('org-type-mismatch');

    const unknown = exampleReferral();
    unknown.header.coordinators = [{ orgId: 'iom-nowhere', orgType: 'iom' }];
    const u = new ThreadBuilder();
    const create = u.create(unknown);
    expect(rejection(deriveWith(u.events), create)).toMatchObject({ code: 'UNTRUSTED_KEY', reason: 'uncertified-org' });
  });

  test('finding 5: a participant.add with a mislabelled org type is refused, so the consent is checked against the certified type', () => {
    const body = exampleReferral();
    body.consent.coveredOrgTypes = ['shelter'];
    const b = new ThreadBuilder();
    b.create(body);
    // iom-kz passed off as a shelter would be covered by the consent; as the IOM office it is, it is not.
    const mislabelled = b.add('participant.add', NGO, { orgId: 'iom-kz', orgType: 'shelter', purpose: 'return' });
    const honest = b.add('participant.add', NGO, { orgId: 'iom-kz', orgType: 'iom', purpose: 'return' });
    const state = deriveWith(b.events);
    expect(rejection(state, mislabelled)).toMatchObject({ code: 'UNTRUSTED_KEY', reason: 'org-type-mismatch' });
    expect(rejection(state, honest)).toMatchObject({ code: 'CONSENT_SCOPE' });
    expect(state.participants.map((p) => p.orgId)).not.toContain('iom-kz');
  });
});
