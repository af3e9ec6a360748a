/** Consent gates sending; a withdrawal makes every participant purge and confirm. */
import { CaseService } from '../../../../client/referral/cases/case-service';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { isHandoverError } from '../../../../shared/errors';
import { HOUR, Scenario, exampleReferral } from './harness';

function onlyShelterCovered() {
  const referral = exampleReferral();
  referral.consent.coveredOrgIds = ['shelter-ist'];
  return referral;
}

describe('consent scope', () => {
  test('a referral to an org the consent does not cover is refused with CONSENT_SCOPE and nothing is sent', async () => {
    const s = await Scenario.create();
    const err = await s.ngo.cases.refer(onlyShelterCovered()).catch((e: unknown) => e);
    expect(isHandoverError(err, 'CONSENT_SCOPE')).toBe(true);
    expect((err as { details?: unknown }).details).toMatchObject({ recipientOrgId: 'iom-ist', violations: ['org-not-covered'] });
    expect(s.network.pending()).toBe(0);
    expect(await s.ngo.transport.threadIds()).toEqual([]);
  });

  test('an expired consent and an uncovered purpose are refused too', async () => {
    const s = await Scenario.create();
    const expired = exampleReferral();
    s.clock = expired.consent.expiresAt;
    await expect(s.ngo.cases.refer(expired)).rejects.toMatchObject({ code: 'CONSENT_SCOPE', details: { violations: ['expired'] } });
    s.clock = expired.consent.givenAt + 1;
    const legal = exampleReferral();
    legal.header.purpose = 'legal';
    await expect(s.ngo.cases.refer(legal)).rejects.toMatchObject({ code: 'CONSENT_SCOPE', details: { violations: ['purpose-not-covered'] } });
  });

  test('a blank override reason does not count', async () => {
    const s = await Scenario.create();
    await expect(s.ngo.cases.refer(onlyShelterCovered(), { overrideReason: '   ' })).rejects.toMatchObject({ code: 'CONSENT_SCOPE' });
    expect(s.network.pending()).toBe(0);
  });

  test('a vital-interest override sends and records a visible consent.override with its reason', async () => {
    const s = await Scenario.create();
    const reason = 'Survivor unreachable; IOM must arrange emergency travel documents';
    const sent = await s.ngo.cases.refer(onlyShelterCovered(), { overrideReason: reason });
    expect(sent.recipients.find((r) => r.orgId === 'iom-ist')?.override).toEqual({ reason, violations: ['org-not-covered'] });
    expect(sent.recipients.find((r) => r.orgId === 'shelter-ist')?.override).toBeNull();
    expect(sent.overrides).toHaveLength(1);
    await s.settle();
    for (const p of s.parties) {
      const t = await p.cases.thread(sent.threadId);
      expect(t.overrides).toEqual([
        expect.objectContaining({
          byOrgId: 'ngo-taraz',
          recipient: { orgId: 'iom-ist', orgType: 'iom' },
          purpose: 'services',
          reason,
          via: 'consent.override',
        }),
      ]);
      expect(t.timeline.map((e) => e.type)).toEqual(['referral.create', 'consent.override']);
    }
    // The override lets IOM in, not past what the survivor withheld from it.
    expect((await s.iom.cases.thread(sent.threadId)).referral?.healthNeeds).toBeUndefined();
  });

  test('adding an org outside the consent is refused, and allowed with an override reason', async () => {
    const s = await Scenario.create();
    const police = s.add('police-ist', 'authority', 'police-ist:pol-dev-1');
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await expect(s.shelterA.cases.addParticipant(threadId, { orgId: 'police-ist', purpose: 'legal' })).rejects.toMatchObject({
      code: 'CONSENT_SCOPE',
    });
    expect(s.network.pending()).toBe(0);

    await s.shelterA.cases.addParticipant(threadId, { orgId: 'police-ist', purpose: 'legal', overrideReason: 'Trafficker seen outside the shelter' });
    await s.settle();
    const t = await s.ngo.cases.thread(threadId);
    expect(t.participants.map((p) => [p.orgId, p.role])).toContainEqual(['police-ist', 'coordinator']);
    expect(t.overrides).toEqual([expect.objectContaining({ via: 'participant.add', reason: 'Trafficker seen outside the shelter' })]);
    // The new org got the participant.add event (and only what is sent from now on).
    expect(await police.transport.threadIds()).toEqual([threadId]);
    expect(police.transport.dump()).not.toContain('Aigerim');
  });
});

