/**
 * Finding 8 (enumeration): the unauthenticated routes — sign-in,
 * registration, publishing a revocation — give byte-identical answers
 * whether an org or device id is unknown, known and active, revoked or
 * expired, to anyone who has not presented a signature that verifies.
 * Only the random values of a challenge (and its expiry time) differ.
 */
import type { Response } from 'supertest';
import { ROUTES } from '../../../shared/api';
import { DOMAIN } from '../../../shared/canonical';
import { issueOrgCertificate, issueRevocation, signObject } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u } from '../../../shared/encoding';
import type { DeviceCertificate, Revocation } from '../../../shared/schemas';
import { TestClock } from '../../support/clock';
import { DAY, type TestDevice, TestNetwork, type TestOrg } from '../../support/network';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, challenge, enrol, expectOk, signChallenge } from './helpers';

let fx: RelayFixture;
let network: TestNetwork;
/** The relay's clock: moved past a certificate's expiry instead of waiting for it. */
const clock = new TestClock();
/** Orgs and devices in every state the relay knows. */
let states: {
  activeOrg: TestOrg;
  revokedOrg: TestOrg;
  unknownOrg: TestOrg;
  active: TestDevice;
  revoked: TestDevice;
  ofRevokedOrg: TestDevice;
  expired: TestDevice;
  unknown: TestDevice;
};
/** A key nobody certified: what an outsider signs with. */
let mallory: { publicKey: Uint8Array; privateKey: Uint8Array };

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  fx = await startTestRelay(network, { config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000 } }, now: clock.now });
  mallory = crypto.signKeyPair();
  const activeOrg = network.addOrg('enum-active');
  const revokedOrg = network.addOrg('enum-revoked');
  const unknownOrg = network.addOrg('enum-unknown');
  const active = network.addDevice(activeOrg, 'alive');
  const revoked = network.addDevice(activeOrg, 'revoked');
  const expired = network.addDevice(activeOrg, 'expired', { expiresAt: Date.now() + 60_000 });
  const ofRevokedOrg = network.addDevice(revokedOrg, 'orphan');
  const unknown = network.addDevice(activeOrg, 'never-registered');
  for (const d of [active, revoked, expired, ofRevokedOrg]) await enrol(fx, d);
  // Each org has issued a revocation, so both are revocation issuers.
  expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeDevice(revoked) }), 201);
  expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeDevice(network.addDevice(revokedOrg, 'spare')) }), 201);
  expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeOrg(revokedOrg) }), 201);
  clock.passTime(expired.certificate.expiresAt);
  states = { activeOrg, revokedOrg, unknownOrg, active, revoked, ofRevokedOrg, expired, unknown };
});
afterAll(async () => {
  await fx.close();
});

/** Everything a client can observe of an answer, random values of the given fields replaced by their length. */
function observed(res: Response, random: string[] = []): string {
  const body = JSON.parse(res.text) as Record<string, unknown>;
  for (const field of random) {
    const value = body[field];
    body[field] = typeof value === 'string' ? `<${value.length} random characters>` : typeof value;
  }
  if ('expiresAt' in body) body.expiresAt = typeof body.expiresAt;
  return JSON.stringify({ status: res.status, type: res.headers['content-type'], length: res.headers['content-length'], body });
}

