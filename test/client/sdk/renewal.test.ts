/**
 * Renewing certificates for the same key (AdminKeys, no relay), on an
 * injected clock: a device renewal signed by its org admin and an org
 * renewal signed by the coordinator need no phone call while the
 * certificate they renew is valid, and a fingerprint again once it has
 * expired; forged, mismatched, revoked and future-dated requests are
 * refused and nothing is signed.
 */
import { createEnrolmentRequest, trustAnchor, verifyDeviceChain, verifyOrgCertificate } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { type Crypto, PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { fromB64u } from '../../../shared/encoding';
import { type HandoverError, isHandoverError } from '../../../shared/errors';
import { fingerprint } from '../../../shared/fingerprint';
import type { EnrolmentRequest } from '../../../shared/schemas';
import { AdminKeys } from '../../../client/sdk/admin';
import { deviceRenewalRequest } from '../../../client/sdk/renewal';
import { MemoryStorage } from '../../../client/sdk/storage';
import { Vault } from '../../../client/sdk/vault';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const PASS = 'correct horse battery staple';

let crypto: Crypto;
let clock = T0;
beforeAll(async () => {
  crypto = await loadCrypto();
});
beforeEach(() => {
  clock = T0;
});

async function admin(): Promise<AdminKeys> {
  return new AdminKeys(crypto, await Vault.create(crypto, new MemoryStorage(), PASS, PWHASH_TEST_ONLY), () => clock);
}

async function refusal(work: Promise<unknown>): Promise<HandoverError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHandoverError(err)) throw new Error(`expected a HandoverError, got ${String(err)}`);
  return err;
}

/** A root, an org certified by it (365 days) and a device the org certified (180 days, role admin). */
async function network() {
  const root = await admin();
  const rootInfo = await root.createRoot();
  const orgAdmin = await admin();
  const created = await orgAdmin.createOrgKey('shelter-ist');
  const orgCert = await root.issueOrg({
    orgId: 'shelter-ist',
    name: 'Umut Shelter',
    orgType: 'shelter',
    country: 'TR',
    region: 'Istanbul',
    services: ['safe-accommodation'],
    publicKey: created.publicKey,
    days: 365,
    confirmedFingerprint: created.fingerprint,
  });
  await orgAdmin.importOrgCertificate(orgCert);
  const sign = crypto.signKeyPair();
  const dh = crypto.dhKeyPair();
  const enrol = (at: number): EnrolmentRequest =>
    createEnrolmentRequest(crypto, { orgId: 'shelter-ist', deviceId: 'shelter-ist:amina', label: 'Amina, intake', signKeyPair: sign, dhPublicKey: dh.publicKey, createdAt: at });
  const deviceFingerprint = fingerprint(crypto, 'device', 'shelter-ist:amina', sign.publicKey);
  const deviceCert = await orgAdmin.signDevice(enrol(clock), 'admin', 180, deviceFingerprint);
  const anchor = trustAnchor(crypto, fromB64u(rootInfo.publicKey));
  return { root, orgAdmin, orgCert, deviceCert, enrol, deviceFingerprint, orgFingerprint: created.fingerprint, anchor };
}

describe('renewing a device certificate', () => {
  it('while it is valid: signed without a phone call, same keys, the role kept, new dates', async () => {
    const n = await network();
    clock = T0 + 160 * DAY;
    const renewal = deviceRenewalRequest(n.enrol(clock), n.deviceCert);
    const view = await n.orgAdmin.readDeviceRequest(renewal);
    expect(view.renewal).toEqual({ previous: n.deviceCert, stillValid: true });
    expect(view.fingerprint).toBe(n.deviceFingerprint);
    const renewed = await n.orgAdmin.signDevice(renewal, undefined, 180);
    expect(renewed).toMatchObject({ deviceId: 'shelter-ist:amina', role: 'admin', signPublicKey: n.deviceCert.signPublicKey, dhPublicKey: n.deviceCert.dhPublicKey, issuedAt: clock, expiresAt: clock + 180 * DAY });
    expect(verifyDeviceChain(n.anchor, n.orgCert, renewed, { now: clock }).device).toEqual(renewed);
    // A role given explicitly wins.
    expect((await n.orgAdmin.signDevice(renewal, 'caseworker', 30)).role).toBe('caseworker');
  });

  it('after it expired: the fingerprint is needed again, as at enrolment', async () => {
    const n = await network();
    clock = T0 + 181 * DAY;
    const renewal = deviceRenewalRequest(n.enrol(clock), n.deviceCert);
    const without = await refusal(n.orgAdmin.signDevice(renewal, undefined, 180));
    expect(without.code).toBe('BAD_REQUEST');
    expect(without.message).toContain('--fingerprint');
    expect((await refusal(n.orgAdmin.signDevice(renewal, undefined, 180, '12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890'))).code).toBe('UNTRUSTED_KEY');
    expect((await n.orgAdmin.signDevice(renewal, undefined, 180, n.deviceFingerprint)).expiresAt).toBe(clock + 180 * DAY);
  });

  it('refuses a certificate another org issued, other keys than the certificate names, and a revoked device', async () => {
    const n = await network();
    const other = await network();
    clock = T0 + 100 * DAY;
    // The other network's device certificate, with a request for it: not signed by this org's key.
    expect((await refusal(n.orgAdmin.signDevice(deviceRenewalRequest(other.enrol(clock), other.deviceCert), undefined, 180))).code).toBe('UNTRUSTED_KEY');
    // Our certificate, but a request for other keys (someone's own device trying to ride on it).
    const mismatch = await refusal(n.orgAdmin.signDevice(deviceRenewalRequest(other.enrol(clock), n.deviceCert), undefined, 180));
    expect([mismatch.code, mismatch.message]).toEqual(['UNTRUSTED_KEY', expect.stringContaining('other keys')]);
    // A tampered request (its self-signature no longer holds).
    const forged = { ...deviceRenewalRequest(n.enrol(clock), n.deviceCert) };
    forged.request = { ...forged.request, label: 'Someone else' };
    expect((await refusal(n.orgAdmin.signDevice(forged, undefined, 180))).code).toBe('BAD_SIGNATURE');
    // Revoked: never certified again.
    await n.orgAdmin.revokeDevice('shelter-ist:amina', 'lost phone');
    expect((await refusal(n.orgAdmin.signDevice(deviceRenewalRequest(n.enrol(clock), n.deviceCert), undefined, 180))).code).toBe('REVOKED');
    expect((await refusal(n.orgAdmin.signDevice(n.enrol(clock), undefined, 180, n.deviceFingerprint))).code).toBe('REVOKED');
  });

  it('a device with no certificate yet has nothing to renew', () => {
    expect(() => deviceRenewalRequest({} as EnrolmentRequest, undefined)).toThrow(/register it first/);
  });
});

