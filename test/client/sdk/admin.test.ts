/**
 * AdminKeys on its own: the network root and an org key kept in a vault,
 * certificates signed only for a key whose fingerprint a person confirmed
 * (issue 11, finding 6), serials and revocation sequence numbers that only
 * move forward, and what comes out verifying with the protocol's own
 * checks. No relay is involved.
 */
import { createEnrolmentRequest, trustAnchor, verifyDeviceChain, verifyOrgCertificate, verifyRevocationList } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { type Crypto, PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { fromB64u, toB64u } from '../../../shared/encoding';
import { type HandoverError, isHandoverError } from '../../../shared/errors';
import { fingerprint } from '../../../shared/fingerprint';
import type { EnrolmentRequest } from '../../../shared/schemas';
import { AdminKeys, fingerprintDigits } from '../../../client/sdk/admin';
import { MemoryStorage } from '../../../client/sdk/storage';
import { Vault } from '../../../client/sdk/vault';

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2026, 11, 6, 9, 0, 0);
const PASS = 'correct horse battery staple';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

async function adminProfile(): Promise<{ keys: AdminKeys; reopen: () => Promise<AdminKeys> }> {
  const storage = new MemoryStorage();
  const keys = new AdminKeys(crypto, await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY), () => NOW);
  return { keys, reopen: async () => new AdminKeys(crypto, await Vault.unlock(crypto, storage, PASS), () => NOW) };
}

async function refusal(work: Promise<unknown> | (() => unknown)): Promise<HandoverError> {
  let err: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (e) {
    err = e;
  }
  if (!isHandoverError(err)) throw new Error(`expected a HandoverError, got ${String(err)}`);
  return err;
}

const WRONG_FINGERPRINT = '12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890';

/** An org admin's key and the fields the coordinator certifies it with, fingerprint as the org admin read it out. */
async function orgRequest(orgId: string) {
  const { keys } = await adminProfile();
  const created = await keys.createOrgKey(orgId);
  const fields = { orgId, name: `Org ${orgId}`, orgType: 'shelter' as const, country: 'TR', services: ['safe-accommodation'], publicKey: created.publicKey, days: 365 };
  return { orgAdmin: keys, created, fields, confirmed: created.fingerprint };
}

/** A network with one certified org whose admin holds the certificate. */
async function certifiedOrg(orgId = 'shelter-ist') {
  const { keys: root } = await adminProfile();
  const rootInfo = await root.createRoot();
  const { orgAdmin, fields, confirmed } = await orgRequest(orgId);
  const cert = await root.issueOrg({ ...fields, confirmedFingerprint: confirmed });
  await orgAdmin.importOrgCertificate(cert);
  return { root, orgAdmin, cert, anchor: trustAnchor(crypto, fromB64u(rootInfo.publicKey)) };
}

function enrolment(orgId: string, name: string): { request: EnrolmentRequest; fingerprint: string } {
  const sign = crypto.signKeyPair();
  const deviceId = `${orgId}:${name}`;
  const request = createEnrolmentRequest(crypto, { orgId, deviceId, label: `Laptop ${name}`, signKeyPair: sign, dhPublicKey: crypto.dhKeyPair().publicKey, createdAt: NOW });
  return { request, fingerprint: fingerprint(crypto, 'device', deviceId, sign.publicKey) };
}

describe('network root', () => {
  it('createRoot makes a root whose network id and fingerprint derive from its public key; a second one is refused', async () => {
    const { keys } = await adminProfile();
    const root = await keys.createRoot();
    const publicKey = fromB64u(root.publicKey);
    expect(root.networkId).toBe(trustAnchor(crypto, publicKey).networkId);
    expect(root.fingerprint).toBe(fingerprint(crypto, 'org', 'root', publicKey));
    expect(await keys.rootPublicKey()).toBe(root.publicKey);
    expect((await refusal(keys.createRoot())).code).toBe('BAD_REQUEST');
    expect(await keys.rootPublicKey()).toBe(root.publicKey);
  });

  it('rootPublicKey without a root says to run network init', async () => {
    const { keys } = await adminProfile();
    const err = await refusal(keys.rootPublicKey());
    expect([err.code, err.message]).toEqual(['BAD_REQUEST', 'this profile holds no network root: run `handover network init`']);
  });

  it('importRoot takes a 32-byte seed or a 64-byte private key and yields the same root; shorter keys are refused', async () => {
    const seed = crypto.random(32);
    const { publicKey, privateKey } = crypto.signKeyPair(seed);
    const fromSeed = await (await adminProfile()).keys.importRoot(toB64u(seed));
    const fromPrivate = await (await adminProfile()).keys.importRoot(privateKey);
    expect(fromSeed).toEqual({ publicKey: toB64u(publicKey), networkId: trustAnchor(crypto, publicKey).networkId });
    expect(fromPrivate).toEqual(fromSeed);
    expect((await refusal((await adminProfile()).keys.importRoot(toB64u(crypto.random(31))))).code).toBe('BAD_REQUEST');
  });

  it('importRoot refuses to replace another root the profile holds (serials and revocation numbers would repeat); the same key again is harmless', async () => {
    const { keys } = await adminProfile();
    const created = await keys.createRoot();
    const { fields, confirmed } = await orgRequest('ngo-a');
    expect((await keys.issueOrg({ ...fields, confirmedFingerprint: confirmed })).serial).toBe(1);
    expect((await refusal(keys.importRoot(toB64u(crypto.random(32))))).code).toBe('BAD_REQUEST');
    expect(await keys.rootPublicKey()).toBe(created.publicKey);
    expect((await keys.issueOrg({ ...fields, confirmedFingerprint: confirmed })).serial).toBe(2);
  });
});