describe('consent withdrawal', () => {
  async function journeyThenWithdraw() {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    s.tick();
    await s.shelterA.cases.acknowledge(threadId);
    s.tick();
    await s.shelterA.cases.accept(threadId);
    await s.ngo.cases.note(threadId, 'Survivor called the caseworker: she is scared of the transfer');
    await s.settle();
    s.tick();
    const withdrawal = await s.shelterB.cases.withdrawConsent(threadId, {
      givenBy: 'survivor',
      method: 'verbal',
      recordedBy: { name: 'Elif Demir', title: 'Intake officer' },
      note: 'She asked in person, with the interpreter present',
    });
    return { s, threadId, withdrawal };
  }

  test('every device purges its copy and every receipt reaches every device', async () => {
    const { s, threadId, withdrawal } = await journeyThenWithdraw();
    // The withdrawing device purged at once, before anything was delivered.
    expect(await s.shelterB.transport.threadMessages(threadId)).toEqual([]);
    await s.settle();

    for (const p of s.parties) {
      expect(await p.transport.threadMessages(threadId)).toEqual([]);
      const dump = p.transport.dump();
      for (const personal of ['Aigerim', 'TRZ-2026-0147', 'Untreated cut', 'scared of the transfer', 'interpreter present']) {
        expect(dump).not.toContain(personal);
      }
      const t = await p.cases.thread(threadId);
      expect(t.status).toBe('consent-withdrawn');
      expect(t.referral).toBeNull();
      expect(t.purged).toMatchObject({ receiptPending: false });
      expect(t.consentWithdrawal).toMatchObject({ withdrawalId: withdrawal.id, byOrgId: 'shelter-ist', pending: [], complete: true });
      const confirmed = Object.fromEntries((t.consentWithdrawal?.confirmed ?? []).map((c) => [c.orgId, [...c.deviceIds].sort()]));
      expect(confirmed).toEqual({ 'ngo-taraz': ['ngo-taraz:ngo-dev-1'], 'shelter-ist': ['shelter-ist:sh-dev-a', 'shelter-ist:sh-dev-b'], 'iom-ist': ['iom-ist:iom-dev-1'] });
      expect(t.timeline[0]).toMatchObject({ id: withdrawal.id, type: 'consent.withdraw' });
      expect(t.timeline.slice(1).map((e) => e.type)).toEqual(['purge.receipt', 'purge.receipt', 'purge.receipt', 'purge.receipt']);
    }
    // The receipts report what each device deleted.
    const atNgo = await s.ngo.cases.thread(threadId);
    expect(atNgo.consentWithdrawal?.confirmed.every((c) => c.itemsDeleted > 0)).toBe(true);
    expect(await s.iom.cases.listThreads()).toEqual([expect.objectContaining({ threadId, status: 'consent-withdrawn', purged: true, caseCode: null })]);
  });

  test('nothing more can be done on a purged thread, and late messages are deleted on arrival', async () => {
    const { s, threadId } = await journeyThenWithdraw();
    // IOM has not heard of the withdrawal yet and sends a note with personal data.
    await s.iom.cases.note(threadId, 'Aigerim has a travel document appointment on Monday');
    await s.settle();
    for (const p of s.parties) {
      expect(await p.transport.threadMessages(threadId)).toEqual([]);
      expect(p.transport.dump()).not.toContain('travel document appointment');
    }
    expect((await s.ngo.cases.thread(threadId)).purged?.discardedLater).toBeGreaterThanOrEqual(1);
    await expect(s.shelterA.cases.note(threadId, 'after')).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'purged' } });
    expect(await s.shelterA.cases.exportCsv()).not.toContain(threadId);
  });

  test('a device that was offline catches up on start(): it purges and sends its receipt', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    // The IOM device's case layer stops listening (the CLI opens the device, syncs, then builds the service).
    s.iom.cases.dispose();
    s.tick();
    await s.ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'written', recordedBy: { name: 'Dana Seitkali' } });
    await s.settle();
    expect((await s.iom.transport.threadMessages(threadId)).length).toBeGreaterThan(0);
    expect((await s.ngo.cases.thread(threadId)).consentWithdrawal?.pending).toEqual(['iom-ist']);

    const restarted = new CaseService({ transport: s.iom.transport, crypto: await loadCrypto(), now: () => s.clock });
    s.parties.push({ transport: s.iom.transport, cases: restarted });
    await restarted.start();
    await s.settle();
    expect(await s.iom.transport.threadMessages(threadId)).toEqual([]);
    expect((await s.ngo.cases.thread(threadId)).consentWithdrawal).toMatchObject({ pending: [], complete: true });
    expect((await restarted.thread(threadId)).consentWithdrawal?.complete).toBe(true);
  });

  test('a receipt the transport could not take is kept pending and sent by start()', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    // The NGO's withdrawal goes out, then the relay becomes unreachable before its own receipt.
    const send = s.ngo.transport.send.bind(s.ngo.transport);
    let failReceipts = true;
    s.ngo.transport.send = async (input) => {
      if (failReceipts && (input.payload as { type?: string }).type === 'purge.receipt') throw new Error('relay unreachable');
      return send(input);
    };
    await s.ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana Seitkali' } });
    expect(s.ngo.cases.failures).toEqual([expect.objectContaining({ threadId, message: 'relay unreachable' })]);
    expect((await s.ngo.cases.thread(threadId)).purged?.receiptPending).toBe(true);
    await s.settle();
    expect((await s.iom.cases.thread(threadId)).consentWithdrawal?.pending).toEqual(['ngo-taraz']);

    // Retried an hour later: the receipt carries the time it is really sent, or receivers would drop it (time-mismatch).
    s.tick(HOUR);
    failReceipts = false;
    await s.ngo.cases.start();
    await s.settle();
    for (const p of s.parties) expect((await p.cases.thread(threadId)).consentWithdrawal?.complete).toBe(true);
  });
});
