/**
 * A certificate dated in the future beyond the clock-skew window
 * (MAX_CLOCK_SKEW_MS) is refused at registration with a message saying by
 * how much its issuer's clock is ahead; within the window it is accepted.
 * Before this, the refusal said only "not valid yet" (and an admin machine
 * a few minutes fast looked like a key problem). The relay runs on a test
 * clock, so the distances are exact.
 */
import { OrgDirectory, ROUTES } from '../../../shared/api';
import { createEnrolmentRequest, issueDeviceCertificate, issueOrgCertificate } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { createDeviceKeys, generateOneTimePrekeys, rotateSignedPrekeys } from '../../../shared/device-keys';
import { toB64u } from '../../../shared/encoding';
import { MAX_CLOCK_SKEW_MS } from '../../../shared/time';
import { NOT_VERIFIED_MESSAGE } from '../../../server/services/registry';
import { TestClock } from '../../support/clock';
import { DAY, type TestDevice, TestNetwork, type TestOrg } from '../../support/network';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, enrol, expectError, expectOk, registerDevice, registerOrg, signIn } from './helpers';

const MINUTE = 60_000;
/** Slack for the real time a request takes: the relay's message rounds down to whole minutes. */
const SLACK = 30_000;

let fx: RelayFixture;
let network: TestNetwork;
let clock: TestClock;
let token: string;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  clock = new TestClock();
  fx = await startTestRelay(network, { now: clock.now, logLevel: 'silent' });
  const reader = network.addDevice(network.addOrg('future-reader'), 'reader-1');
  await enrol(fx, reader);
  token = await signIn(fx, reader);
});
afterAll(async () => {
  await fx.close();
});

/** An org certificate issued at `issuedAt` (the issuer's clock). */
function orgIssuedAt(orgId: string, issuedAt: number): TestOrg {
  return network.addOrg(orgId, 'ngo', { issuedAt, expiresAt: issuedAt + 365 * DAY });
}

/** A device of `org` whose certificate the org admin issued at `issuedAt`. */
function deviceIssuedAt(org: TestOrg, name: string, issuedAt: number): TestDevice {
  const crypto = fx.crypto;
  const deviceId = `${org.orgId}:${name}`;
  const keys = createDeviceKeys(crypto, { deviceId, orgId: org.orgId });
  const now = clock.now();
  const request = createEnrolmentRequest(crypto, { orgId: org.orgId, deviceId, label: name, signKeyPair: keys.sign, dhPublicKey: keys.identity.publicKey, createdAt: now });
  const certificate = issueDeviceCertificate(crypto, { request, orgCertificate: org.certificate, orgPrivateKey: org.keys.privateKey, role: 'caseworker', issuedAt, expiresAt: issuedAt + 90 * DAY });
  const { signedPrekey, pqPrekey } = rotateSignedPrekeys(crypto, keys, now);
  return { org, keys, certificate, signedPrekey, pqPrekey, oneTimePrekeys: generateOneTimePrekeys(crypto, keys, 2, now) };
}

async function registeredOrgIds(): Promise<string[]> {
  const res = await api(fx).get(ROUTES.orgs).set(bearer(token));
  return OrgDirectory.parse(expectOk(res)).orgs.map((o) => o.certificate.orgId);
}

