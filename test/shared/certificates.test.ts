/**
 * The trust chain (root -> org -> device), revocation lists and signed
 * prekeys: every field of every signed object is bound by its signature, and
 * broken, expired, foreign, revoked or rolled-back inputs are refused with
 * the right code.
 */
import { DOMAIN } from '../../shared/canonical';
import {
  NOTHING_REVOKED,
  type RevocationStatus,
  createEnrolmentRequest,
  issueDeviceCertificate,
  issueOrgCertificate,
  issueRevocation,
  networkIdOf,
  signObject,
  trustAnchor,
  verifyDeviceChain,
  verifyObject,
  verifyOrgCertificate,
  verifyRevocationList,
} from '../../shared/certificates';
import { type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { createDeviceKeys, verifyBundle } from '../../shared/device-keys';
import { fromB64u, toB64u } from '../../shared/encoding';
import { type ErrorCode, isHandoverError } from '../../shared/errors';
import type { DeviceBundle, OrgCertificate, Revocation } from '../../shared/schemas';
import { DAY, T0, type TestDevice, type TestOrg, TestNetwork } from '../support/network';

let crypto: Crypto;
let net: TestNetwork;
let ngo: TestOrg;
let shelter: TestOrg;
let caseworker: TestDevice;
let intake: TestDevice;
let other: TestNetwork; // a second, unrelated network
let otherOrg: TestOrg;
let otherDevice: TestDevice;

beforeAll(async () => {
  crypto = await loadCrypto();
  net = new TestNetwork(crypto);
  ngo = net.addOrg('ngo-taraz', 'ngo', { region: 'Zhambyl', services: ['outreach', 'legal-aid'] });
  shelter = net.addOrg('shelter-ist', 'shelter');
  caseworker = net.addDevice(ngo, 'ngo-taraz:ngo-dev-1');
  intake = net.addDevice(shelter, 'shelter-ist:sh-dev-1');
  other = new TestNetwork(crypto);
  otherOrg = other.addOrg('ngo-taraz'); // same org id, other network
  otherDevice = other.addDevice(otherOrg, 'ngo-taraz:ngo-dev-1');
});

/** The error code `fn` throws, or a marker that makes a failing expectation readable. */
function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

type Json = Record<string, unknown>;

function mutable(value: object): Json {
  return structuredClone(value) as Json;
}

/** Flip one bit of the first byte of a base64url value (stays canonical). */
function flipB64u(text: string): string {
  const bytes = fromB64u(text);
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return toB64u(bytes);
}

const opts = () => ({ now: T0 });

describe('certificate chain: the fixture verifies', () => {
  test('root -> org -> device chain of the test network', () => {
    expect(verifyOrgCertificate(net.anchor, ngo.certificate, opts()).orgId).toBe('ngo-taraz');
    const { org, device } = verifyDeviceChain(net.anchor, ngo.certificate, caseworker.certificate, opts());
    expect(org.orgId).toBe('ngo-taraz');
    expect(device.deviceId).toBe('ngo-taraz:ngo-dev-1');
    expect(device.signPublicKey).toBe(toB64u(caseworker.keys.sign.publicKey));
    expect(device.dhPublicKey).toBe(toB64u(caseworker.keys.identity.publicKey));
  });

  test('the network id is the hash of the root key', () => {
    expect(net.anchor.networkId).toBe(networkIdOf(crypto, net.root.publicKey));
    expect(net.anchor.networkId).not.toBe(other.anchor.networkId);
  });
});

/** [field, mutation, expected code]: one test per field of the org certificate. */
const ORG_CERT_MUTATIONS: Array<[string, ErrorCode, (c: Json) => void]> = [
  ['v', 'BAD_REQUEST', (c) => (c.v = 2)],
  ['kind', 'BAD_REQUEST', (c) => (c.kind = 'device')],
  ['networkId', 'UNTRUSTED_KEY', (c) => (c.networkId = flipB64u(c.networkId as string))],
  ['orgId', 'BAD_SIGNATURE', (c) => (c.orgId = 'ngo-almaty')],
  ['name', 'BAD_SIGNATURE', (c) => (c.name = 'Org ngo-taraz (fake)')],
  ['orgType', 'BAD_SIGNATURE', (c) => (c.orgType = 'authority')],
  ['country', 'BAD_SIGNATURE', (c) => (c.country = 'TR')],
  ['region changed', 'BAD_SIGNATURE', (c) => (c.region = 'Almaty')],
  ['region removed', 'BAD_SIGNATURE', (c) => delete c.region],
  ['services: one added', 'BAD_SIGNATURE', (c) => (c.services as string[]).push('shelter')],
  ['services: reordered', 'BAD_SIGNATURE', (c) => (c.services as string[]).reverse()],
  ['services: emptied', 'BAD_SIGNATURE', (c) => (c.services = [])],
  ['publicKey (another org key)', 'BAD_SIGNATURE', (c) => (c.publicKey = shelter.certificate.publicKey)],
  ['serial', 'BAD_SIGNATURE', (c) => (c.serial = (c.serial as number) + 1)],
  ['issuedAt', 'BAD_SIGNATURE', (c) => (c.issuedAt = (c.issuedAt as number) - 1)],
  ['expiresAt', 'BAD_SIGNATURE', (c) => (c.expiresAt = (c.expiresAt as number) + DAY)],
  ['signature (one bit)', 'BAD_SIGNATURE', (c) => (c.signature = flipB64u(c.signature as string))],
  ['signature (of another org certificate)', 'BAD_SIGNATURE', (c) => (c.signature = shelter.certificate.signature)],
  ['signature not base64url', 'BAD_REQUEST', (c) => (c.signature = '*'.repeat(86))],
  ['unknown field added', 'BAD_REQUEST', (c) => (c.trusted = true)],
  ['field missing', 'BAD_REQUEST', (c) => delete c.serial],
];

describe('org certificate: tampering with any field is refused', () => {
  test.each(ORG_CERT_MUTATIONS)('%s -> %s', (_field, code, mutate) => {
    const cert = mutable(ngo.certificate);
    mutate(cert);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, opts()))).toBe(code);
    // ...and a device chain through it is refused the same way.
    expect(thrownCode(() => verifyDeviceChain(net.anchor, cert, caseworker.certificate, opts()))).toBe(code);
  });
});

