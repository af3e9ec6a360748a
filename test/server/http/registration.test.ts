/**
 * The trust chain at registration: the relay stores an org only if the
 * pinned root signed it, a device only if its registered, unrevoked org
 * signed it, and prekeys only if the device signed them. Nothing is stored
 * from a refused registration, and replaying an old registration can neither
 * roll prekeys back nor hand out a one-time prekey twice.
 */
import { BundlesResponse, OrgDirectory, PrekeyStatus, ROUTES } from '../../../shared/api';
import { DOMAIN } from '../../../shared/canonical';
import { issueOrgCertificate, signObject } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { createDeviceKeys, generateOneTimePrekeys, rotateSignedPrekeys } from '../../../shared/device-keys';
import { toB64u } from '../../../shared/encoding';
import { type DeviceCertificateBody, PROTOCOL_VERSION } from '../../../shared/schemas';
import { DAY, type TestDevice, TestNetwork, type TestOrg, scopedDeviceId } from '../../support/network';
import { NOT_VERIFIED_MESSAGE } from '../../../server/services/registry';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, enrol, expectError, expectOk, registerDevice, registerOrg, signIn } from './helpers';

let fx: RelayFixture;
let network: TestNetwork;
let requesterToken: string;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000 } } });
  const requester = network.addDevice(network.addOrg('reg-requester'), 'reg-requester-1');
  await enrol(fx, requester);
  requesterToken = await signIn(fx, requester);
});
afterAll(async () => {
  await fx.close();
});

/**
 * A device certified with any key and any fields, with prekeys signed by
 * its own device key (so only the certificate is at fault).
 */
function certify(org: TestOrg, name: string, opts: { signer?: Uint8Array; overrides?: Partial<DeviceCertificateBody> } = {}): TestDevice {
  const crypto = fx.crypto;
  const deviceId = scopedDeviceId(org.orgId, name);
  const keys = createDeviceKeys(crypto, { deviceId, orgId: org.orgId });
  const now = Date.now();
  const body: DeviceCertificateBody = {
    v: PROTOCOL_VERSION,
    kind: 'device',
    networkId: org.certificate.networkId,
    orgId: org.orgId,
    deviceId,
    label: `Staff ${deviceId}`,
    role: 'caseworker',
    signPublicKey: toB64u(keys.sign.publicKey),
    dhPublicKey: toB64u(keys.identity.publicKey),
    issuedAt: now - DAY,
    expiresAt: now + 30 * DAY,
    ...opts.overrides,
  };
  const certificate = signObject(crypto, DOMAIN.deviceCertificate, body, opts.signer ?? org.keys.privateKey);
  const { signedPrekey, pqPrekey } = rotateSignedPrekeys(crypto, keys, now);
  const oneTimePrekeys = generateOneTimePrekeys(crypto, keys, 2, now);
  return { org, keys, certificate, signedPrekey, pqPrekey, oneTimePrekeys };
}

const directory = async () => OrgDirectory.parse(expectOk(await api(fx).get(ROUTES.orgs).set(bearer(requesterToken))));
const orgIds = async () => (await directory()).orgs.map((o) => o.certificate.orgId);
const bundles = async (orgId: string) =>
  BundlesResponse.parse(expectOk(await api(fx).get(ROUTES.bundles(orgId)).set(bearer(requesterToken))));

/** The device left no trace in the store. */
async function expectUnknownDevice(deviceId: string): Promise<void> {
  expect(await fx.relay.store.getDevice(deviceId)).toBeNull();
}