describe('issuing org certificates', () => {
  it('signs nothing for a fingerprint that is not the key’s, and uses up no serial', async () => {
    const { keys } = await adminProfile();
    await keys.createRoot();
    const { fields, confirmed } = await orgRequest('shelter-ist');
    const wrong = await refusal(keys.issueOrg({ ...fields, confirmedFingerprint: WRONG_FINGERPRINT }));
    expect(wrong.code).toBe('UNTRUSTED_KEY');
    expect(wrong.message).toContain('nothing was signed');
    expect((await refusal(keys.issueOrg({ ...fields, confirmedFingerprint: '12345' }))).code).toBe('BAD_REQUEST');
    expect((await keys.issueOrg({ ...fields, confirmedFingerprint: confirmed })).serial).toBe(1);
  });

  it('a fingerprint of the right key but another org id is refused: the id is part of what is confirmed', async () => {
    const { keys } = await adminProfile();
    await keys.createRoot();
    const { fields, confirmed } = await orgRequest('shelter-ist');
    expect((await refusal(keys.issueOrg({ ...fields, orgId: 'shelter-ank', confirmedFingerprint: confirmed }))).code).toBe('UNTRUSTED_KEY');
  });

  it('a certificate verifies under the root, lasts the given days, and serials count up across a restart', async () => {
    const { keys, reopen } = await adminProfile();
    const root = await keys.createRoot();
    const anchor = trustAnchor(crypto, fromB64u(root.publicKey));
    const a = await orgRequest('shelter-ist');
    const first = await keys.issueOrg({ ...a.fields, days: 30, confirmedFingerprint: a.confirmed.replace(/ /g, '') });
    expect(verifyOrgCertificate(anchor, first, { now: NOW })).toEqual(first);
    expect(first).toMatchObject({ orgId: 'shelter-ist', networkId: root.networkId, serial: 1, issuedAt: NOW, expiresAt: NOW + 30 * DAY, publicKey: a.created.publicKey });
    const b = await orgRequest('ngo-taraz');
    expect((await (await reopen()).issueOrg({ ...b.fields, confirmedFingerprint: b.confirmed })).serial).toBe(2);
  });

  it('the key to certify must be a canonical 32-byte Ed25519 key that is not weak', async () => {
    const { keys } = await adminProfile();
    expect((await refusal(() => keys.orgKeyFingerprint('ngo-a', 'not base64url!'))).code).toBe('BAD_REQUEST');
    expect((await refusal(() => keys.orgKeyFingerprint('ngo-a', toB64u(crypto.random(16))))).code).toBe('BAD_REQUEST');
    expect((await refusal(() => keys.orgKeyFingerprint('ngo-a', toB64u(new Uint8Array(32))))).code).toBe('UNTRUSTED_KEY');
  });
});

describe('revocations', () => {
  it('root revocations are numbered 1, 2, … (an explicit number moves the count on) and verify as a list', async () => {
    const { keys, reopen } = await adminProfile();
    const root = await keys.createRoot();
    const first = await keys.revokeOrg('ngo-a', 'closed');
    const second = await (await reopen()).revokeOrg('ngo-b', 'closed');
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(first).toMatchObject({ issuer: 'root', subject: { type: 'org', orgId: 'ngo-a' }, reason: 'closed', revokedAt: NOW, networkId: root.networkId });
    const { status, unverifiable } = verifyRevocationList(trustAnchor(crypto, fromB64u(root.publicKey)), [first, second], { orgPublicKeys: () => [] });
    expect(unverifiable).toEqual([]);
    expect(status.isOrgRevoked('ngo-b')).toBe(true);
    expect((await keys.revokeOrg('ngo-c', 'x', 7)).seq).toBe(7);
    expect((await keys.revokeOrg('ngo-d', 'x')).seq).toBe(8);
  });

  it('device revocations are numbered per org and signed by the org key', async () => {
    const { orgAdmin, cert, anchor } = await certifiedOrg();
    const first = await orgAdmin.revokeDevice('shelter-ist:lost', 'lost phone');
    const second = await orgAdmin.revokeDevice('shelter-ist:stolen', 'stolen');
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(first).toMatchObject({ issuer: 'shelter-ist', subject: { type: 'device', orgId: 'shelter-ist', deviceId: 'shelter-ist:lost' } });
    const { status, unverifiable } = verifyRevocationList(anchor, [first, second], { orgPublicKeys: () => [fromB64u(cert.publicKey)] });
    expect(unverifiable).toEqual([]);
    expect(status.isDeviceRevoked('shelter-ist:stolen', 'shelter-ist')).toBe(true);
  });

  it('revokeDevice needs the org certificate (the revocation carries its network id)', async () => {
    const { orgAdmin } = await orgRequest('ngo-a');
    expect((await refusal(orgAdmin.revokeDevice('ngo-a:x', 'lost'))).code).toBe('BAD_REQUEST');
  });
});