describe('renewing an org certificate', () => {
  it('while it is valid: re-issued by the root for the same key and details, with the next serial', async () => {
    const n = await network();
    clock = T0 + 170 * DAY;
    const device = await n.orgAdmin.signDevice(deviceRenewalRequest(n.enrol(clock), n.deviceCert), undefined, 180);
    clock = T0 + 340 * DAY;
    const request = await n.orgAdmin.orgRenewal();
    const { certificate, previous, confirmedBy } = await n.root.renewOrg(request, 365);
    expect(previous).toEqual(n.orgCert);
    expect(confirmedBy).toBe('continuity');
    const { serial: _s, issuedAt: _i, expiresAt: _e, signature: _sig, ...same } = n.orgCert;
    expect(certificate).toMatchObject({ ...same, serial: n.orgCert.serial + 1, issuedAt: clock, expiresAt: clock + 365 * DAY });
    expect(verifyOrgCertificate(n.anchor, certificate, { now: clock })).toEqual(certificate);
    // Devices the org certified stay valid under the renewed certificate (same key).
    expect(verifyDeviceChain(n.anchor, certificate, device, { now: clock }).device).toEqual(device);
    await n.orgAdmin.importOrgCertificate(certificate);
    expect((await n.orgAdmin.orgCertificate()).serial).toBe(certificate.serial);
  });

  it('after it expired: the org key fingerprint is needed again', async () => {
    const n = await network();
    clock = T0 + 400 * DAY;
    const request = await n.orgAdmin.orgRenewal();
    const without = await refusal(n.root.renewOrg(request, 365));
    expect([without.code, without.message]).toEqual(['BAD_REQUEST', expect.stringContaining('--fingerprint')]);
    expect((await n.root.renewOrg(request, 365, n.orgFingerprint)).confirmedBy).toBe('fingerprint');
  });

  it('refuses a request not signed by the org key, a certificate of another root, and a revoked org', async () => {
    const n = await network();
    const other = await network();
    clock = T0 + 10 * DAY;
    const request = await n.orgAdmin.orgRenewal();
    // Signed by another key: the org key is the one that must ask.
    const otherSigned = { ...(await other.orgAdmin.orgRenewal()), certificate: n.orgCert };
    expect((await refusal(n.root.renewOrg(otherSigned, 365))).code).toBe('BAD_SIGNATURE');
    // Another network's certificate.
    expect((await refusal(n.root.renewOrg(await other.orgAdmin.orgRenewal(), 365))).code).toBe('UNTRUSTED_KEY');
    // Not a renewal request at all.
    expect((await refusal(n.root.renewOrg({ kind: 'org-renewal' }, 365))).code).toBe('BAD_REQUEST');
    await n.root.revokeOrg('shelter-ist', 'closed down');
    expect((await refusal(n.root.renewOrg(request, 365))).code).toBe('REVOKED');
  });
});

describe('a certificate dated in the future (an issuer whose clock runs fast)', () => {
  it('is refused at import as a clock problem, saying by how much, not as a key problem', async () => {
    const n = await network();
    const fastRoot = n.root;
    clock = T0 + 10 * 60_000; // the coordinator's machine is 10 minutes fast
    const { certificate } = await fastRoot.renewOrg(await n.orgAdmin.orgRenewal(), 365);
    clock = T0;
    const err = await refusal(n.orgAdmin.importOrgCertificate(certificate));
    expect(err.code).toBe('EXPIRED');
    expect(err.message).toMatch(/not valid yet: it is dated 10 minutes ahead of this device's clock/);
    expect(err.details).toMatchObject({ clock: 'not-valid-yet', aheadMs: 10 * 60_000 });
    // Within the 5 minutes two honest clocks may differ, it is accepted.
    clock = T0 + 6 * 60_000;
    expect((await n.orgAdmin.importOrgCertificate(certificate)).serial).toBe(certificate.serial);
  });

  it('the standing of the org certificate an admin holds counts the days left', async () => {
    const n = await network();
    expect(await n.orgAdmin.orgCertificateStanding()).toMatchObject({ role: 'own-org', id: 'shelter-ist', daysLeft: 365, state: 'valid' });
    clock = T0 + 336 * DAY;
    expect(await n.orgAdmin.orgCertificateStanding()).toMatchObject({ daysLeft: 29, state: 'expiring' });
    expect(await (await admin()).orgCertificateStanding()).toBeUndefined();
  });
});
