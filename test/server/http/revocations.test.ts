/**
 * Publishing revocations over HTTP: the root revokes orgs, an org revokes
 * its own devices and nothing else; signatures and per-issuer sequence
 * numbers are checked; and what is revoked disappears — from the directory,
 * from bundles, from sign-in — while everything else stays untouched.
 */
import { BundlesResponse, OrgDirectory, RevocationList, ROUTES } from '../../../shared/api';
import type { RevocationList as RevocationListType } from '../../../shared/api';
import { DOMAIN } from '../../../shared/canonical';
import { issueRevocation, verifyObject } from '../../../shared/certificates';
import { fromB64u } from '../../../shared/encoding';
import { loadCrypto } from '../../../shared/crypto/sodium';
import type { Revocation } from '../../../shared/schemas';
import { type TestDevice, TestNetwork, type TestOrg } from '../../support/network';
import { TestClock } from '../../support/clock';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, enrol, expectError, expectOk, signIn, signInAnswer } from './helpers';

let fx: RelayFixture;
let network: TestNetwork;
/** The relay's clock: moved past a certificate's expiry instead of waiting for it. */
const clock = new TestClock();
/** A bystander org whose device reads the directory and fetches bundles. */
let observerToken: string;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000 } }, now: clock.now });
  const observer = network.addDevice(network.addOrg('rev-observer'), 'rev-observer-1');
  await enrol(fx, observer);
  observerToken = await signIn(fx, observer);
});
afterAll(async () => {
  await fx.close();
});

let counter = 0;
async function orgWithDevices(count: number): Promise<{ org: TestOrg; devices: TestDevice[]; tokens: string[] }> {
  const n = ++counter;
  const org = network.addOrg(`rev-org-${n}`);
  const devices = Array.from({ length: count }, (_, i) => network.addDevice(org, `rev-${n}-d${i}`));
  const tokens: string[] = [];
  for (const d of devices) {
    await enrol(fx, d);
    tokens.push(await signIn(fx, d));
  }
  return { org, devices, tokens };
}

const publish = (revocation: unknown) => api(fx).post(ROUTES.revocations).send({ revocation });
const list = async () => RevocationList.parse(expectOk(await api(fx).get(ROUTES.revocations).set(bearer(observerToken)))).revocations;
const directory = async () => OrgDirectory.parse(expectOk(await api(fx).get(ROUTES.orgs).set(bearer(observerToken)))).orgs;
const bundleIds = async (orgId: string) =>
  BundlesResponse.parse(expectOk(await api(fx).get(ROUTES.bundles(orgId)).set(bearer(observerToken)))).bundles.map((b) => b.certificate.deviceId);
/** Whether a session token still works (any refusal counts as no). */
const works = async (token: string) => (await api(fx).get(ROUTES.prekeyStatus).set(bearer(token))).status === 200;

/** A revocation signed with any key, outside the TestNetwork's own sequence counters. */
function revocation(issuer: string, subject: Revocation['subject'], key: Uint8Array, seq: number, extra: { networkId?: string } = {}): Revocation {
  return issueRevocation(
    fx.crypto,
    { networkId: extra.networkId ?? network.anchor.networkId, issuer, seq, subject, reason: 'test', revokedAt: Date.now() },
    key,
  );
}