const DEVICE_CERT_MUTATIONS: Array<[string, ErrorCode, (c: Json) => void]> = [
  ['v', 'BAD_REQUEST', (c) => (c.v = 2)],
  ['kind', 'BAD_REQUEST', (c) => (c.kind = 'org')],
  ['networkId', 'UNTRUSTED_KEY', (c) => (c.networkId = flipB64u(c.networkId as string))],
  ['orgId', 'UNTRUSTED_KEY', (c) => (c.orgId = 'shelter-ist')],
  ['deviceId', 'BAD_SIGNATURE', (c) => (c.deviceId = 'ngo-taraz:ngo-dev-2')],
  ['label', 'BAD_SIGNATURE', (c) => (c.label = 'Director')],
  ['role', 'BAD_SIGNATURE', (c) => (c.role = 'admin')],
  ['signPublicKey', 'BAD_SIGNATURE', (c) => (c.signPublicKey = toB64u(intake.keys.sign.publicKey))],
  ['dhPublicKey', 'BAD_SIGNATURE', (c) => (c.dhPublicKey = toB64u(intake.keys.identity.publicKey))],
  ['issuedAt', 'BAD_SIGNATURE', (c) => (c.issuedAt = (c.issuedAt as number) + 1)],
  ['expiresAt', 'BAD_SIGNATURE', (c) => (c.expiresAt = (c.expiresAt as number) + 365 * DAY)],
  ['signature (one bit)', 'BAD_SIGNATURE', (c) => (c.signature = flipB64u(c.signature as string))],
  ['signature (of another device certificate)', 'BAD_SIGNATURE', (c) => (c.signature = intake.certificate.signature)],
  ['role not in the list', 'BAD_REQUEST', (c) => (c.role = 'root')],
  ['unknown field added', 'BAD_REQUEST', (c) => (c.canRevoke = true)],
  ['field missing', 'BAD_REQUEST', (c) => delete c.dhPublicKey],
];

describe('device certificate: tampering with any field is refused', () => {
  test.each(DEVICE_CERT_MUTATIONS)('%s -> %s', (_field, code, mutate) => {
    const cert = mutable(caseworker.certificate);
    mutate(cert);
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, cert, opts()))).toBe(code);
  });
});

