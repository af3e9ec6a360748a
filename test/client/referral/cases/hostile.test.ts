/**
 * Hostile participants (issue 11, findings 2, 5 and the case-layer part of
 * 1): certified devices that craft properly formed, really sent, but
 * malicious events; and a relay that copies messages to another org.
 */
import { randomBytes } from 'node:crypto';
import { inboxLine, threadText } from '../../../../client/cli/cases/text';
import { threadIdOf } from '../../../../client/referral/cases/payload';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { MAX_CLOCK_SKEW_MS } from '../../../../shared/envelope';
import { EventEnvelope, type EventType } from '../../../../client/referral/domain/schemas';
import { HOUR, type Party, Scenario, exampleReferral } from './harness';

type Cast = Awaited<ReturnType<typeof Scenario.create>>;

const VICTIM_ORGS = ['ngo-taraz', 'shelter-ist', 'iom-ist'];

/** A schema-valid event authored (truthfully) by `party`'s device: what a modified client could sign and send. */
function craft(party: Party, type: EventType, threadId: string, body: unknown, opts: { at: number; prev?: string[] }): EventEnvelope {
  return EventEnvelope.parse({
    type,
    eventId: randomBytes(16).toString('base64url'),
    threadId,
    prev: opts.prev ?? [],
    author: { deviceId: party.transport.deviceId, orgId: party.transport.orgId, orgType: party.transport.trust.org(party.transport.orgId)?.orgType },
    at: opts.at,
    body,
  });
}

/** The attacker's own referral: itself as sender, the real shelter as receiving org. */
function hijackReferral() {
  const body = exampleReferral();
  body.identity.firstName = 'Planted';
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  return body;
}

async function acceptedThread() {
  const s = await Scenario.create();
  const attacker = s.add('ngo-evil', 'ngo', 'ngo-evil:evil-dev-1');
  const sent = await s.ngo.cases.refer(exampleReferral());
  await s.settle();
  s.tick();
  await s.shelterA.cases.accept(sent.threadId, { bedReserved: true });
  await s.settle();
  s.tick();
  return { s, attacker, threadId: sent.threadId, referralId: sent.referralId };
}

async function expectUnchanged(s: Cast, threadId: string, referralId: string, status: string) {
  for (const p of [s.ngo, s.shelterA, s.shelterB, s.iom]) {
    const t = await p.cases.thread(threadId);
    expect([p.transport.deviceId, t.referralId, t.status]).toEqual([p.transport.deviceId, referralId, status]);
    expect(t.participants.map((x) => [x.orgId, x.role])).toEqual([
      ['ngo-taraz', 'sender'],
      ['shelter-ist', 'receiving'],
      ['iom-ist', 'coordinator'],
    ]);
    expect(t.referral?.identity.firstName).not.toBe('Planted');
  }
}