describe('the root revokes an org', () => {
  it('the org leaves the directory, its bundles and entry answer REVOKED, its devices are signed out', async () => {
    const target = await orgWithDevices(2);
    const bystander = await orgWithDevices(1);
    const rev = network.revokeOrg(target.org, 'closed down');
    const before = await list();
    expect(expectOk(await publish(rev), 201)).toEqual({ issuer: 'root', seq: rev.seq });
    expect(await list()).toEqual([...before, rev].sort((a, b) => (a.issuer === b.issuer ? a.seq - b.seq : a.issuer < b.issuer ? -1 : 1)));

    const orgIds = (await directory()).map((o) => o.certificate.orgId);
    expect(orgIds).not.toContain(target.org.orgId);
    expect(orgIds).toContain(bystander.org.orgId);
    expectError(await api(fx).get(ROUTES.org(target.org.orgId)).set(bearer(observerToken)), 403, 'REVOKED');
    expectError(await api(fx).get(ROUTES.bundles(target.org.orgId)).set(bearer(observerToken)), 403, 'REVOKED');
    for (const t of target.tokens) expect(await works(t)).toBe(false);
    for (const d of target.devices) expectError(await signInAnswer(fx, d), 403, 'REVOKED');

    // Everyone else carries on.
    expect(await works(bystander.tokens[0]!)).toBe(true);
    expect(await bundleIds(bystander.org.orgId)).toEqual([bystander.devices[0]!.keys.deviceId]);
  });

  it('the root cannot revoke a single device (BAD_REQUEST)', async () => {
    const target = await orgWithDevices(1);
    const head = (await list()).filter((r) => r.issuer === 'root').length;
    const rev = revocation('root', { type: 'device', orgId: target.org.orgId, deviceId: target.devices[0]!.keys.deviceId }, network.root.privateKey, head + 1);
    expectError(await publish(rev), 400, 'BAD_REQUEST');
    expect(await works(target.tokens[0]!)).toBe(true);
  });
});

describe('an org revokes its own device', () => {
  it('the device leaves the directory and the bundles and is signed out; its siblings stay', async () => {
    const { org, devices, tokens } = await orgWithDevices(3);
    const [lost, kept] = devices as [TestDevice, TestDevice, TestDevice];
    expect(expectOk(await publish(network.revokeDevice(lost, 'phone stolen')), 201)).toEqual({ issuer: org.orgId, seq: 1 });

    const entry = OrgDirectory.shape.orgs.element.parse(expectOk(await api(fx).get(ROUTES.org(org.orgId)).set(bearer(observerToken))));
    expect(entry.devices.map((d) => d.deviceId)).toEqual(devices.slice(1).map((d) => d.keys.deviceId));
    expect((await directory()).find((o) => o.certificate.orgId === org.orgId)?.devices.map((d) => d.deviceId)).not.toContain(lost.keys.deviceId);
    expect(await bundleIds(org.orgId)).toEqual(devices.slice(1).map((d) => d.keys.deviceId));
    expect(await works(tokens[0]!)).toBe(false);
    expectError(await signInAnswer(fx, lost), 403, 'REVOKED');
    expect(await works(tokens[1]!)).toBe(true);
    await signIn(fx, kept);
  });

  it('an org cannot revoke another org\'s device (FORBIDDEN); the device stays active', async () => {
    const a = await orgWithDevices(1);
    const b = await orgWithDevices(1);
    const victim = b.devices[0]!;
    const rev = revocation(a.org.orgId, { type: 'device', orgId: b.org.orgId, deviceId: victim.keys.deviceId }, a.org.keys.privateKey, 1);
    expectError(await publish(rev), 403, 'FORBIDDEN');
    expect(await works(b.tokens[0]!)).toBe(true);
    expect(await bundleIds(b.org.orgId)).toEqual([victim.keys.deviceId]);
  });

  it('an org revoking "its" device with another org\'s device id touches nothing of the other org', async () => {
    const a = await orgWithDevices(1);
    const b = await orgWithDevices(1);
    const victim = b.devices[0]!;
    const victimId = victim.keys.deviceId;
    // The victim has an envelope waiting in its inbox.
    const stored = await fx.relay.store.enqueue({
      messageId: 'AAAAAAAAAAAAAAAAAAAAAA',
      fingerprint: 'test-fingerprint',
      senderDeviceId: a.devices[0]!.keys.deviceId,
      recipientDeviceIds: [victimId],
      blob: new Uint8Array([1, 2, 3]),
      expiresAt: Date.now() + 60_000,
    });
    expect(stored).toEqual({ status: 'stored' });

    // A revokes "A/<victim id>": signed by A, but the id is in B's namespace (device ids are scoped by org): refused...
    const rev = revocation(a.org.orgId, { type: 'device', orgId: a.org.orgId, deviceId: victimId }, a.org.keys.privateKey, 1);
    expectError(await publish(rev), 403, 'FORBIDDEN');
    // ...and B's device keeps its session, its place in bundles and its waiting envelope.
    expect(await works(b.tokens[0]!)).toBe(true);
    expect(await bundleIds(b.org.orgId)).toEqual([victimId]);
    expect(await fx.relay.store.inboxLength(victimId)).toBe(1);
    await signIn(fx, victim);
  });
});