describe('broken, foreign and misissued chains', () => {
  test("a device certificate of org A presented with org B's certificate -> UNTRUSTED_KEY", () => {
    expect(thrownCode(() => verifyDeviceChain(net.anchor, shelter.certificate, caseworker.certificate, opts()))).toBe('UNTRUSTED_KEY');
  });

  test("org B's key signs a device certificate naming org A -> BAD_SIGNATURE", () => {
    const keys = createDeviceKeys(crypto, { deviceId: 'ngo-taraz:dev-rogue', orgId: ngo.orgId });
    const request = createEnrolmentRequest(crypto, { orgId: ngo.orgId, deviceId: 'ngo-taraz:dev-rogue', label: 'Rogue', signKeyPair: keys.sign, dhPublicKey: keys.identity.publicKey, createdAt: T0 });
    const forged = issueDeviceCertificate(crypto, { request, orgCertificate: ngo.certificate, orgPrivateKey: shelter.keys.privateKey, role: 'admin', issuedAt: T0, expiresAt: T0 + DAY });
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, forged, opts()))).toBe('BAD_SIGNATURE');
  });

  test('a device certificate signed by the root instead of the org -> BAD_SIGNATURE', () => {
    const { signature: _s, ...body } = caseworker.certificate;
    const byRoot = signObject(crypto, DOMAIN.deviceCertificate, body, net.root.privateKey);
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, byRoot, opts()))).toBe('BAD_SIGNATURE');
  });

  test("a device certificate self-signed with the device's own key -> BAD_SIGNATURE", () => {
    const { signature: _s, ...body } = caseworker.certificate;
    const selfSigned = signObject(crypto, DOMAIN.deviceCertificate, body, caseworker.keys.sign.privateKey);
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, selfSigned, opts()))).toBe('BAD_SIGNATURE');
  });

  test('a certified small-order signing key (anyone could forge its signatures) -> UNTRUSTED_KEY, for device and org keys', () => {
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const { signature: _s, ...deviceBody } = caseworker.certificate;
    const weakDevice = signObject(crypto, DOMAIN.deviceCertificate, { ...deviceBody, signPublicKey: toB64u(identityPoint) }, ngo.keys.privateKey);
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, weakDevice, opts()))).toBe('UNTRUSTED_KEY');
    const { signature: _o, ...orgBody } = ngo.certificate;
    const weakOrg = signObject(crypto, DOMAIN.orgCertificate, { ...orgBody, publicKey: toB64u(identityPoint) }, net.root.privateKey);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, weakOrg, opts()))).toBe('UNTRUSTED_KEY');
    // An org admin is not tricked into certifying one either.
    const request = createEnrolmentRequest(crypto, { orgId: ngo.orgId, deviceId: 'ngo-taraz:dev-weak', label: 'Weak', signKeyPair: { publicKey: identityPoint, privateKey: caseworker.keys.sign.privateKey }, dhPublicKey: caseworker.keys.identity.publicKey, createdAt: T0 });
    expect(thrownCode(() => issueDeviceCertificate(crypto, { request, orgCertificate: ngo.certificate, orgPrivateKey: ngo.keys.privateKey, role: 'caseworker', issuedAt: T0, expiresAt: T0 + DAY }))).toBe('UNTRUSTED_KEY');
    expect(crypto.isValidSignPublicKey(caseworker.keys.sign.publicKey)).toBe(true);
    expect(crypto.isValidSignPublicKey(identityPoint.subarray(1))).toBe(false);
  });

  test('an org certificate signed by an org key instead of the root -> BAD_SIGNATURE', () => {
    const { signature: _s, ...body } = ngo.certificate;
    const byOrg = signObject(crypto, DOMAIN.orgCertificate, body, shelter.keys.privateKey);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, byOrg, opts()))).toBe('BAD_SIGNATURE');
  });

  test('an org certificate body signed under the device-certificate label -> BAD_SIGNATURE (domain separation)', () => {
    const { signature: _s, ...body } = ngo.certificate;
    const wrongLabel = signObject(crypto, DOMAIN.deviceCertificate, body, net.root.privateKey);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, wrongLabel, opts()))).toBe('BAD_SIGNATURE');
  });

  test('an org certificate from another network -> UNTRUSTED_KEY', () => {
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, otherOrg.certificate, opts()))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => verifyDeviceChain(net.anchor, otherOrg.certificate, otherDevice.certificate, opts()))).toBe('UNTRUSTED_KEY');
  });

  test("another network's root signing a certificate that claims this network -> BAD_SIGNATURE", () => {
    const { signature: _s, v: _v, kind: _k, ...body } = otherOrg.certificate;
    const claimed = issueOrgCertificate(crypto, { ...body, networkId: net.anchor.networkId }, other.root.privateKey);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, claimed, opts()))).toBe('BAD_SIGNATURE');
  });

  test("a device certificate of another network under this network's org -> UNTRUSTED_KEY", () => {
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, otherDevice.certificate, opts()))).toBe('UNTRUSTED_KEY');
  });

  test("another network's org signing a device certificate that claims this network -> BAD_SIGNATURE", () => {
    const { signature: _s, ...body } = otherDevice.certificate;
    const claimed = signObject(crypto, DOMAIN.deviceCertificate, { ...body, networkId: net.anchor.networkId }, otherOrg.keys.privateKey);
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, claimed, opts()))).toBe('BAD_SIGNATURE');
  });

  test('a verifier pinned to another root refuses the whole chain', () => {
    const foreignAnchor = trustAnchor(crypto, other.root.publicKey);
    expect(thrownCode(() => verifyDeviceChain(foreignAnchor, ngo.certificate, caseworker.certificate, opts()))).toBe('UNTRUSTED_KEY');
  });

  test('malformed inputs -> BAD_REQUEST', () => {
    for (const bad of [null, 'cert', 42, [], {}]) {
      expect(thrownCode(() => verifyOrgCertificate(net.anchor, bad, opts()))).toBe('BAD_REQUEST');
      expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, bad, opts()))).toBe('BAD_REQUEST');
    }
  });
});

describe('validity periods', () => {
  function orgValid(issuedAt: number, expiresAt: number): OrgCertificate {
    return net.addOrg('ngo-window', 'ngo', { issuedAt, expiresAt }).certificate;
  }

  test('an expired org certificate -> EXPIRED; one millisecond before expiry it is valid', () => {
    const cert = orgValid(T0 - 10 * DAY, T0 + DAY);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 + DAY - 1 }))).toBe('nothing thrown');
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 + DAY }))).toBe('EXPIRED');
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 + 100 * DAY }))).toBe('EXPIRED');
  });

  test('an expired device certificate -> EXPIRED', () => {
    const device = net.addDevice(ngo, 'ngo-taraz:ngo-dev-short', { expiresAt: T0 + DAY });
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, device.certificate, { now: T0 + DAY - 1 }))).toBe('nothing thrown');
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, device.certificate, { now: T0 + DAY }))).toBe('EXPIRED');
  });

  test('an org that expired takes its devices with it -> EXPIRED', () => {
    const org = net.addOrg('ngo-closing', 'ngo', { expiresAt: T0 + DAY });
    const device = net.addDevice(org, 'ngo-closing:ngo-closing-dev');
    expect(thrownCode(() => verifyDeviceChain(net.anchor, org.certificate, device.certificate, { now: T0 + 2 * DAY }))).toBe('EXPIRED');
  });

  test('not yet valid (beyond 5 minutes of clock slack) -> UNTRUSTED_KEY', () => {
    const cert = orgValid(T0 + 10 * 60_000, T0 + DAY);
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 + 5 * 60_000 }))).toBe('nothing thrown');
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 + 5 * 60_000 - 1 }))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, cert, { now: T0 - DAY }))).toBe('UNTRUSTED_KEY');
  });

  test('a device certificate not yet valid -> UNTRUSTED_KEY', () => {
    const keys = createDeviceKeys(crypto, { deviceId: 'ngo-taraz:dev-future', orgId: ngo.orgId });
    const request = createEnrolmentRequest(crypto, { orgId: ngo.orgId, deviceId: 'ngo-taraz:dev-future', label: 'Future', signKeyPair: keys.sign, dhPublicKey: keys.identity.publicKey, createdAt: T0 });
    const cert = issueDeviceCertificate(crypto, { request, orgCertificate: ngo.certificate, orgPrivateKey: ngo.keys.privateKey, role: 'caseworker', issuedAt: T0 + DAY, expiresAt: T0 + 2 * DAY });
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, cert, opts()))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => verifyDeviceChain(net.anchor, ngo.certificate, cert, { now: T0 + DAY }))).toBe('nothing thrown');
  });

  test('an empty validity period -> UNTRUSTED_KEY', () => {
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, orgValid(T0, T0), opts()))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => verifyOrgCertificate(net.anchor, orgValid(T0, T0 - 1), opts()))).toBe('UNTRUSTED_KEY');
  });
});

