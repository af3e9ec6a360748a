/**
 * Referring with a consent past the expiry bound is refused before anything
 * is sent; referring a survivor whose consent was withdrawn on an earlier
 * thread (same case code) is warned about, from a keyed hash in the
 * tombstone that cannot be looked up by someone who only knows case codes.
 */
import { caseCodeTag } from '../../../../client/referral/cases/purge';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { DAY, Scenario, exampleReferral } from './harness';

describe('consent expiry bound at refer', () => {
  test('a consent running more than a year is refused (INVALID_EVENT) and nothing is sent; maxConsentDays moves the bound', async () => {
    const s = await Scenario.create();
    const long = exampleReferral();
    long.consent.expiresAt = long.consent.givenAt + 400 * DAY;
    await expect(s.ngo.cases.refer(long)).rejects.toMatchObject({ code: 'INVALID_EVENT', details: { reason: 'consent-too-long', maxDays: 365 } });
    expect(s.network.pending()).toBe(0);
    expect(await s.ngo.cases.pendingReferrals()).toEqual([]);
    await expect(s.ngo.cases.refer(long, { maxConsentDays: 450 })).resolves.toMatchObject({ resumed: false });
    await expect(s.ngo.cases.refer(exampleReferral(), { maxConsentDays: 30 })).rejects.toMatchObject({ details: { reason: 'consent-too-long', maxDays: 30 } });
  });
});

describe('consent withdrawn on an earlier thread', () => {
  test('a new referral with the same case code carries a warning (not a refusal); another case code does not', async () => {
    const s = await Scenario.create();
    const first = await s.ngo.cases.refer(exampleReferral());
    expect(first.earlierWithdrawals).toEqual([]);
    await s.settle();
    s.tick();
    await s.shelterA.cases.withdrawConsent(first.threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Amina' } });
    await s.settle();
    const withdrawnAt = s.clock;
    s.tick();

    const again = exampleReferral();
    again.identity.caseCode = 'trz-2026-0147'; // the same code, written in lower case
    const second = await s.ngo.cases.refer(again);
    expect(second.earlierWithdrawals).toEqual([{ threadId: first.threadId, withdrawnAt }]);
    expect(await s.ngo.cases.consentWithdrawnBefore('TRZ-2026-0147')).toEqual([{ threadId: first.threadId, withdrawnAt }]);
    // The receiving org purged too and can check the code it knows.
    expect(await s.shelterB.cases.consentWithdrawnBefore('TRZ-2026-0147')).toEqual([{ threadId: first.threadId, withdrawnAt }]);

    const other = exampleReferral();
    other.identity.caseCode = 'TRZ-2026-0148';
    expect((await s.ngo.cases.refer(other)).earlierWithdrawals).toEqual([]);
  });

  test('the tombstone keeps a keyed hash, not the code; the key is per device, so the hash cannot be computed from the code alone', async () => {
    const s = await Scenario.create();
    const { threadId } = await s.ngo.cases.refer(exampleReferral());
    await s.settle();
    await s.ngo.cases.withdrawConsent(threadId, { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Dana' } });
    await s.settle();
    const tombNgo = (await s.ngo.transport.getRecord(`referrals/tombstone/${threadId}`)) as { caseCodeTag?: string };
    const tombIom = (await s.iom.transport.getRecord(`referrals/tombstone/${threadId}`)) as { caseCodeTag?: string };
    expect(tombNgo.caseCodeTag).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tombIom.caseCodeTag).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tombNgo.caseCodeTag).not.toBe(tombIom.caseCodeTag);
    expect(JSON.stringify(tombNgo)).not.toContain('TRZ-2026-0147');
    // Someone who knows the code but not this device's key computes another hash.
    const crypto = await loadCrypto();
    const stranger = new Map<string, unknown>();
    const records = { getRecord: async (n: string) => stranger.get(n), putRecord: async (n: string, v: unknown) => void stranger.set(n, v) };
    expect(await caseCodeTag(records, crypto, 'TRZ-2026-0147')).not.toBe(tombNgo.caseCodeTag);
    expect(await caseCodeTag(s.ngo.transport, crypto, 'TRZ-2026-0147')).toBe(tombNgo.caseCodeTag);
  });
});