describe('refused revocations change nothing', () => {
  it('refuses bad signatures (FORBIDDEN, the uniform refusal)', async () => {
    const a = await orgWithDevices(1);
    const b = await orgWithDevices(1);
    const before = await list();
    const rootHead = before.filter((r) => r.issuer === 'root').length;
    // The root's revocation signed by an org key.
    expectError(await publish(revocation('root', { type: 'org', orgId: b.org.orgId }, a.org.keys.privateKey, rootHead + 1)), 403, 'FORBIDDEN');
    // A's device revoked in A's name but signed by B.
    const device = { type: 'device' as const, orgId: a.org.orgId, deviceId: a.devices[0]!.keys.deviceId };
    expectError(await publish(revocation(a.org.orgId, device, b.org.keys.privateKey, 1)), 403, 'FORBIDDEN');
    // A genuine revocation altered after signing.
    const genuine = revocation(a.org.orgId, device, a.org.keys.privateKey, 1);
    expectError(await publish({ ...genuine, reason: 'something else' }), 403, 'FORBIDDEN');
    expectError(await publish({ ...genuine, subject: { ...device, deviceId: `${a.org.orgId}:someone-else` } }), 403, 'FORBIDDEN');

    expect(await list()).toEqual(before);
    expect(await works(a.tokens[0]!)).toBe(true);
    expect(await works(b.tokens[0]!)).toBe(true);
  });

  it('refuses a gap or a conflict in an issuer\'s sequence (BAD_REQUEST with the head)', async () => {
    const { org, devices, tokens } = await orgWithDevices(3);
    const subject = (d: TestDevice) => ({ type: 'device' as const, orgId: org.orgId, deviceId: d.keys.deviceId });
    const key = org.keys.privateKey;

    const gap = expectError(await publish(revocation(org.orgId, subject(devices[0]!), key, 2)), 400, 'BAD_REQUEST');
    expect(gap.details).toEqual({ head: 0 });
    expect(await works(tokens[0]!)).toBe(true);

    const first = revocation(org.orgId, subject(devices[0]!), key, 1);
    expectOk(await publish(first), 201);
    // The same seq again, with the same or another subject: refused.
    expect(expectError(await publish(first), 400, 'BAD_REQUEST').details).toEqual({ head: 1 });
    expectError(await publish(revocation(org.orgId, subject(devices[1]!), key, 1)), 400, 'BAD_REQUEST');
    expect(await works(tokens[1]!)).toBe(true);
    expectError(await publish(revocation(org.orgId, subject(devices[1]!), key, 3)), 400, 'BAD_REQUEST');

    expectOk(await publish(revocation(org.orgId, subject(devices[1]!), key, 2)), 201);
    expect((await list()).filter((r) => r.issuer === org.orgId).map((r) => r.seq)).toEqual([1, 2]);
    expect(await works(tokens[1]!)).toBe(false);
    expect(await works(tokens[2]!)).toBe(true);
  });

  it('refuses a revocation from another network and from an unregistered issuer with the same refusal (FORBIDDEN)', async () => {
    const a = await orgWithDevices(1);
    const elsewhere = new TestNetwork(fx.crypto, Date.now());
    const device = { type: 'device' as const, orgId: a.org.orgId, deviceId: a.devices[0]!.keys.deviceId };
    const other = expectError(await publish(revocation(a.org.orgId, device, a.org.keys.privateKey, 1, { networkId: elsewhere.anchor.networkId })), 403, 'FORBIDDEN');
    const stranger = network.addOrg('rev-never-registered');
    const own = { type: 'device' as const, orgId: stranger.orgId, deviceId: 'rev-never-registered:rev-never-1' };
    expect(expectError(await publish(revocation(stranger.orgId, own, stranger.keys.privateKey, 1)), 403, 'FORBIDDEN')).toEqual(other);
    expect(await works(a.tokens[0]!)).toBe(true);
  });
});