describe('org certificates', () => {
  it('refuses one issued 10 minutes ahead of the relay, saying the issuer\'s clock is 10 minutes ahead', async () => {
    const now = clock.now();
    const org = orgIssuedAt('ngo-fast-clock', now + 10 * MINUTE + SLACK);
    const error = expectError(await registerOrg(fx, org.certificate), 403, 'FORBIDDEN');
    expect(error.message).toMatch(/^org certificate ngo-fast-clock is dated 10 minutes ahead of the relay's clock/);
    expect(error.message).toMatch(/the clock of the network coordinator's machine that signed it is at least 10 minutes ahead/);
    expect(error.message).toMatch(/up to 5 minutes are tolerated/);
    expect(error.message).toMatch(/issue the certificate again/);
    expect(error.details).toEqual({ issuedAt: now + 10 * MINUTE + SLACK, relayTime: expect.any(Number), aheadByMs: expect.any(Number), maxClockSkewMs: MAX_CLOCK_SKEW_MS });
    expect(error.details?.aheadByMs).toBeGreaterThan(10 * MINUTE);
    expect(error.details?.aheadByMs).toBeLessThanOrEqual(10 * MINUTE + SLACK);
    expect(await registeredOrgIds()).not.toContain('ngo-fast-clock');
  });

  it('says hours and days for larger distances', async () => {
    const now = clock.now();
    expect(expectError(await registerOrg(fx, orgIssuedAt('ngo-hours-ahead', now + 3 * 60 * MINUTE + SLACK).certificate), 403, 'FORBIDDEN').message).toMatch(/dated 3 hours ahead/);
    expect(expectError(await registerOrg(fx, orgIssuedAt('ngo-days-ahead', now + 4 * DAY + SLACK).certificate), 403, 'FORBIDDEN').message).toMatch(/dated 4 days ahead/);
  });

  it('accepts one dated within the window (a clock 4 minutes fast)', async () => {
    const org = orgIssuedAt('ngo-slightly-fast', clock.now() + 4 * MINUTE);
    expectOk(await registerOrg(fx, org.certificate), 201);
    expect(await registeredOrgIds()).toContain('ngo-slightly-fast');
  });

  it('tells nothing about a future-dated certificate the root did not sign (the uniform refusal comes first)', async () => {
    const impostor = new TestNetwork(fx.crypto, Date.now());
    const certificate = issueOrgCertificate(
      fx.crypto,
      { ...orgIssuedAt('ngo-forged-future', clock.now() + DAY).certificate, publicKey: toB64u(fx.crypto.signKeyPair().publicKey) },
      impostor.root.privateKey,
    );
    expect(expectError(await registerOrg(fx, certificate), 403, 'FORBIDDEN').message).toBe(NOT_VERIFIED_MESSAGE);
  });
});

describe('device certificates', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = orgIssuedAt('ngo-devices-skew', clock.now() - DAY);
    expectOk(await registerOrg(fx, org.certificate), 201);
  });

  it('refuses one issued 2 hours ahead, naming the org admin\'s clock, and stores nothing', async () => {
    const device = deviceIssuedAt(org, 'fast-admin', clock.now() + 2 * 60 * MINUTE + SLACK);
    const error = expectError(await registerDevice(fx, device), 403, 'FORBIDDEN');
    expect(error.message).toMatch(/^device certificate ngo-devices-skew:fast-admin is dated 2 hours ahead of the relay's clock/);
    expect(error.message).toMatch(/the clock of the ngo-devices-skew admin's machine that signed it is at least 2 hours ahead/);
    expect(await fx.relay.store.getDevice(device.keys.deviceId)).toBeNull();
  });

  it('refuses one just past the window and accepts one just inside it', async () => {
    const past = deviceIssuedAt(org, 'just-past', clock.now() + MAX_CLOCK_SKEW_MS + 2 * MINUTE + SLACK);
    expect(expectError(await registerDevice(fx, past), 403, 'FORBIDDEN').message).toMatch(/dated 7 minutes ahead/);
    const inside = deviceIssuedAt(org, 'just-inside', clock.now() + MAX_CLOCK_SKEW_MS - 2 * MINUTE);
    expectOk(await registerDevice(fx, inside), 201);
    expect(await fx.relay.store.getDevice(inside.keys.deviceId)).not.toBeNull();
  });

  it('accepts the same certificate once the relay\'s clock has caught up', async () => {
    const issuedAt = clock.now() + 30 * MINUTE;
    const device = deviceIssuedAt(org, 'later-ok', issuedAt);
    expectError(await registerDevice(fx, device), 403, 'FORBIDDEN');
    clock.passTime(issuedAt - MAX_CLOCK_SKEW_MS);
    expectOk(await registerDevice(fx, device), 201);
  });
});