describe('thread ids', () => {
  test('finding 2: a new thread id is derived from its referral.create and can be pasted into a command', async () => {
    const s = await Scenario.create();
    const crypto = await loadCrypto();
    for (let i = 0; i < 5; i++) {
      s.tick();
      const sent = await s.ngo.cases.refer(exampleReferral());
      const [create] = await s.ngo.cases.events(sent.threadId);
      expect(create?.event.type).toBe('referral.create');
      expect(threadIdOf(crypto, create!.event as never)).toBe(sent.threadId);
      expect(sent.threadId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
    }
  });
});

describe('finding 2: thread hijack by a certified device that knows the thread id', () => {
  test('finding 2: a create with at: 1 into an accepted thread changes nothing anywhere, whether its envelope says now or then', async () => {
    const { s, attacker, threadId, referralId } = await acceptedThread();
    const forged = craft(attacker, 'referral.create', threadId, hijackReferral(), { at: 1 });
    // Signed now: the event's time is not its envelope's.
    await attacker.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: forged });
    // Signed "then" as well (a hostile device signs whatever time it likes): the thread id still refuses it.
    await attacker.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: craft(attacker, 'referral.create', threadId, hijackReferral(), { at: 1 }), sentAt: 1 });
    await s.settle();

    await expectUnchanged(s, threadId, referralId, 'accepted');
    for (const p of [s.ngo, s.shelterA, s.iom]) {
      const t = await p.cases.thread(threadId);
      expect(t.dropped).toEqual([expect.objectContaining({ senderOrgId: 'ngo-evil', reason: 'time-mismatch', type: 'referral.create' })]);
      expect(t.rejected).toEqual([expect.objectContaining({ type: 'referral.create', reason: 'thread-mismatch', author: expect.objectContaining({ orgId: 'ngo-evil' }) })]);
    }
    // The next intake location goes to the real participants only.
    await s.shelterA.cases.scheduleIntake(threadId, { scheduledFor: s.clock + HOUR, location: 'Side door of the consulate' });
    await s.settle();
    expect(attacker.transport.dump()).not.toContain('Side door');
    expect(JSON.stringify(await s.ngo.cases.thread(threadId))).toContain('Side door');
  });

  test('finding 2: a create dated one minute before the real one (and signed then) never wins', async () => {
    const s = await Scenario.create();
    const attacker = s.add('ngo-evil', 'ngo', 'ngo-evil:evil-dev-1');
    const sent = await s.ngo.cases.refer(exampleReferral());
    const early = s.clock - 60_000;
    await attacker.transport.send({ threadId: sent.threadId, orgIds: VICTIM_ORGS, payload: craft(attacker, 'referral.create', sent.threadId, hijackReferral(), { at: early }), sentAt: early });
    await s.settle();
    await expectUnchanged(s, sent.threadId, sent.referralId, 'sent');
    expect((await s.shelterB.cases.thread(sent.threadId)).rejected).toEqual([expect.objectContaining({ reason: 'thread-mismatch' })]);
  });

  test('finding 2: a consent withdrawal by a coordinator or an outsider is refused and nothing is purged', async () => {
    const { s, attacker, threadId, referralId } = await acceptedThread();
    const body = { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Nobody' } };
    // The coordinator's own client refuses before sending.
    await expect(s.iom.cases.withdrawConsent(threadId, body as never)).rejects.toMatchObject({ code: 'WRONG_PARTY', details: { reason: 'wrong-party' } });
    expect(s.network.pending()).toBe(0);
    // A modified coordinator client and an outsider send it anyway.
    const heads = (await s.iom.cases.thread(threadId)).heads;
    await s.iom.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: craft(s.iom, 'consent.withdraw', threadId, body, { at: s.clock, prev: heads }) });
    await attacker.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: craft(attacker, 'consent.withdraw', threadId, body, { at: s.clock, prev: heads }) });
    await s.settle();

    await expectUnchanged(s, threadId, referralId, 'accepted');
    for (const p of [s.ngo, s.shelterA, s.shelterB, s.iom]) {
      const t = await p.cases.thread(threadId);
      expect(t.purged).toBeNull();
      expect(t.consentWithdrawal).toBeNull();
      expect(t.rejected.map((r) => [r.author.orgId, r.type, r.code]).sort()).toEqual([
        ['iom-ist', 'consent.withdraw', 'WRONG_PARTY'],
        ['ngo-evil', 'consent.withdraw', 'WRONG_PARTY'],
      ]);
      expect((await p.transport.threadMessages(threadId)).length).toBeGreaterThan(0);
    }
  });

  test('finding 2: a participant.add by a coordinator is refused; the org it names never becomes a participant', async () => {
    const { s, attacker, threadId, referralId } = await acceptedThread();
    await expect(s.iom.cases.addParticipant(threadId, { orgId: 'ngo-evil', purpose: 'return', overrideReason: 'Trust me' })).rejects.toMatchObject({
      code: 'WRONG_PARTY',
    });
    const heads = (await s.iom.cases.thread(threadId)).heads;
    const add = craft(s.iom, 'participant.add', threadId, { orgId: 'ngo-evil', orgType: 'ngo', purpose: 'return', consentOverrideReason: 'Trust me' }, { at: s.clock, prev: heads });
    await s.iom.transport.send({ threadId, orgIds: [...VICTIM_ORGS, 'ngo-evil'], payload: add });
    await s.settle();
    await expectUnchanged(s, threadId, referralId, 'accepted');
    expect((await s.ngo.cases.thread(threadId)).rejected).toEqual([
      expect.objectContaining({ type: 'participant.add', code: 'WRONG_PARTY', message: expect.stringContaining('only the sender or receiving organisation') }),
    ]);
    // Later events do not reach the org the coordinator tried to add.
    await s.shelterA.cases.scheduleIntake(threadId, { scheduledFor: s.clock + HOUR, location: 'Back gate' });
    await s.settle();
    expect(attacker.transport.dump()).not.toContain('Back gate');
  });

  test('finding 2: an event whose time is far from its signed send time is dropped, listed with its reason', async () => {
    const { s, threadId } = await acceptedThread();
    const heads = (await s.shelterB.cases.thread(threadId)).heads;
    const backdated = craft(s.shelterB, 'intake.schedule', threadId, { scheduledFor: s.clock + HOUR, location: 'Somewhere else' }, { at: s.clock - MAX_CLOCK_SKEW_MS - 1, prev: heads });
    const future = craft(s.shelterB, 'note', threadId, { text: 'from the future' }, { at: s.clock + MAX_CLOCK_SKEW_MS + 1, prev: heads });
    const justInside = craft(s.shelterB, 'note', threadId, { text: 'a slow clock' }, { at: s.clock - MAX_CLOCK_SKEW_MS, prev: heads });
    for (const payload of [backdated, future, justInside]) await s.shelterB.transport.send({ threadId, orgIds: VICTIM_ORGS, payload });
    await s.settle();
    for (const p of [s.ngo, s.shelterA, s.iom]) {
      const t = await p.cases.thread(threadId);
      expect(t.dropped.map((d) => [d.type, d.reason]).sort()).toEqual([
        ['intake.schedule', 'time-mismatch'],
        ['note', 'time-mismatch'],
      ]);
      expect(t.intakeSchedule).toBeNull();
      expect(t.timeline.at(-1)?.summary).toBe('shelter-ist: note');
    }
  });
});