describe('finding 3: the revocation list carries every certificate its issuers ever had', () => {
  const fullList = async () => RevocationList.parse(expectOk(await api(fx).get(ROUTES.revocations).set(bearer(observerToken))));
  /** Some root-signed certificate of the issuer in the list verifies the revocation. */
  const verifiable = (list: RevocationListType, rev: Revocation) =>
    list.issuers.some(
      (cert) =>
        cert.orgId === rev.issuer &&
        verifyObject(fx.crypto, DOMAIN.orgCertificate, cert, network.root.publicKey) &&
        verifyObject(fx.crypto, DOMAIN.revocation, rev, fromB64u(cert.publicKey)),
    );

  it('finding 3: after org X revoked a device and was then revoked by the root, X\'s certificate still verifies the old revocation', async () => {
    const { org, devices } = await orgWithDevices(2);
    const old = network.revokeDevice(devices[0]!);
    expectOk(await publish(old), 201);
    expectOk(await publish(network.revokeOrg(org)), 201);
    const list = await fullList();
    expect(list.revocations).toContainEqual(old);
    expect(list.issuers).toContainEqual(org.certificate);
    expect(verifiable(list, old)).toBe(true);
  });

  it('finding 3: after org X\'s certificate expired, it still verifies X\'s old revocation', async () => {
    const n = ++counter;
    const org = network.addOrg(`rev-mortal-${n}`, 'ngo', { expiresAt: Date.now() + 60_000 });
    const devices = [network.addDevice(org, `rev-mortal-${n}-d0`), network.addDevice(org, `rev-mortal-${n}-d1`)];
    for (const d of devices) await enrol(fx, d);
    const old = network.revokeDevice(devices[0]!);
    expectOk(await publish(old), 201);
    clock.passTime(org.certificate.expiresAt);
    expect(clock.now()).toBeGreaterThan(org.certificate.expiresAt);
    const list = await fullList();
    expect(list.issuers).toContainEqual(org.certificate);
    expect(verifiable(list, old)).toBe(true);
  });

  it('finding 3: after org X was re-keyed, the list carries both certificates; old revocations verify under the old key, new ones must use the new key', async () => {
    const { org, devices } = await orgWithDevices(3);
    const old = network.revokeDevice(devices[0]!);
    expectOk(await publish(old), 201);
    const rekeyed = network.addOrg(org.orgId, 'ngo', { issuedAt: org.certificate.issuedAt + 1000 });
    expect(rekeyed.certificate.serial).toBeGreaterThan(org.certificate.serial);
    expect(expectOk(await api(fx).post(ROUTES.orgs).send({ certificate: rekeyed.certificate }), 201)).toEqual({ orgId: org.orgId, replaced: true });

    const subject = (d: TestDevice) => ({ type: 'device' as const, orgId: org.orgId, deviceId: d.keys.deviceId });
    // The superseded key may no longer publish; the new one may.
    expectError(await publish(revocation(org.orgId, subject(devices[1]!), org.keys.privateKey, 2)), 403, 'FORBIDDEN');
    const fresh = revocation(org.orgId, subject(devices[1]!), rekeyed.keys.privateKey, 2);
    expectOk(await publish(fresh), 201);

    const list = await fullList();
    const mine = list.issuers.filter((c) => c.orgId === org.orgId);
    expect(mine).toEqual([org.certificate, rekeyed.certificate]);
    expect(verifiable(list, old)).toBe(true);
    expect(verifiable(list, fresh)).toBe(true);
    // Only issuers of revocations are listed.
    expect(list.issuers.every((c) => list.revocations.some((r) => r.issuer === c.orgId))).toBe(true);
  });
});