function expectAllSame(answers: Record<string, string>): void {
  const distinct = new Set(Object.values(answers));
  if (distinct.size !== 1) throw new Error(`answers differ:\n${Object.entries(answers).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
}

it('finding 8: POST /v1/auth/challenge answers the same for unknown, active, revoked, revoked-org and expired devices', async () => {
  const answers: Record<string, string> = {};
  for (const [name, device] of Object.entries({ unknown: states.unknown, active: states.active, revoked: states.revoked, ofRevokedOrg: states.ofRevokedOrg, expired: states.expired })) {
    const res = await api(fx).post(ROUTES.challenge).send({ deviceId: device.keys.deviceId });
    answers[name] = observed(res, ['challengeId', 'challenge']);
  }
  answers.unknownOrg = observed(await api(fx).post(ROUTES.challenge).send({ deviceId: 'enum-nobody:nobody' }), ['challengeId', 'challenge']);
  expectAllSame(answers);
  expect(answers.active).toContain('"status":200');
});

it('finding 8: POST /v1/auth/session gives one refusal for an unknown device, a wrong signature (any device state) and a wrong or used challenge', async () => {
  const answers: Record<string, string> = {};
  const signedByMallory = async (device: TestDevice) => {
    const deviceId = device.keys.deviceId;
    const ch = await challenge(fx, deviceId);
    const signature = toB64u(fx.crypto.sign(new TextEncoder().encode(ch.challenge), mallory.privateKey));
    return api(fx).post(ROUTES.session).send({ deviceId, challengeId: ch.challengeId, signature });
  };
  for (const [name, device] of Object.entries({ unknown: states.unknown, active: states.active, revoked: states.revoked, ofRevokedOrg: states.ofRevokedOrg, expired: states.expired })) {
    answers[`${name}, wrong signature`] = observed(await signedByMallory(device));
  }
  // The unknown device signing with its own (uncertified) key.
  const ghost = states.unknown;
  const ch = await challenge(fx, ghost.keys.deviceId);
  const genuine = { deviceId: ghost.keys.deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, ghost, { deviceId: ghost.keys.deviceId, ...ch }) };
  answers['unknown, its own key'] = observed(await api(fx).post(ROUTES.session).send(genuine));
  answers['used challenge'] = observed(await api(fx).post(ROUTES.session).send(genuine));
  const active = states.active.keys.deviceId;
  const made = toB64u(fx.crypto.random(16));
  answers['made-up challenge'] = observed(await api(fx).post(ROUTES.session).send({ deviceId: active, challengeId: made, signature: signChallenge(fx, states.active, { deviceId: active, challengeId: made, challenge: toB64u(fx.crypto.random(32)) }) }));
  const forOther = await challenge(fx, states.revoked.keys.deviceId);
  answers["another device's challenge"] = observed(
    await api(fx).post(ROUTES.session).send({ deviceId: active, challengeId: forOther.challengeId, signature: signChallenge(fx, states.active, { deviceId: active, ...forOther }) }),
  );
  expectAllSame(answers);
  expect(answers['used challenge']).toContain('"status":401');
  expect(answers['used challenge']).toContain('UNAUTHENTICATED');
});

it('finding 8: POST /v1/devices gives one refusal for a device certificate of an unknown, active or revoked org that its org did not sign', async () => {
  const forged = (org: TestOrg, name: string) => {
    const device = network.addDevice(org, name);
    const { signature: _genuine, ...body } = device.certificate;
    const certificate: DeviceCertificate = signObject(fx.crypto, DOMAIN.deviceCertificate, body, mallory.privateKey);
    return { certificate, signedPrekey: device.signedPrekey, pqPrekey: device.pqPrekey, oneTimePrekeys: device.oneTimePrekeys };
  };
  const answers: Record<string, string> = {};
  answers.unknownOrg = observed(await api(fx).post(ROUTES.devices).send(forged(states.unknownOrg, 'forged')));
  answers.activeOrg = observed(await api(fx).post(ROUTES.devices).send(forged(states.activeOrg, 'forged')));
  answers.revokedOrg = observed(await api(fx).post(ROUTES.devices).send(forged(states.revokedOrg, 'forged')));
  // A genuine certificate of a device id that was revoked, re-signed by an outsider.
  const { signature: _s, ...revokedBody } = states.revoked.certificate;
  answers.revokedDevice = observed(
    await api(fx)
      .post(ROUTES.devices)
      .send({ certificate: signObject(fx.crypto, DOMAIN.deviceCertificate, revokedBody, mallory.privateKey), signedPrekey: states.revoked.signedPrekey, pqPrekey: states.revoked.pqPrekey, oneTimePrekeys: [] }),
  );
  expectAllSame(answers);
  expect(answers.activeOrg).toContain('"status":403');
  expect(await fx.relay.store.getDevice(`${states.unknownOrg.orgId}:forged`)).toBeNull();
});

it('finding 8: POST /v1/orgs gives one refusal for a certificate the root did not sign, whether its org id is unknown, active or revoked', async () => {
  const impostorRoot = fx.crypto.signKeyPair();
  const now = Date.now();
  const impostor = (orgId: string) =>
    issueOrgCertificate(
      fx.crypto,
      { networkId: network.anchor.networkId, orgId, name: 'Impostor', orgType: 'ngo', country: 'KZ', services: [], publicKey: toB64u(mallory.publicKey), serial: 99, issuedAt: now, expiresAt: now + DAY },
      impostorRoot.privateKey,
    );
  const answers: Record<string, string> = {};
  for (const org of [states.unknownOrg, states.activeOrg, states.revokedOrg]) {
    answers[org.orgId] = observed(await api(fx).post(ROUTES.orgs).send({ certificate: impostor(org.orgId) }));
  }
  expectAllSame(answers);
  expect(answers[states.activeOrg.orgId]).toContain('"status":403');
});

it('finding 8: POST /v1/revocations gives one refusal for a revocation its issuer did not sign, whether the issuer is unknown, active or revoked', async () => {
  const forged = (org: TestOrg): Revocation =>
    issueRevocation(
      fx.crypto,
      { networkId: network.anchor.networkId, issuer: org.orgId, seq: 2, subject: { type: 'device', orgId: org.orgId, deviceId: `${org.orgId}:someone` }, reason: 'x', revokedAt: Date.now() },
      mallory.privateKey,
    );
  const answers: Record<string, string> = {};
  for (const org of [states.unknownOrg, states.activeOrg, states.revokedOrg]) {
    answers[org.orgId] = observed(await api(fx).post(ROUTES.revocations).send({ revocation: forged(org) }));
  }
  // Signed by the root's key? No: by an outsider, in the root's name.
  const rootForged = issueRevocation(
    fx.crypto,
    { networkId: network.anchor.networkId, issuer: 'root', seq: 2, subject: { type: 'org', orgId: states.activeOrg.orgId }, reason: 'x', revokedAt: Date.now() },
    mallory.privateKey,
  );
  answers.root = observed(await api(fx).post(ROUTES.revocations).send({ revocation: rootForged }));
  expectAllSame(answers);
  expect(answers.root).toContain('"status":403');
});