describe('org key', () => {
  it('createOrgKey prints the fingerprint the coordinator will compute; a second org key is refused', async () => {
    const { orgAdmin, created } = await orgRequest('ngo-a');
    const { keys: coordinator } = await adminProfile();
    expect(coordinator.orgKeyFingerprint('ngo-a', created.publicKey)).toBe(created.fingerprint);
    expect((await refusal(orgAdmin.createOrgKey('ngo-a'))).code).toBe('BAD_REQUEST');
  });

  it('importOrgCertificate keeps only a certificate for this org id and this key', async () => {
    const { root, cert } = await certifiedOrg('shelter-ist');
    const { orgAdmin: other, fields } = await orgRequest('shelter-ist');
    expect((await refusal(other.importOrgCertificate(cert))).code).toBe('UNTRUSTED_KEY');
    const sameKeyOtherId = await root.issueOrg({ ...fields, orgId: 'shelter-ank', confirmedFingerprint: root.orgKeyFingerprint('shelter-ank', fields.publicKey) });
    expect((await refusal(other.importOrgCertificate(sameKeyOtherId))).code).toBe('UNTRUSTED_KEY');
    expect((await refusal(other.orgCertificate())).code).toBe('BAD_REQUEST');
  });

  it('a malformed org certificate is refused and nothing is kept', async () => {
    const { orgAdmin } = await orgRequest('ngo-a');
    expect((await refusal(orgAdmin.importOrgCertificate({ orgId: 'ngo-a' }))).code).toBe('BAD_REQUEST');
    expect((await refusal(orgAdmin.orgCertificate())).code).toBe('BAD_REQUEST');
  });
});

describe('certifying devices', () => {
  it('enrolmentFingerprint shows the fingerprint the device showed its holder', async () => {
    const { orgAdmin } = await certifiedOrg();
    const { request, fingerprint: shown } = enrolment('shelter-ist', 'amina');
    expect(orgAdmin.enrolmentFingerprint(request)).toEqual({ request, fingerprint: shown });
  });

  it('signs nothing for a wrong fingerprint; with the right one the certificate chains to the root', async () => {
    const { orgAdmin, cert, anchor } = await certifiedOrg();
    const { request, fingerprint: shown } = enrolment('shelter-ist', 'amina');
    expect((await refusal(orgAdmin.signDevice(request, 'caseworker', 30, WRONG_FINGERPRINT))).code).toBe('UNTRUSTED_KEY');
    const device = await orgAdmin.signDevice(request, 'admin', 30, shown);
    const { device: verified } = verifyDeviceChain(anchor, cert, device, { now: NOW });
    expect(verified).toMatchObject({ deviceId: 'shelter-ist:amina', role: 'admin', signPublicKey: request.signPublicKey, dhPublicKey: request.dhPublicKey, expiresAt: NOW + 30 * DAY });
  });

  it("a request from another org's device is refused even with its right fingerprint", async () => {
    const { orgAdmin } = await certifiedOrg('shelter-ist');
    const { request, fingerprint: shown } = enrolment('ngo-taraz', 'dana');
    expect((await refusal(orgAdmin.signDevice(request, 'caseworker', 30, shown))).code).toBe('FORBIDDEN');
  });

  it('a request whose self-signature does not match is refused', async () => {
    const { orgAdmin } = await certifiedOrg();
    const { request, fingerprint: shown } = enrolment('shelter-ist', 'amina');
    expect((await refusal(orgAdmin.signDevice({ ...request, label: 'Someone else' }, 'caseworker', 30, shown))).code).toBe('BAD_SIGNATURE');
  });

  it('signDevice before the org certificate is imported says to import it', async () => {
    const { orgAdmin } = await orgRequest('shelter-ist');
    const { request, fingerprint: shown } = enrolment('shelter-ist', 'amina');
    const err = await refusal(orgAdmin.signDevice(request, 'caseworker', 30, shown));
    expect([err.code, err.message]).toEqual(['BAD_REQUEST', 'import the org certificate first: `handover org import-certificate`']);
  });
});

it('fingerprintDigits accepts 60 digits with any spacing and nothing else', () => {
  expect(fingerprintDigits(` ${WRONG_FINGERPRINT} `)).toBe(WRONG_FINGERPRINT.replace(/ /g, ''));
  for (const bad of ['', '1'.repeat(59), '1'.repeat(61), `${'1'.repeat(59)}x`]) expect(() => fingerprintDigits(bad)).toThrow('a fingerprint is 60 digits');
});
