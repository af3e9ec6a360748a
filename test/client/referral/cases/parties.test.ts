/** Who may do what: wrong-party actions refused locally, forged authors dropped, concurrent accepts resolved the same everywhere. */
import { EventEnvelope } from '../../../../client/referral/domain/schemas';
import { Scenario, exampleReferral } from './harness';

type Cast = Awaited<ReturnType<typeof Scenario.create>>;
type Act = (s: Cast, threadId: string) => Promise<unknown>;

async function referred() {
  const s = await Scenario.create();
  const { threadId } = await s.ngo.cases.refer(exampleReferral());
  await s.settle();
  s.tick();
  return { s, threadId };
}

describe('wrong-party actions are refused before anything is sent', () => {
  const cases: Array<[string, Act]> = [
    ['IOM accepts', (s, id) => s.iom.cases.accept(id)],
    ['NGO acknowledges its own referral', (s, id) => s.ngo.cases.acknowledge(id)],
    ['shelter withdraws the referral', (s, id) => s.shelterA.cases.withdraw(id, { reasonCode: 'referred-elsewhere' })],
    ['shelter records a return step', (s, id) => s.shelterA.cases.returnStep(id, { step: 'return-requested', status: 'done' })],
    ['IOM closes the case', (s, id) => s.iom.cases.close(id, 'not ours to close')],
  ];
  test.each(cases)('%s -> WRONG_PARTY', async (_name, action) => {
    const { s, threadId } = await referred();
    await expect(action(s, threadId)).rejects.toMatchObject({ code: 'WRONG_PARTY', details: { reason: 'wrong-party' } });
    expect(s.network.pending()).toBe(0);
    expect((await s.ngo.cases.thread(threadId)).timeline).toHaveLength(1);
  });

  test('an org outside the thread cannot act on it', async () => {
    const { s, threadId } = await referred();
    const police = s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    // It holds nothing of the thread, so it cannot even build on it.
    await expect(police.cases.note(threadId, 'hello')).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'no-referral' } });
    expect(s.network.pending()).toBe(0);
  });

  test('out-of-order lifecycle steps are refused as INVALID_EVENT', async () => {
    const { s, threadId } = await referred();
    await expect(s.shelterA.cases.arrived(threadId)).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'invalid-transition' } });
    await s.shelterA.cases.acknowledge(threadId);
    await expect(s.shelterA.cases.acknowledge(threadId)).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'duplicate' } });
  });
});

describe('a forged author is dropped', () => {
  test('IOM sending an accept that claims to come from the shelter changes nothing and is listed as dropped', async () => {
    const { s, threadId } = await referred();
    const state = await s.iom.cases.thread(threadId);
    const forged = EventEnvelope.parse({
      type: 'referral.accept',
      eventId: 'Zm9yZ2VkLWV2ZW50LWlkMQ',
      threadId,
      prev: state.heads,
      author: { deviceId: 'shelter-ist:sh-dev-a', orgId: 'shelter-ist', orgType: 'shelter' },
      at: s.clock,
      body: { bedReserved: true },
    });
    // Straight through the transport, past the service's own checks: the envelope says who really sent it.
    await s.iom.transport.send({ threadId, orgIds: ['ngo-taraz', 'shelter-ist'], payload: forged });
    await s.settle();
    for (const p of s.parties) {
      const t = await p.cases.thread(threadId);
      expect(t.status).toBe('sent');
      expect(t.decision).toBeNull();
      expect(t.dropped).toEqual([
        expect.objectContaining({ senderDeviceId: 'iom-ist:iom-dev-1', senderOrgId: 'iom-ist', reason: 'forged-author', type: 'referral.accept' }),
      ]);
    }
    // The real shelter can still accept.
    await s.shelterA.cases.accept(threadId);
    await s.settle();
    expect((await s.ngo.cases.thread(threadId)).status).toBe('accepted');
  });

  test('a device claiming another org type than its certificate is dropped', async () => {
    const { s, threadId } = await referred();
    const state = await s.iom.cases.thread(threadId);
    const lying = EventEnvelope.parse({
      type: 'note',
      eventId: 'Zm9yZ2VkLWV2ZW50LWlkMg',
      threadId,
      prev: state.heads,
      author: { deviceId: 'iom-ist:iom-dev-1', orgId: 'iom-ist', orgType: 'shelter' },
      at: s.clock,
      body: { text: 'pretending to be a shelter' },
    });
    await s.iom.transport.send({ threadId, orgIds: ['ngo-taraz', 'shelter-ist'], payload: lying });
    await s.settle();
    expect((await s.ngo.cases.thread(threadId)).dropped).toEqual([expect.objectContaining({ reason: 'forged-author', type: 'note' })]);
  });

  test('a supplement from anyone but the referral author is ignored', async () => {
    const { s, threadId } = await referred();
    const { referralId } = await s.shelterA.cases.thread(threadId);
    await s.iom.transport.send({
      threadId,
      orgIds: ['shelter-ist'],
      payload: { kind: 'referral.supplement', threadId, eventHash: referralId, data: { healthNeeds: { otherNeeds: 'planted by IOM' } } },
    });
    await s.iom.transport.send({ threadId, orgIds: ['shelter-ist'], payload: { hello: 'not a case payload' } });
    await s.settle();
    const t = await s.shelterA.cases.thread(threadId);
    expect(t.referral?.healthNeeds).toEqual(exampleReferral().healthNeeds);
    expect(t.dropped.map((d) => d.reason).sort()).toEqual(['forged-supplement', 'malformed']);
  });
});

describe('two shelter devices accept at once', () => {
  test('one accept is applied and the other rejected, identically on every device', async () => {
    const { s, threadId } = await referred();
    // Neither device has seen the other's accept: both are valid locally.
    const a = await s.shelterA.cases.accept(threadId, { note: 'bed 4' });
    s.tick();
    const b = await s.shelterB.cases.accept(threadId, { note: 'bed 7' });
    expect(s.network.pending()).toBeGreaterThan(0);
    await s.settle();

    const views = await Promise.all(s.parties.map((p) => p.cases.thread(threadId)));
    for (const t of views) {
      expect(t.status).toBe('accepted');
      // A was signed first and neither saw the other: A wins everywhere.
      expect(t.decision?.id).toBe(a.id);
      expect(t.rejected).toEqual([expect.objectContaining({ id: b.id, type: 'referral.accept', code: 'INVALID_EVENT', reason: 'duplicate' })]);
    }
    // The next event names both accepts as seen, so the fork is closed.
    s.tick();
    const next = await s.shelterB.cases.scheduleIntake(threadId, { scheduledFor: s.clock + 3_600_000 });
    expect([...next.event.prev].sort()).toEqual([a.id, b.id].sort());
  });
});