describe('enrolment requests', () => {
  function request(orgId = ngo.orgId) {
    const keys = createDeviceKeys(crypto, { deviceId: `${orgId}:dev-new`, orgId });
    return createEnrolmentRequest(crypto, { orgId, deviceId: `${orgId}:dev-new`, label: 'New laptop', signKeyPair: keys.sign, dhPublicKey: keys.identity.publicKey, createdAt: T0 });
  }
  const issue = (req: unknown) =>
    issueDeviceCertificate(crypto, { request: req, orgCertificate: ngo.certificate, orgPrivateKey: ngo.keys.privateKey, role: 'caseworker', issuedAt: T0, expiresAt: T0 + DAY });

  test('a genuine request is certified', () => {
    expect(verifyDeviceChain(net.anchor, ngo.certificate, issue(request()), opts()).device.deviceId).toBe('ngo-taraz:dev-new');
  });

  test.each([
    ['deviceId', (r: Json) => (r.deviceId = 'ngo-taraz:dev-other')],
    ['label', (r: Json) => (r.label = 'Someone else')],
    ['signPublicKey', (r: Json) => (r.signPublicKey = toB64u(intake.keys.sign.publicKey))],
    ['dhPublicKey', (r: Json) => (r.dhPublicKey = toB64u(intake.keys.identity.publicKey))],
    ['createdAt', (r: Json) => (r.createdAt = T0 + 1)],
  ])('a request with %s changed after signing -> BAD_SIGNATURE', (_f, mutate) => {
    const req = mutable(request());
    mutate(req);
    expect(thrownCode(() => issue(req))).toBe('BAD_SIGNATURE');
  });

  test('a request for another org -> FORBIDDEN; a malformed one -> BAD_REQUEST', () => {
    expect(thrownCode(() => issue(request('shelter-ist')))).toBe('FORBIDDEN');
    expect(thrownCode(() => issue({ ...request(), role: 'admin' }))).toBe('BAD_REQUEST');
    expect(thrownCode(() => issue('please certify me'))).toBe('BAD_REQUEST');
  });
});