describe('org certificates', () => {
  it('refuses an org certificate from another network (FORBIDDEN) and stores nothing', async () => {
    const elsewhere = new TestNetwork(fx.crypto, Date.now());
    const org = elsewhere.addOrg('ngo-elsewhere');
    const error = expectError(await registerOrg(fx, org.certificate), 403, 'FORBIDDEN');
    expect(error.message).toBe(NOT_VERIFIED_MESSAGE);
    expect(await orgIds()).not.toContain('ngo-elsewhere');
  });

  it('refuses a certificate naming this network but signed by another root (FORBIDDEN)', async () => {
    const impostorRoot = fx.crypto.signKeyPair();
    const now = Date.now();
    const certificate = issueOrgCertificate(
      fx.crypto,
      {
        networkId: network.anchor.networkId,
        orgId: 'ngo-impostor',
        name: 'Impostor',
        orgType: 'ngo',
        country: 'KZ',
        services: [],
        publicKey: toB64u(fx.crypto.signKeyPair().publicKey),
        serial: 1,
        issuedAt: now - DAY,
        expiresAt: now + DAY,
      },
      impostorRoot.privateKey,
    );
    expect(expectError(await registerOrg(fx, certificate), 403, 'FORBIDDEN').message).toBe(NOT_VERIFIED_MESSAGE);
    expect(await orgIds()).not.toContain('ngo-impostor');
  });

  it('refuses a genuine certificate altered after signing (FORBIDDEN)', async () => {
    const org = network.addOrg('ngo-altered');
    expectError(await registerOrg(fx, { ...org.certificate, orgType: 'authority' }), 403, 'FORBIDDEN');
    expectError(await registerOrg(fx, { ...org.certificate, publicKey: toB64u(fx.crypto.signKeyPair().publicKey) }), 403, 'FORBIDDEN');
    expect(await orgIds()).not.toContain('ngo-altered');
  });

  it('refuses an expired and a not-yet-valid certificate (FORBIDDEN)', async () => {
    const now = Date.now();
    const expired = network.addOrg('ngo-expired', 'ngo', { issuedAt: now - 10 * DAY, expiresAt: now - 1000 });
    expect(expectError(await registerOrg(fx, expired.certificate), 403, 'FORBIDDEN').message).toMatch(/expired/);
    const future = network.addOrg('ngo-future', 'ngo', { issuedAt: now + DAY, expiresAt: now + 10 * DAY });
    expectError(await registerOrg(fx, future.certificate), 403, 'FORBIDDEN');
    const ids = await orgIds();
    expect(ids).not.toContain('ngo-expired');
    expect(ids).not.toContain('ngo-future');
  });

  it('refuses the org id "root", even with a genuine root signature', async () => {
    const org = network.addOrg('root');
    expect(expectError(await registerOrg(fx, org.certificate), 400, 'BAD_REQUEST').message).toMatch(/reserved/);
    expect(await orgIds()).not.toContain('root');
  });

  it('re-registering the same certificate is idempotent; a newer one replaces it; an older one is refused', async () => {
    const now = Date.now();
    const first = network.addOrg('ngo-reissued', 'ngo', { issuedAt: now - 2 * DAY, name: 'First name' });
    expect(expectOk(await registerOrg(fx, first.certificate), 201)).toEqual({ orgId: 'ngo-reissued', replaced: false });
    expect(expectOk(await registerOrg(fx, first.certificate), 201)).toEqual({ orgId: 'ngo-reissued', replaced: false });

    const newer = network.addOrg('ngo-reissued', 'ngo', { issuedAt: now - DAY, name: 'Second name' });
    expect(expectOk(await registerOrg(fx, newer.certificate), 201)).toEqual({ orgId: 'ngo-reissued', replaced: true });

    // Replaying the first certificate cannot roll the org back.
    expectError(await registerOrg(fx, first.certificate), 403, 'FORBIDDEN');
    const entry = (await directory()).orgs.filter((o) => o.certificate.orgId === 'ngo-reissued');
    expect(entry.map((o) => o.certificate.name)).toEqual(['Second name']);
  });

  it('finding 3: a re-issued certificate replaces the current one only if newer with a serial at least the current one; every one stays in the history', async () => {
    const now = Date.now();
    const first = network.addOrg('ngo-serials', 'ngo', { issuedAt: now - 3 * DAY, serial: 10 });
    expectOk(await registerOrg(fx, first.certificate), 201);
    // Newer, but a lower serial: refused.
    const lowerSerial = network.addOrg('ngo-serials', 'ngo', { issuedAt: now - 2 * DAY, serial: 9 });
    expect(expectError(await registerOrg(fx, lowerSerial.certificate), 403, 'FORBIDDEN').message).toMatch(/serial/);
    // Newer with the same serial (re-issued, e.g. a new key): replaces it.
    const rekeyed = network.addOrg('ngo-serials', 'ngo', { issuedAt: now - 2 * DAY, serial: 10 });
    expect(expectOk(await registerOrg(fx, rekeyed.certificate), 201)).toEqual({ orgId: 'ngo-serials', replaced: true });
    // Same issuedAt, higher serial: not newer, refused.
    const sameTime = network.addOrg('ngo-serials', 'ngo', { issuedAt: now - 2 * DAY, serial: 11 });
    expectError(await registerOrg(fx, sameTime.certificate), 403, 'FORBIDDEN');
    expect(JSON.parse((await fx.relay.store.getOrg('ngo-serials'))!)).toEqual(rekeyed.certificate);
    expect((await fx.relay.store.listOrgHistory('ngo-serials')).map((j) => JSON.parse(j))).toEqual([first.certificate, rekeyed.certificate]);
  });
});