describe('finding 5: consent by certified org type, never the typed one', () => {
  function iomTypedAsNgo() {
    const referral = exampleReferral();
    // The consent withholds health needs from org type "iom"; the form calls IOM an NGO.
    referral.header.coordinators = [{ orgId: 'iom-ist', orgType: 'ngo' }];
    return referral;
  }

  test('finding 5: IOM mislabelled "ngo" in the form is refused at refer time and nothing is sent', async () => {
    const s = await Scenario.create();
    await expect(s.ngo.cases.refer(iomTypedAsNgo())).rejects.toMatchObject({
      code: 'UNTRUSTED_KEY',
      message: expect.stringMatching(/iom-ist.*ngo.*iom/),
      details: { orgId: 'iom-ist', typed: 'ngo', certified: 'iom' },
    });
    const unknown = exampleReferral();
    unknown.header.coordinators = [{ orgId: 'iom-nowhere', orgType: 'iom' }];
    unknown.consent.coveredOrgIds.push('iom-nowhere');
    await expect(s.ngo.cases.refer(unknown)).rejects.toMatchObject({ code: 'UNTRUSTED_KEY', details: { orgId: 'iom-nowhere', certified: null } });
    expect(s.network.pending()).toBe(0);
    expect(s.iom.transport.dump()).not.toContain('Untreated cut');
  });

  test('finding 5: a mislabelled create sent anyway is refused on every receiving device, and IOM never sees the health needs', async () => {
    const s = await Scenario.create();
    const referral = iomTypedAsNgo();
    // A modified NGO client: the whole referral, health needs included, in the event every participant gets.
    const create = craft(s.ngo, 'referral.create', 'AAAAAAAAAAAAAAAAAAAAAA', referral, { at: s.clock });
    const threadId = threadIdOf(await loadCrypto(), create as never);
    await s.ngo.transport.send({ threadId, orgIds: ['shelter-ist', 'iom-ist'], payload: { ...create, threadId } });
    await s.settle();
    for (const p of [s.shelterA, s.shelterB, s.iom]) {
      const t = await p.cases.thread(threadId);
      expect(t.referral).toBeNull();
      expect(t.rejected).toEqual([
        expect.objectContaining({ type: 'referral.create', code: 'UNTRUSTED_KEY', reason: 'org-type-mismatch', message: expect.stringContaining('iom-ist is certified as iom, not ngo') }),
      ]);
    }
    expect(JSON.stringify(await s.iom.cases.thread(threadId))).not.toContain('Untreated cut');
  });

  test('finding 5: a correctly typed create that still carries withheld groups is shown to IOM without them', async () => {
    const s = await Scenario.create();
    const create = craft(s.ngo, 'referral.create', 'AAAAAAAAAAAAAAAAAAAAAA', exampleReferral(), { at: s.clock });
    const threadId = threadIdOf(await loadCrypto(), create as never);
    await s.ngo.transport.send({ threadId, orgIds: ['shelter-ist', 'iom-ist'], payload: { ...create, threadId } });
    await s.settle();
    const atIom = await s.iom.cases.thread(threadId);
    expect(atIom.status).toBe('sent');
    expect(atIom.referral?.healthNeeds).toBeUndefined();
    expect((await s.shelterA.cases.thread(threadId)).referral?.healthNeeds).toEqual(exampleReferral().healthNeeds);
  });

  test('finding 5: addParticipant refuses a typed org type that differs from the certificate, or an unknown org', async () => {
    const s = await Scenario.create();
    s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await expect(s.shelterA.cases.addParticipant(threadId, { orgId: 'police-ist', orgType: 'ngo', purpose: 'legal', overrideReason: 'x' })).rejects.toMatchObject({
      code: 'UNTRUSTED_KEY',
      details: { orgId: 'police-ist', typed: 'ngo', certified: 'authority' },
    });
    await expect(s.shelterA.cases.addParticipant(threadId, { orgId: 'police-nowhere', purpose: 'legal', overrideReason: 'x' })).rejects.toMatchObject({
      code: 'UNTRUSTED_KEY',
    });
    expect(s.network.pending()).toBe(0);
  });

  test('finding 5: a participant.add with a mislabelled org type sent anyway is refused on every device', async () => {
    const s = await Scenario.create();
    const police = s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    const heads = (await s.shelterA.cases.thread(threadId)).heads;
    // The police passed off as a shelter: withholding rules go by org type.
    const add = craft(s.shelterA, 'participant.add', threadId, { orgId: 'police-ist', orgType: 'shelter', purpose: 'services', consentOverrideReason: 'x' }, { at: s.clock, prev: heads });
    await s.shelterA.transport.send({ threadId, orgIds: [...VICTIM_ORGS, 'police-ist'], payload: add });
    await s.settle();
    for (const p of [s.ngo, s.shelterB, s.iom]) {
      const t = await p.cases.thread(threadId);
      expect(t.participants.map((x) => x.orgId)).not.toContain('police-ist');
      expect(t.rejected).toEqual([expect.objectContaining({ type: 'participant.add', reason: 'org-type-mismatch' })]);
    }
    expect((await police.cases.thread(threadId)).participants).toEqual([]);
  });
});