describe('revocation lists', () => {
  /** Org keys as a client knows them from verified org certificates. */
  const orgPublicKeys = (orgId: string) => [ngo, shelter].filter((o) => o.orgId === orgId).map((o) => o.keys.publicKey);
  const verifyList = (list: unknown, seen?: Map<string, number>) =>
    verifyRevocationList(net.anchor, list, { orgPublicKeys, ...(seen ? { seen } : {}) });
  /**
   * What the list makes of an entry: a thrown code (shape, ROLLBACK), or the
   * code an unverifiable entry is reported with (it then revokes its subject
   * instead of aborting the list: review finding 3), or 'nothing thrown'.
   */
  const outcome = (run: () => { unverifiable: ReadonlyArray<{ code: string }> }): string => {
    let code = 'nothing thrown';
    const thrown = thrownCode(() => {
      code = run().unverifiable[0]?.code ?? 'nothing thrown';
    });
    return thrown === 'nothing thrown' ? code : thrown;
  };

  /** A fresh network per test, so revocation sequence numbers start at 1. */
  function fresh() {
    const n = new TestNetwork(crypto);
    const a = n.addOrg('ngo-taraz');
    const b = n.addOrg('shelter-ist', 'shelter');
    const c = n.addOrg('ngo-closed');
    const keysOf = (orgId: string) => [a, b, c].filter((o) => o.orgId === orgId).map((o) => o.keys.publicKey);
    const verify = (list: unknown, seen?: ReadonlyMap<string, number>) =>
      verifyRevocationList(n.anchor, list, { orgPublicKeys: keysOf, ...(seen ? { seen } : {}) });
    return { n, a, b, c, verify };
  }

  function issueAs(n: TestNetwork, issuer: string, key: Uint8Array, seq: number, subject: Revocation['subject']): Revocation {
    return issueRevocation(crypto, { networkId: n.anchor.networkId, issuer, seq, subject, reason: 'lost device', revokedAt: T0 }, key);
  }

  test('an empty list revokes nothing', () => {
    const { status, heads } = verifyList([]);
    expect(status.isOrgRevoked('ngo-taraz')).toBe(false);
    expect(status.isDeviceRevoked('ngo-taraz:ngo-dev-1')).toBe(false);
    expect(heads.size).toBe(0);
  });

  test('a revoked org and a revoked device are refused in chains -> REVOKED; others are not', () => {
    const { n, a, b, c, verify } = fresh();
    const aDev = n.addDevice(a, 'ngo-taraz:ngo-dev-1');
    const aDev2 = n.addDevice(a, 'ngo-taraz:ngo-dev-2');
    const cDev = n.addDevice(c, 'ngo-closed:ngo-closed-dev');
    const { status, heads } = verify([n.revokeOrg(c), n.revokeDevice(aDev), n.revokeDevice(aDev2)]);
    expect([...heads]).toEqual([
      ['root', 1],
      ['ngo-taraz', 2],
    ]);
    const at = { now: T0, revocations: status };
    expect(thrownCode(() => verifyOrgCertificate(n.anchor, c.certificate, at))).toBe('REVOKED');
    expect(thrownCode(() => verifyDeviceChain(n.anchor, c.certificate, cDev.certificate, at))).toBe('REVOKED');
    expect(thrownCode(() => verifyDeviceChain(n.anchor, a.certificate, aDev.certificate, at))).toBe('REVOKED');
    expect(thrownCode(() => verifyDeviceChain(n.anchor, a.certificate, aDev2.certificate, at))).toBe('REVOKED');
    // Unrevoked neighbours are untouched.
    const aDev3 = n.addDevice(a, 'ngo-taraz:ngo-dev-3');
    expect(thrownCode(() => verifyDeviceChain(n.anchor, a.certificate, aDev3.certificate, at))).toBe('nothing thrown');
    expect(thrownCode(() => verifyOrgCertificate(n.anchor, b.certificate, at))).toBe('nothing thrown');
  });

  test('a revoked device cannot be encrypted to: its bundle is refused -> REVOKED', () => {
    const { n, a, verify } = fresh();
    const dev = n.addDevice(a, 'ngo-taraz:ngo-dev-1');
    const { status } = verify([n.revokeDevice(dev)]);
    expect(thrownCode(() => verifyBundle(n.anchor, a.certificate, n.bundle(dev), { now: T0, revocations: status }))).toBe('REVOKED');
  });

  test("an org revoking another org's device -> UNTRUSTED_KEY", () => {
    const { n, a, b, verify } = fresh();
    const bDev = n.addDevice(b, 'shelter-ist:sh-dev-1');
    const rev = issueAs(n, a.orgId, a.keys.privateKey, 1, { type: 'device', orgId: b.orgId, deviceId: bDev.keys.deviceId });
    expect(outcome(() => verify([rev]))).toBe('UNTRUSTED_KEY');
  });

  test("device ids are scoped by org: an org cannot revoke, certify or enrol another org's device id", () => {
    // Regression (device-id squatting): ids are <orgId>:<name>, so org A can neither
    // knock out org B's device by "revoking" the same id nor certify a device under it.
    const { n, a, b, verify } = fresh();
    const bDev = n.addDevice(b, 'dev-1');
    const aDev = n.addDevice(a, 'dev-1');
    expect(aDev.keys.deviceId).not.toBe(bDev.keys.deviceId);
    const { status } = verify([n.revokeDevice(aDev)]);
    const at = { now: T0, revocations: status };
    expect(thrownCode(() => verifyDeviceChain(n.anchor, a.certificate, aDev.certificate, at))).toBe('REVOKED');
    expect(thrownCode(() => verifyDeviceChain(n.anchor, b.certificate, bDev.certificate, at))).toBe('nothing thrown');
    // A's key revoking B's device id: refused outright.
    expect(outcome(() => verify([issueAs(n, a.orgId, a.keys.privateKey, 1, { type: 'device', orgId: a.orgId, deviceId: bDev.keys.deviceId })]))).toBe(
      'UNTRUSTED_KEY',
    );
    // A's admin certifying a request for an id in B's namespace: refused.
    const keys = createDeviceKeys(crypto, { deviceId: bDev.keys.deviceId, orgId: a.orgId });
    const squat = createEnrolmentRequest(crypto, { orgId: a.orgId, deviceId: bDev.keys.deviceId, label: 'squatter', signKeyPair: keys.sign, dhPublicKey: keys.identity.publicKey, createdAt: T0 });
    expect(thrownCode(() => issueDeviceCertificate(crypto, { request: squat, orgCertificate: a.certificate, orgPrivateKey: a.keys.privateKey, role: 'caseworker', issuedAt: T0, expiresAt: T0 + DAY }))).toBe('FORBIDDEN');
  });

  test('the root revoking a device, or an org revoking an org -> reported UNTRUSTED_KEY', () => {
    const { n, a, b, verify } = fresh();
    const dev = n.addDevice(a, 'ngo-taraz:ngo-dev-1');
    expect(outcome(() => verify([issueAs(n, 'root', n.root.privateKey, 1, { type: 'device', orgId: a.orgId, deviceId: dev.keys.deviceId })]))).toBe(
      'UNTRUSTED_KEY',
    );
    expect(outcome(() => verify([issueAs(n, a.orgId, a.keys.privateKey, 1, { type: 'org', orgId: b.orgId })]))).toBe('UNTRUSTED_KEY');
    expect(outcome(() => verify([issueAs(n, a.orgId, a.keys.privateKey, 1, { type: 'org', orgId: a.orgId })]))).toBe('UNTRUSTED_KEY');
  });

  test('bad signatures -> reported BAD_SIGNATURE', () => {
    const { n, a, b, c, verify } = fresh();
    const dev = n.addDevice(a, 'ngo-taraz:ngo-dev-1');
    const genuine = n.revokeDevice(dev);
    expect(outcome(() => verify([{ ...genuine, signature: flipB64u(genuine.signature) }]))).toBe('BAD_SIGNATURE');
    // Signed by another org's key while claiming to be from org A.
    expect(outcome(() => verify([issueAs(n, a.orgId, b.keys.privateKey, 1, { type: 'device', orgId: a.orgId, deviceId: dev.keys.deviceId })]))).toBe(
      'BAD_SIGNATURE',
    );
    // An org revocation signed by an org key instead of the root.
    expect(outcome(() => verify([issueAs(n, 'root', a.keys.privateKey, 1, { type: 'org', orgId: c.orgId })]))).toBe('BAD_SIGNATURE');
    // Signed by the device itself.
    expect(outcome(() => verify([issueAs(n, a.orgId, dev.keys.sign.privateKey, 1, { type: 'device', orgId: a.orgId, deviceId: dev.keys.deviceId })]))).toBe(
      'BAD_SIGNATURE',
    );
  });

  test('an unknown issuer -> reported UNKNOWN_ORG; a revocation from another network -> reported UNTRUSTED_KEY', () => {
    const { n, verify } = fresh();
    const ghost = crypto.signKeyPair();
    expect(outcome(() => verify([issueAs(n, 'ngo-ghost', ghost.privateKey, 1, { type: 'device', orgId: 'ngo-ghost', deviceId: 'ngo-ghost:d-1' })]))).toBe(
      'UNKNOWN_ORG',
    );
    const foreign = issueRevocation(
      crypto,
      { networkId: other.anchor.networkId, issuer: 'root', seq: 1, subject: { type: 'org', orgId: 'ngo-taraz' }, reason: 'x', revokedAt: T0 },
      other.root.privateKey,
    );
    expect(outcome(() => verify([foreign]))).toBe('UNTRUSTED_KEY');
  });

  test('finding 3: an entry that cannot be verified revokes its subject and never aborts the list', () => {
    const { n, a, b, verify } = fresh();
    const aDev = n.addDevice(a, 'dev-1');
    const bDev = n.addDevice(b, 'dev-1');
    const forged = issueAs(n, a.orgId, b.keys.privateKey, 1, { type: 'device', orgId: a.orgId, deviceId: aDev.keys.deviceId });
    const genuine = n.revokeDevice(bDev);
    const result = verify([forged, genuine]);
    expect(result.unverifiable).toEqual([expect.objectContaining({ issuer: a.orgId, seq: 1, code: 'BAD_SIGNATURE' })]);
    expect(result.status.isDeviceRevoked(aDev.keys.deviceId, a.orgId)).toBe(true);
    expect(result.status.isDeviceRevoked(bDev.keys.deviceId, b.orgId)).toBe(true);
    expect(result.heads.get(a.orgId)).toBe(1);
  });

  test('finding 3: a revocation checks against any key its issuer ever held (re-keyed org)', () => {
    const { n, a } = fresh();
    const dev = n.addDevice(a, 'dev-1');
    const old = n.revokeDevice(dev); // signed with a's first key
    const rekeyed = crypto.signKeyPair();
    const later = issueAs(n, a.orgId, rekeyed.privateKey, 2, { type: 'device', orgId: a.orgId, deviceId: `${a.orgId}:dev-2` });
    const both = (orgId: string) => (orgId === a.orgId ? [rekeyed.publicKey, a.keys.publicKey] : []);
    const result = verifyRevocationList(n.anchor, [old, later], { orgPublicKeys: both });
    expect(result.unverifiable).toEqual([]);
    // With only the new key, the old entry is unverifiable, yet its subject stays revoked.
    const onlyNew = verifyRevocationList(n.anchor, [old, later], { orgPublicKeys: (orgId) => (orgId === a.orgId ? [rekeyed.publicKey] : []) });
    expect(onlyNew.unverifiable.map((u) => u.seq)).toEqual([1]);
    expect(onlyNew.status.isDeviceRevoked(dev.keys.deviceId, a.orgId)).toBe(true);
  });

  describe('gaps and rollback -> ROLLBACK', () => {
    test('a gap in one issuer’s sequence (an entry dropped from the middle)', () => {
      const { n, a, c, verify } = fresh();
      const r1 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-1'));
      n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-2')); // seq 2, withheld
      const r3 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-3'));
      expect(outcome(() => verify([r1, r3]))).toBe('ROLLBACK');
      expect(outcome(() => verify([n.revokeOrg(c), r3]))).toBe('ROLLBACK');
    });

    test('a list that does not start at 1, repeats or reorders a seq', () => {
      const { n, a, verify } = fresh();
      const r1 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-1'));
      const r2 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-2'));
      expect(outcome(() => verify([r2]))).toBe('ROLLBACK');
      expect(outcome(() => verify([r1, r1]))).toBe('ROLLBACK');
      expect(outcome(() => verify([r2, r1]))).toBe('ROLLBACK');
      expect(outcome(() => verify([r1, r2]))).toBe('nothing thrown');
    });

    test('a list older than one already seen (per issuer)', () => {
      const { n, a, c, verify } = fresh();
      const orgRev = n.revokeOrg(c);
      const r1 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-1'));
      const r2 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-2'));
      const { heads } = verify([orgRev, r1, r2]);
      expect(outcome(() => verify([orgRev, r1], heads))).toBe('ROLLBACK'); // org's head went 2 -> 1
      expect(outcome(() => verify([r1, r2], heads))).toBe('ROLLBACK'); // root's entries vanished
      expect(outcome(() => verify([], heads))).toBe('ROLLBACK');
      expect(outcome(() => verify([orgRev, r1, r2], heads))).toBe('nothing thrown');
      const r3 = n.revokeDevice(n.addDevice(a, 'ngo-taraz:ngo-dev-3'));
      expect(verify([orgRev, r1, r2, r3], heads).heads.get('ngo-taraz')).toBe(3);
    });
  });

  const REVOCATION_MUTATIONS: Array<[string, ErrorCode, (r: Json) => void]> = [
    ['v', 'BAD_REQUEST', (r) => (r.v = 2)],
    ['kind', 'BAD_REQUEST', (r) => (r.kind = 'org')],
    ['networkId', 'UNTRUSTED_KEY', (r) => (r.networkId = flipB64u(r.networkId as string))],
    ['issuer (another org)', 'UNTRUSTED_KEY', (r) => (r.issuer = 'shelter-ist')],
    ['issuer (root)', 'UNTRUSTED_KEY', (r) => (r.issuer = 'root')],
    ['seq', 'ROLLBACK', (r) => (r.seq = 2)],
    ['subject.type', 'UNTRUSTED_KEY', (r) => (r.subject = { type: 'org', orgId: 'ngo-taraz' })],
    ['subject.orgId', 'UNTRUSTED_KEY', (r) => ((r.subject as Json).orgId = 'shelter-ist')],
    ['subject.deviceId', 'BAD_SIGNATURE', (r) => ((r.subject as Json).deviceId = 'ngo-taraz:ngo-dev-9')],
    ['reason', 'BAD_SIGNATURE', (r) => (r.reason = 'mistake')],
    ['revokedAt', 'BAD_SIGNATURE', (r) => (r.revokedAt = (r.revokedAt as number) + 1)],
    ['signature', 'BAD_SIGNATURE', (r) => (r.signature = flipB64u(r.signature as string))],
    ['subject with an unknown field', 'BAD_REQUEST', (r) => ((r.subject as Json).note = 'x')],
    ['unknown field', 'BAD_REQUEST', (r) => (r.final = true)],
  ];

  test.each(REVOCATION_MUTATIONS)('device revocation field %s tampered -> %s', (_f, code, mutate) => {
    const genuine = issueAs(net, ngo.orgId, ngo.keys.privateKey, 1, { type: 'device', orgId: ngo.orgId, deviceId: 'ngo-taraz:ngo-dev-1' });
    expect(outcome(() => verifyList([genuine]))).toBe('nothing thrown');
    const rev = mutable(genuine);
    mutate(rev);
    expect(outcome(() => verifyList([rev]))).toBe(code);
  });

  const ORG_REVOCATION_MUTATIONS: Array<[string, ErrorCode, (r: Json) => void]> = [
    ['subject.orgId', 'BAD_SIGNATURE', (r) => ((r.subject as Json).orgId = 'ngo-taraz')],
    ['issuer', 'UNTRUSTED_KEY', (r) => (r.issuer = 'ngo-taraz')],
    ['signature', 'BAD_SIGNATURE', (r) => (r.signature = flipB64u(r.signature as string))],
  ];
  test.each(ORG_REVOCATION_MUTATIONS)('org revocation field %s tampered -> %s', (_f, code, mutate) => {
    const { n, c, verify } = fresh();
    const rev = mutable(n.revokeOrg(c));
    mutate(rev);
    expect(outcome(() => verify([rev]))).toBe(code);
  });

  test('shape problems -> BAD_REQUEST', () => {
    expect(outcome(() => verifyList('revocations'))).toBe('BAD_REQUEST');
    expect(outcome(() => verifyList([{}]))).toBe('BAD_REQUEST');
    const one = mutable(net.revokeOrg(shelter));
    expect(outcome(() => verifyList(Array.from({ length: 10_001 }, () => one)))).toBe('BAD_REQUEST');
  });
});