describe('device certificates', () => {
  it('refuses a device of an org the relay does not know (FORBIDDEN, the uniform refusal)', async () => {
    const org = network.addOrg('ngo-unregistered');
    const device = network.addDevice(org, 'ngo-unregistered:unregistered-1');
    expect(expectError(await registerDevice(fx, device), 403, 'FORBIDDEN').message).toBe(NOT_VERIFIED_MESSAGE);
    await expectUnknownDevice('ngo-unregistered:unregistered-1');
  });

  it('refuses a device certificate signed by another org\'s key (FORBIDDEN)', async () => {
    const ngo = network.addOrg('ngo-victim');
    const mallory = network.addOrg('ngo-mallory');
    for (const org of [ngo, mallory]) expectOk(await registerOrg(fx, org.certificate), 201);
    const forged = certify(ngo, 'victim-forged', { signer: mallory.keys.privateKey });
    expectError(await registerDevice(fx, forged), 403, 'FORBIDDEN');
    await expectUnknownDevice(forged.keys.deviceId);
    // And signed by the root instead of the org: refused too.
    const rootSigned = certify(ngo, 'victim-rootsigned', { signer: network.root.privateKey });
    expectError(await registerDevice(fx, rootSigned), 403, 'FORBIDDEN');
    await expectUnknownDevice(rootSigned.keys.deviceId);
    expect((await directory()).orgs.find((o) => o.certificate.orgId === 'ngo-victim')?.devices).toEqual([]);
  });

  it('refuses a device certificate naming another network (FORBIDDEN)', async () => {
    const org = network.addOrg('ngo-netcheck');
    expectOk(await registerOrg(fx, org.certificate), 201);
    const other = new TestNetwork(fx.crypto, Date.now());
    const device = certify(org, 'netcheck-1', { overrides: { networkId: other.anchor.networkId } });
    expectError(await registerDevice(fx, device), 403, 'FORBIDDEN');
    await expectUnknownDevice(device.keys.deviceId);
  });

  it('refuses an expired and a not-yet-valid device certificate (FORBIDDEN)', async () => {
    const org = network.addOrg('ngo-devexpiry');
    expectOk(await registerOrg(fx, org.certificate), 201);
    const now = Date.now();
    const expired = certify(org, 'devexpiry-old', { overrides: { issuedAt: now - 10 * DAY, expiresAt: now - 1 } });
    expect(expectError(await registerDevice(fx, expired), 403, 'FORBIDDEN').message).toMatch(/expired/);
    const future = certify(org, 'devexpiry-new', { overrides: { issuedAt: now + DAY, expiresAt: now + 10 * DAY } });
    expectError(await registerDevice(fx, future), 403, 'FORBIDDEN');
    await expectUnknownDevice(expired.keys.deviceId);
    await expectUnknownDevice(future.keys.deviceId);
  });

  it('device-id squatting: an org cannot register a device id of another org, before or after the owner', async () => {
    // Regression (review finding 11): device ids are scoped by org (<orgId>:<name>).
    const owner = network.addOrg('ngo-owner');
    const squatter = network.addOrg('ngo-squatter');
    expectOk(await registerOrg(fx, squatter.certificate), 201);
    // Before the owner registers: the squatter signs a certificate for an id in the owner's namespace.
    const early = certify(squatter, 'ngo-owner:taken-id', { overrides: { orgId: 'ngo-squatter' } });
    expectError(await registerDevice(fx, early), 403, 'FORBIDDEN');
    const original = network.addDevice(owner, 'taken-id');
    await enrol(fx, original);
    // After: the same, and the same name in the squatter's own namespace is simply another device.
    expectError(await registerDevice(fx, early), 403, 'FORBIDDEN');
    const own = network.addDevice(squatter, 'taken-id');
    expectOk(await registerDevice(fx, own), 201);
    expect(own.keys.deviceId).toBe('ngo-squatter:taken-id');

    const res = await bundles('ngo-owner');
    expect(res.bundles.map((b) => b.certificate)).toEqual([original.certificate]);
    expect((await bundles('ngo-squatter')).bundles.map((b) => b.certificate.deviceId)).toEqual(['ngo-squatter:taken-id']);
    // The owner can still sign in with its own key.
    await signIn(fx, original);
  });

  it('a re-issued (newer) device certificate replaces the old one; an older one is refused', async () => {
    const org = network.addOrg('ngo-devreissue');
    expectOk(await registerOrg(fx, org.certificate), 201);
    const now = Date.now();
    const first = certify(org, 'devreissue-1', { overrides: { issuedAt: now - 2 * DAY, label: 'Old label' } });
    expectOk(await registerDevice(fx, first), 201);
    const second = certify(org, 'devreissue-1', { overrides: { issuedAt: now - DAY, label: 'New label' } });
    expectOk(await registerDevice(fx, second), 201);
    expectError(await registerDevice(fx, first), 403, 'FORBIDDEN');
    expect((await bundles('ngo-devreissue')).bundles.map((b) => b.certificate.label)).toEqual(['New label']);
  });
});