describe('finding 1 (case layer): unexpected recipients', () => {
  test('finding 1: a message also encrypted to another org is a security warning on every device, the sender included', async () => {
    const s = await Scenario.create();
    const attacker = s.add('ngo-evil', 'ngo', 'ngo-evil:evil-dev-1');
    // The relay substitutes bundles: everything also goes to the attacker org.
    const stop = s.network.leakTo(['ngo-evil']);
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    stop();
    // The create, and (not at IOM) the supplement with the groups only the shelter may see.
    for (const [p, count] of [[s.ngo, 2], [s.shelterA, 2], [s.shelterB, 2], [s.iom, 1]] as const) {
      const t = await p.cases.thread(threadId);
      expect(t.securityWarnings).toHaveLength(count);
      for (const w of t.securityWarnings) {
        expect(w).toMatchObject({ kind: 'unexpected-recipient', orgIds: ['ngo-evil'], deviceIds: ['ngo-evil:evil-dev-1'], senderOrgId: 'ngo-taraz' });
      }
      expect(new Set(t.securityWarnings.map((w) => w.direction))).toEqual(new Set([p === s.ngo ? 'out' : 'in']));
      const [summary] = await p.cases.listThreads();
      expect(summary).toMatchObject({ threadId, securityWarnings: count });
    }
    // What came later, through an honest relay, raises nothing new.
    s.tick();
    await s.shelterA.cases.acknowledge(threadId);
    await s.settle();
    expect((await s.shelterB.cases.thread(threadId)).securityWarnings).toHaveLength(2);
    expect(attacker.transport.dump()).toContain('Untreated cut');
  });

  test('finding 1: a supplement copied to another participant org is flagged; a participant.add reaching the added org is not', async () => {
    const s = await Scenario.create();
    s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    // Only the supplement (health needs, for the shelter only) leaks, to IOM, a participant it was withheld from.
    const stop = s.network.leakTo(['iom-ist'], (m) => (m.payload as { kind?: string }).kind === 'referral.supplement');
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    stop();
    const atShelter = await s.shelterA.cases.thread(threadId);
    expect(atShelter.securityWarnings).toEqual([expect.objectContaining({ kind: 'unexpected-recipient', orgIds: ['iom-ist'], deviceIds: ['iom-ist:iom-dev-1'] })]);
    // IOM's own view still hides what the consent withholds from it.
    expect((await s.iom.cases.thread(threadId)).referral?.healthNeeds).toBeUndefined();

    s.tick();
    await s.shelterA.cases.addParticipant(threadId, { orgId: 'police-ist', purpose: 'legal', overrideReason: 'Trafficker seen outside the shelter' });
    await s.settle();
    expect((await s.ngo.cases.thread(threadId)).securityWarnings).toHaveLength(1);
  });

  test('finding 1: a message that reached an org before it was added to the thread is flagged, later ones are not', async () => {
    const s = await Scenario.create();
    s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    // The shelter's note is copied to the police before anyone added it.
    const stop = s.network.leakTo(['police-ist']);
    await s.shelterA.cases.note(threadId, 'Bed 4 is hers');
    await s.settle();
    stop();
    s.tick();
    await s.shelterA.cases.addParticipant(threadId, { orgId: 'police-ist', purpose: 'legal', overrideReason: 'Trafficker seen outside the shelter' });
    await s.settle();
    s.tick();
    await s.ngo.cases.note(threadId, 'Thanks');
    await s.settle();
    const t = await s.iom.cases.thread(threadId);
    expect(t.participants.map((p) => p.orgId)).toContain('police-ist');
    expect(t.securityWarnings).toEqual([expect.objectContaining({ senderOrgId: 'shelter-ist', orgIds: ['police-ist'], type: 'note' })]);
  });
});