describe('signed prekeys in a bundle', () => {
  let dev: TestDevice;
  let bundle: DeviceBundle;
  beforeAll(() => {
    dev = net.addDevice(shelter, 'shelter-ist:sh-dev-bundle', { oneTimePrekeys: 3 });
    bundle = net.bundle(dev);
  });
  const verify = (b: unknown, extra: { revocations?: RevocationStatus; maxPrekeyAgeMs?: number; now?: number } = {}) =>
    verifyBundle(net.anchor, shelter.certificate, b, { now: T0, ...extra });

  test('the genuine bundle gives the keys to encrypt to', () => {
    const keys = verify(bundle, { revocations: NOTHING_REVOKED });
    expect(keys.deviceId).toBe('shelter-ist:sh-dev-bundle');
    expect(keys.identityKey).toEqual(dev.keys.identity.publicKey);
    expect(keys.signedPrekey.id).toBe(bundle.signedPrekey.id);
    expect(keys.pqPrekey.publicKey).toEqual(fromB64u(bundle.pqPrekey.publicKey));
    expect(keys.oneTimePrekey?.id).toBe(bundle.oneTimePrekey?.id);
    const { oneTimePrekey: _o, ...withoutOneTime } = bundle;
    expect(verify(withoutOneTime).oneTimePrekey).toBeUndefined();
  });

  type Part = 'signedPrekey' | 'pqPrekey' | 'oneTimePrekey';
  const PREKEY_MUTATIONS: Array<[Part, string, ErrorCode, (p: Json) => void]> = [];
  for (const part of ['signedPrekey', 'pqPrekey', 'oneTimePrekey'] as const) {
    PREKEY_MUTATIONS.push(
      [part, 'v', 'UNTRUSTED_KEY', (p) => (p.v = 2)],
      [part, 'kind', 'UNTRUSTED_KEY', (p) => (p.kind = part === 'signedPrekey' ? 'one-time-prekey' : 'signed-prekey')],
      [part, 'deviceId', 'UNTRUSTED_KEY', (p) => (p.deviceId = 'shelter-ist:sh-dev-1')],
      [part, 'id', 'BAD_SIGNATURE', (p) => (p.id = (p.id as number) + 100)],
      [part, 'publicKey', 'BAD_SIGNATURE', (p) => (p.publicKey = flipB64u(p.publicKey as string))],
      [part, 'signature', 'BAD_SIGNATURE', (p) => (p.signature = flipB64u(p.signature as string))],
    );
    if (part !== 'oneTimePrekey') PREKEY_MUTATIONS.push([part, 'createdAt', 'BAD_SIGNATURE', (p) => (p.createdAt = (p.createdAt as number) + 1)]);
  }

  test.each(PREKEY_MUTATIONS)('%s.%s tampered -> %s', (part, _field, code, mutate) => {
    const b = mutable(bundle);
    mutate(b[part] as Json);
    expect(thrownCode(() => verify(b))).toBe(code);
  });

  test("prekeys signed by another device's key -> BAD_SIGNATURE", () => {
    for (const part of ['signedPrekey', 'pqPrekey', 'oneTimePrekey'] as const) {
      const { signature: _s, ...body } = bundle[part] as Json & { signature: string };
      const label = { signedPrekey: DOMAIN.signedPrekey, pqPrekey: DOMAIN.pqPrekey, oneTimePrekey: DOMAIN.oneTimePrekey }[part];
      const forged = signObject(crypto, label, body, intake.keys.sign.privateKey);
      expect(thrownCode(() => verify({ ...bundle, [part]: forged }))).toBe('BAD_SIGNATURE');
      // The genuine device key signing under the right label passes (the test can tell the difference).
      expect(thrownCode(() => verify({ ...bundle, [part]: signObject(crypto, label, body, dev.keys.sign.privateKey) }))).toBe('nothing thrown');
    }
  });

  test('a signed prekey signed under the one-time-prekey label -> BAD_SIGNATURE (domain separation)', () => {
    const { signature: _s, ...body } = bundle.signedPrekey;
    const relabelled = signObject(crypto, DOMAIN.oneTimePrekey, body, dev.keys.sign.privateKey);
    expect(thrownCode(() => verify({ ...bundle, signedPrekey: relabelled }))).toBe('BAD_SIGNATURE');
    expect(verifyObject(crypto, DOMAIN.oneTimePrekey, relabelled, dev.keys.sign.publicKey)).toBe(true);
  });

  test('a one-time prekey of another device of the same org -> UNTRUSTED_KEY', () => {
    const otherBundle = net.bundle(net.addDevice(shelter, 'shelter-ist:sh-dev-spare', { oneTimePrekeys: 1 }));
    expect(thrownCode(() => verify({ ...bundle, oneTimePrekey: otherBundle.oneTimePrekey }))).toBe('UNTRUSTED_KEY');
  });

  test('the certificate in the bundle is checked: tampered -> BAD_SIGNATURE, other org -> UNTRUSTED_KEY', () => {
    expect(thrownCode(() => verify({ ...bundle, certificate: { ...bundle.certificate, role: 'admin' } }))).toBe('BAD_SIGNATURE');
    expect(thrownCode(() => verifyBundle(net.anchor, ngo.certificate, bundle, { now: T0 }))).toBe('UNTRUSTED_KEY');
  });

  test('a signed prekey older than maxPrekeyAgeMs -> UNTRUSTED_KEY', () => {
    expect(thrownCode(() => verify(bundle, { maxPrekeyAgeMs: 8 * DAY, now: T0 + 8 * DAY }))).toBe('nothing thrown');
    expect(thrownCode(() => verify(bundle, { maxPrekeyAgeMs: 8 * DAY, now: T0 + 8 * DAY + 1 }))).toBe('UNTRUSTED_KEY');
  });

  test('a malformed bundle -> UNTRUSTED_KEY (it came from the relay, which is not trusted for keys)', () => {
    expect(thrownCode(() => verify({ ...bundle, extra: 1 }))).toBe('UNTRUSTED_KEY');
    const { pqPrekey: _p, ...noPq } = bundle;
    expect(thrownCode(() => verify(noPq))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => verify(null))).toBe('UNTRUSTED_KEY');
  });
});