describe('prekeys at registration', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = network.addOrg('ngo-prekeys');
    expectOk(await registerOrg(fx, org.certificate), 201);
  });

  let n = 0;
  const fresh = () => network.addDevice(org, `prekeys-${++n}`, { oneTimePrekeys: 3 });

  it.each([
    ['a signed prekey signed by another key', (d: TestDevice, other: TestDevice) => ({ signedPrekey: { ...other.signedPrekey, deviceId: d.keys.deviceId } })],
    ['a post-quantum prekey signed by another key', (d: TestDevice, other: TestDevice) => ({ pqPrekey: { ...other.pqPrekey, deviceId: d.keys.deviceId } })],
    ['a signed prekey whose public key was swapped', (d: TestDevice, other: TestDevice) => ({ signedPrekey: { ...d.signedPrekey, publicKey: other.signedPrekey.publicKey } })],
    ['one bad one-time prekey among good ones', (d: TestDevice, other: TestDevice) => ({
      oneTimePrekeys: [d.oneTimePrekeys[0], { ...other.oneTimePrekeys[0], deviceId: d.keys.deviceId }, d.oneTimePrekeys[1]],
    })],
    ['a one-time prekey whose id was changed', (d: TestDevice) => ({ oneTimePrekeys: [{ ...d.oneTimePrekeys[0], id: 999 }] })],
  ])('refuses %s (BAD_SIGNATURE) and stores nothing', async (_name, mutate) => {
    const device = fresh();
    const other = fresh();
    expectError(await registerDevice(fx, device, mutate(device, other)), 400, 'BAD_SIGNATURE');
    await expectUnknownDevice(device.keys.deviceId);
    expect((await bundles('ngo-prekeys')).bundles.map((b) => b.certificate.deviceId)).not.toContain(device.keys.deviceId);
  });

  it('refuses prekeys that name another device, even when genuinely signed by it (BAD_REQUEST)', async () => {
    const device = fresh();
    const other = fresh();
    expectError(await registerDevice(fx, device, { signedPrekey: other.signedPrekey }), 400, 'BAD_REQUEST');
    expectError(await registerDevice(fx, device, { oneTimePrekeys: other.oneTimePrekeys }), 400, 'BAD_REQUEST');
    await expectUnknownDevice(device.keys.deviceId);
  });

  it('re-registration is idempotent and never puts back a one-time prekey already handed out', async () => {
    const device = fresh();
    expect(expectOk(await registerDevice(fx, device), 201)).toEqual({ deviceId: device.keys.deviceId, oneTimePrekeys: 3 });
    expect(expectOk(await registerDevice(fx, device), 201)).toEqual({ deviceId: device.keys.deviceId, oneTimePrekeys: 3 });
    const token = await signIn(fx, device);
    const status = () => api(fx).get(ROUTES.prekeyStatus).set(bearer(token));
    expect(PrekeyStatus.parse(expectOk(await status()))).toEqual({ oneTimePrekeys: 3, signedPrekeyId: device.signedPrekey.id });

    // Hand one out, then replay the registration: the count must not go back up.
    const handed = (await bundles('ngo-prekeys')).bundles.find((b) => b.certificate.deviceId === device.keys.deviceId);
    expect(handed?.oneTimePrekey?.id).toBe(device.oneTimePrekeys[0]?.id);
    expectOk(await registerDevice(fx, device), 201);
    expect(PrekeyStatus.parse(expectOk(await status())).oneTimePrekeys).toBe(2);
    const again = (await bundles('ngo-prekeys')).bundles.find((b) => b.certificate.deviceId === device.keys.deviceId);
    expect(again?.oneTimePrekey?.id).toBe(device.oneTimePrekeys[1]?.id);
    // Listed once in the directory.
    const entry = (await directory()).orgs.find((o) => o.certificate.orgId === 'ngo-prekeys');
    expect(entry?.devices.filter((d) => d.deviceId === device.keys.deviceId)).toHaveLength(1);
  });

  it('replaying an old registration cannot roll the signed prekeys back', async () => {
    const device = fresh();
    const original = { signedPrekey: device.signedPrekey, pqPrekey: device.pqPrekey };
    expectOk(await registerDevice(fx, device), 201);
    const token = await signIn(fx, device);
    const rotated = rotateSignedPrekeys(fx.crypto, device.keys, Date.now());
    expectOk(await api(fx).put(ROUTES.signedPrekeys).set(bearer(token)).send(rotated));

    // The whole old registration, replayed.
    expectError(await registerDevice(fx, device, original), 400, 'BAD_REQUEST');
    // The new signed prekey with the old post-quantum prekey (both genuinely signed, seen on the wire).
    expectError(await registerDevice(fx, device, { signedPrekey: rotated.signedPrekey, pqPrekey: original.pqPrekey }), 400, 'BAD_REQUEST');

    const current = (await bundles('ngo-prekeys')).bundles.find((b) => b.certificate.deviceId === device.keys.deviceId);
    expect(current?.signedPrekey).toEqual(rotated.signedPrekey);
    expect(current?.pqPrekey).toEqual(rotated.pqPrekey);
    expect(PrekeyStatus.parse(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(token)))).signedPrekeyId).toBe(rotated.signedPrekey.id);
    // Re-registering with the current prekeys is still fine.
    expectOk(await registerDevice(fx, device, rotated), 201);
  });
});

describe('revoked orgs and devices', () => {
  it('a revoked device id cannot register again, not even with a new certificate from its org', async () => {
    const org = network.addOrg('ngo-revdev');
    const device = network.addDevice(org, 'ngo-revdev:revdev-1');
    await enrol(fx, device);
    expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeDevice(device) }), 201);
    expectError(await registerDevice(fx, device), 403, 'REVOKED');
    const reissued = certify(org, 'ngo-revdev:revdev-1', { overrides: { issuedAt: Date.now() } });
    expectError(await registerDevice(fx, reissued), 403, 'REVOKED');
  });

  it('a revoked org cannot register again, nor register devices', async () => {
    const org = network.addOrg('ngo-revorg');
    const device = network.addDevice(org, 'ngo-revorg:revorg-1');
    await enrol(fx, device);
    expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeOrg(org) }), 201);
    expectError(await registerOrg(fx, org.certificate), 403, 'REVOKED');
    const reissued = network.addOrg('ngo-revorg', 'ngo', { issuedAt: Date.now() });
    expectError(await registerOrg(fx, reissued.certificate), 403, 'REVOKED');
    expectError(await registerDevice(fx, network.addDevice(org, 'ngo-revorg:revorg-2')), 403, 'REVOKED');
  });
});