describe('handover show and inbox', () => {
  test('finding 2: show marks refused events, dropped messages and security warnings with their reasons; inbox counts them', async () => {
    const { s, attacker, threadId } = await acceptedThread();
    await attacker.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: craft(attacker, 'referral.create', threadId, hijackReferral(), { at: 1 }) });
    await attacker.transport.send({ threadId, orgIds: VICTIM_ORGS, payload: craft(attacker, 'referral.create', threadId, hijackReferral(), { at: 1 }), sentAt: 1 });
    const stop = s.network.leakTo(['ngo-evil']);
    await s.ngo.cases.note(threadId, 'Family informed');
    stop();
    await s.settle();

    const t = await s.shelterB.cases.thread(threadId);
    const text = threadText(t);
    expect(text).toMatch(/!! SECURITY WARNING: 1 message\(s\) of this case were also encrypted to organisations outside the thread/);
    expect(text).toContain('from ngo-taraz:ngo-dev-1 (note): also to ngo-evil (ngo-evil:evil-dev-1)');
    expect(text).toMatch(/REFUSED events[^\n]*\n[^\n]*ngo-evil:evil-dev-1\s+referral\.create: thread-mismatch \(INVALID_EVENT\)/);
    expect(text).toMatch(/DROPPED messages[^\n]*\n\s+from ngo-evil:evil-dev-1 \(ngo-evil\) referral\.create: time-mismatch, the event's time is more than 5 minutes/);
    // The --json output is the thread itself: every item with its reason.
    const json = JSON.parse(JSON.stringify(t)) as typeof t;
    expect(json.rejected).toEqual([expect.objectContaining({ type: 'referral.create', reason: 'thread-mismatch', code: 'INVALID_EVENT' })]);
    expect(json.dropped).toEqual([expect.objectContaining({ reason: 'time-mismatch' })]);
    expect(json.securityWarnings).toEqual([expect.objectContaining({ kind: 'unexpected-recipient', orgIds: ['ngo-evil'], type: 'note' })]);

    const [summary] = await s.shelterB.cases.listThreads();
    expect(summary).toMatchObject({ threadId, rejected: 1, dropped: 1, securityWarnings: 1 });
    expect(inboxLine(summary!)).toContain('(1 SECURITY WARNING(S), 1 refused, 1 dropped: see handover show)');
  });
});
