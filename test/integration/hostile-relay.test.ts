/**
 * The SDK against a compromised relay: a forwarding proxy in front of an
 * honest relay (on a real redis-server) rewrites answers and drops, replays
 * or injects socket frames. Each test is named after the review finding it
 * closes (issue 11) and failed on main before the fix.
 */
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate, issueOrgCertificate } from '../../shared/certificates';
import { loadCrypto } from '../../shared/crypto/sodium';
import { rotateSignedPrekeys, verifyBundle } from '../../shared/device-keys';
import { sealEnvelope } from '../../shared/envelope';
import { wireOf } from '../../shared/envelope-wire';
import { toB64u } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';
import { fingerprint } from '../../shared/fingerprint';
import type { BundlesResponse } from '../../shared/api';
import type { HandoverClient } from '../../client/sdk/client';
import { DAY, type TestDevice, TestNetwork, type TestOrg } from '../support/network';
import { HostileRelay, socketEventName } from '../support/hostile-relay';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, eventually, getJson, postJson, type RelayFixture, rawSocket, registerTestDevice, signInTestDevice, startTestRelay } from '../support/relay';

const THREAD = 'HostileRe1ayThreadAAAA';
let redis: TestRedis;
let fx: RelayFixture;
let proxy: HostileRelay;
let network: TestNetwork;
const clients: HandoverClient[] = [];

beforeAll(async () => {
  network = new TestNetwork(await loadCrypto(), Date.now());
  redis = await startRedis();
  fx = await startTestRelay(network, {
    redisUrl: redis.url,
    logLevel: 'silent',
    config: { rateLimits: { ipPerMinute: 100_000, sendPerMinute: 10_000, bundlesPerMinute: 10_000, connectPerMinute: 10_000 } },
  });
  proxy = await HostileRelay.start(fx.url);
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await proxy.close();
  await fx.close();
  await redis.destroy();
});
afterEach(() => {
  proxy.rewrites.length = 0;
  proxy.frameHooks.length = 0;
});

/** An SDK device that talks to the relay through the hostile proxy. */
async function viaProxy(org: TestOrg, name: string, opts: { connect?: boolean } = {}): Promise<HandoverClient> {
  const client = await enrolClient({ url: proxy.url, crypto: fx.crypto, network }, org, name, opts);
  clients.push(client);
  return client;
}

/** An SDK device that talks to the honest relay directly. */
async function direct(org: TestOrg, name: string): Promise<HandoverClient> {
  const client = await enrolClient(fx, org, name);
  clients.push(client);
  return client;
}

/** An attacker org with one registered device whose inbox the test can watch; returns its honest bundle answer. */
async function attackerOrg(id: string): Promise<{ org: TestOrg; deviceId: string; bundles: BundlesResponse }> {
  const org = network.addOrg(id, 'ngo');
  const device = network.addDevice(org, 'mallory', { oneTimePrekeys: 5 });
  expect((await registerTestDevice(fx.url, device)).status).toBe(201);
  // Fetched by a second device of the attacker org: the relay leaves a requester out of its own org's answer.
  const fetcher = network.addDevice(org, 'mallory-fetcher', { oneTimePrekeys: 0 });
  expect((await registerTestDevice(fx.url, fetcher)).status).toBe(201);
  const token = await signInTestDevice(fx, fetcher);
  const res = await getJson(fx.url, ROUTES.bundles(id), token);
  return { org, deviceId: device.keys.deviceId, bundles: res.json as BundlesResponse };
}

const inbox = (deviceId: string) => fx.relay.store.inboxLength(deviceId);

describe('finding 1: org substitution', () => {
  it('finding 1: a bundle answer for another certified org is refused; nothing is sealed to the attacker', async () => {
    const ngoOrg = network.addOrg('f1-ngo', 'ngo');
    const shelterOrg = network.addOrg('f1-shelter', 'shelter');
    const ngo = await viaProxy(ngoOrg, 'dana');
    const shelter = await direct(shelterOrg, 'amina');
    const attacker = await attackerOrg('f1-mallory');
    proxy.rewrite(/\/v1\/orgs\/f1-shelter\/bundles/, () => ({ status: 200, body: attacker.bundles }));

    const err = await ngo.send({ threadId: THREAD, orgIds: ['f1-shelter'], payload: { name: 'Aigerim' } }).catch((e: unknown) => e);
    expect(isHandoverError(err, 'UNTRUSTED_KEY')).toBe(true);
    expect((err as Error).message).toMatch(/f1-mallory.*f1-shelter/);
    expect(await inbox(attacker.deviceId)).toBe(0);
    expect(await inbox(shelter.deviceId)).toBe(0);
    expect(await ngo.threadMessages(THREAD)).toEqual([]);
  });

  it("finding 1: substituting the sender's own org (a silent copy of every message) is refused", async () => {
    const ngoOrg = network.addOrg('f1b-ngo', 'ngo');
    const shelterOrg = network.addOrg('f1b-shelter', 'shelter');
    const ngo = await viaProxy(ngoOrg, 'dana');
    await direct(shelterOrg, 'amina');
    const attacker = await attackerOrg('f1b-mallory');
    proxy.rewrite(/\/v1\/orgs\/f1b-ngo\/bundles/, () => ({ status: 200, body: attacker.bundles }));

    const err = await ngo.send({ threadId: THREAD, orgIds: ['f1b-shelter'], payload: 'x' }).catch((e: unknown) => e);
    expect(isHandoverError(err, 'UNTRUSTED_KEY')).toBe(true);
    expect(await inbox(attacker.deviceId)).toBe(0);
  });

  it('finding 1: an attacker device slipped into the right org\'s answer is refused', async () => {
    const ngoOrg = network.addOrg('f1c-ngo', 'ngo');
    const shelterOrg = network.addOrg('f1c-shelter', 'shelter');
    const ngo = await viaProxy(ngoOrg, 'dana');
    await direct(shelterOrg, 'amina');
    const attacker = await attackerOrg('f1c-mallory');
    proxy.rewrite(/\/v1\/orgs\/f1c-shelter\/bundles/, (ex) => {
      const honest = ex.body as BundlesResponse;
      return { status: 200, body: { org: honest.org, bundles: [...honest.bundles, ...attacker.bundles.bundles] } };
    });
    const err = await ngo.send({ threadId: THREAD, orgIds: ['f1c-shelter'], payload: 'x' }).catch((e: unknown) => e);
    expect(isHandoverError(err, 'UNTRUSTED_KEY')).toBe(true);
    expect(await inbox(attacker.deviceId)).toBe(0);
  });

  it('finding 1: a root-signed certificate with another key for a pinned org is a visible key change, not used; an older key is a rollback', async () => {
    const ngoOrg = network.addOrg('f1d-ngo', 'ngo');
    const shelterOrg = network.addOrg('f1d-shelter', 'shelter');
    const ngo = await viaProxy(ngoOrg, 'dana');
    const shelter = await direct(shelterOrg, 'amina');
    await ngo.send({ threadId: THREAD, orgIds: ['f1d-shelter'], payload: 'first' }); // pins f1d-shelter's key
    await eventually(async () => (await shelter.threadMessages(THREAD)).length === 1, 10_000, 'first delivery');

    // The root key (or a careless coordinator) certified a new key for the shelter; the relay serves it with devices under it.
    const impostorKeys = fx.crypto.signKeyPair();
    const rekeyed = (serial: number) =>
      issueOrgCertificate(
        fx.crypto,
        { ...withoutSignature(shelterOrg.certificate), publicKey: toB64u(impostorKeys.publicKey), serial, issuedAt: Date.now() - 1000 },
        network.root.privateKey,
      );
    const impostorOrg: TestOrg = { orgId: 'f1d-shelter', keys: impostorKeys, certificate: rekeyed(shelterOrg.certificate.serial + 100) };
    const impostorDevice = network.addDevice(impostorOrg, 'f1d-shelter:amina');
    const forged: BundlesResponse = { org: impostorOrg.certificate, bundles: [network.bundle(impostorDevice)] };
    const stop = proxy.rewrite(/\/v1\/orgs\/f1d-shelter\/bundles/, () => ({ status: 200, body: forged }));

    const err = await ngo.send({ threadId: THREAD, orgIds: ['f1d-shelter'], payload: 'second' }).catch((e: unknown) => e);
    expect(isHandoverError(err, 'UNTRUSTED_KEY')).toBe(true);
    expect((err as Error).message).toMatch(/NEW org key/);
    const changes = ngo.trust.pendingKeyChanges();
    expect(changes.map((c) => c.orgId)).toEqual(['f1d-shelter']);
    expect(changes[0]?.certificate.publicKey).toBe(toB64u(impostorKeys.publicKey));
    // A wrong fingerprint read over the phone does not pin it.
    await expect(ngo.trust.acceptOrgKey('f1d-shelter', '00000 '.repeat(12))).rejects.toMatchObject({ code: 'UNTRUSTED_KEY' });

    // The same key with a serial below the pinned one: a rollback, refused outright.
    const older: BundlesResponse = { org: rekeyed(shelterOrg.certificate.serial), bundles: forged.bundles };
    stop();
    const stopOld = proxy.rewrite(/\/v1\/orgs\/f1d-shelter\/bundles/, () => ({ status: 200, body: older }));
    const rollback = await ngo.send({ threadId: THREAD, orgIds: ['f1d-shelter'], payload: 'third' }).catch((e: unknown) => e);
    expect((rollback as Error).message).toMatch(/rollback/);
    stopOld();

    // The honest answer still works with the pinned key.
    await ngo.send({ threadId: THREAD, orgIds: ['f1d-shelter'], payload: 'fourth' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).length === 2, 10_000, 'delivery under the pinned key');
  });

  it('finding 1: a genuine re-key is confirmed by fingerprint, then used (re-key-org end to end)', async () => {
    const ngoOrg = network.addOrg('f1e-ngo', 'ngo');
    const shelterOrg = network.addOrg('f1e-shelter', 'shelter');
    const ngo = await direct(ngoOrg, 'dana');
    const shelter = await direct(shelterOrg, 'amina');
    await ngo.send({ threadId: THREAD, orgIds: ['f1e-shelter'], payload: 'before' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).length === 1, 10_000, 'before re-key');

    // The shelter's admin gets a new org key certified and re-certifies its device under it.
    const newKeys = fx.crypto.signKeyPair();
    const now = Date.now();
    const newCert = issueOrgCertificate(
      fx.crypto,
      { ...withoutSignature(shelterOrg.certificate), publicKey: toB64u(newKeys.publicKey), serial: shelterOrg.certificate.serial + 1, issuedAt: now - 500, expiresAt: now + 365 * DAY },
      network.root.privateKey,
    );
    expect((await postJson(fx.url, ROUTES.orgs, { certificate: newCert })).status).toBeLessThan(300);
    const deviceCert = issueDeviceCertificate(fx.crypto, {
      request: shelter.enrolmentRequest(),
      orgCertificate: newCert,
      orgPrivateKey: newKeys.privateKey,
      role: 'caseworker',
      issuedAt: now - 400,
      expiresAt: now + 90 * DAY,
    });
    await shelter.importCertificates(newCert, deviceCert);
    await shelter.register();

    const err = await ngo.send({ threadId: THREAD, orgIds: ['f1e-shelter'], payload: 'unconfirmed' }).catch((e: unknown) => e);
    expect(isHandoverError(err, 'UNTRUSTED_KEY')).toBe(true);
    const told = fingerprint(fx.crypto, 'org', 'f1e-shelter', newKeys.publicKey);
    await ngo.trust.acceptOrgKey('f1e-shelter', told);
    expect(ngo.trust.pendingKeyChanges()).toEqual([]);
    await ngo.send({ threadId: THREAD, orgIds: ['f1e-shelter'], payload: 'after' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.payload === 'after'), 10_000, 'delivery after the confirmed re-key');
  });
});

describe('finding 3: sign-in after an issuer org is revoked, expires or is re-keyed', () => {
  /** An org that revoked one of its devices: the situation that broke sign-in. */
  async function orgWithRevokedDevice(id: string, overrides: Parameters<TestNetwork['addOrg']>[2] = {}) {
    const org = network.addOrg(id, 'ngo', overrides);
    const lost = network.addDevice(org, 'lost-phone');
    expect((await registerTestDevice(fx.url, lost)).status).toBe(201);
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(lost) })).status).toBe(201);
    return { org, lost };
  }

  it('finding 3: revoke-org — a fresh device signs in after the root revokes an org that had revoked a device', async () => {
    const { org, lost } = await orgWithRevokedDevice('f3-revoked');
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeOrg(org) })).status).toBe(201);
    const fresh = await direct(network.addOrg('f3-fresh-a', 'shelter'), 'newbie');
    expect(fresh.trust.revocationStatus().isDeviceRevoked(lost.keys.deviceId, org.orgId)).toBe(true);
    expect(fresh.trust.revocationStatus().isOrgRevoked(org.orgId)).toBe(true);
    expect(fresh.trust.unverifiableRevocations()).toEqual([]);
  });

  it('finding 3: expire-org — a fresh device signs in after the issuer org\'s certificate expired', async () => {
    const now = Date.now();
    const { org, lost } = await orgWithRevokedDevice('f3-expiring', { issuedAt: now - DAY, expiresAt: now + 2500 });
    await new Promise((r) => setTimeout(r, 2700));
    const fresh = await direct(network.addOrg('f3-fresh-b', 'shelter'), 'newbie');
    expect(fresh.trust.revocationStatus().isDeviceRevoked(lost.keys.deviceId, org.orgId)).toBe(true);
    expect(fresh.trust.unverifiableRevocations()).toEqual([]);
  });

  it('finding 3: re-key-org — a fresh device signs in after the issuer org moved to a new key', async () => {
    const { org, lost } = await orgWithRevokedDevice('f3-rekeyed');
    const newKeys = fx.crypto.signKeyPair();
    const rekeyed = issueOrgCertificate(
      fx.crypto,
      { ...withoutSignature(org.certificate), publicKey: toB64u(newKeys.publicKey), serial: org.certificate.serial + 1, issuedAt: Date.now() - 500 },
      network.root.privateKey,
    );
    expect((await postJson(fx.url, ROUTES.orgs, { certificate: rekeyed })).status).toBeLessThan(300);
    const fresh = await direct(network.addOrg('f3-fresh-c', 'shelter'), 'newbie');
    expect(fresh.trust.revocationStatus().isDeviceRevoked(lost.keys.deviceId, org.orgId)).toBe(true);
  });

  it('finding 3: a revocation the relay forged or cannot back with an issuer certificate revokes its subject and never stops sign-in', async () => {
    const { org, lost } = await orgWithRevokedDevice('f3-hidden-issuer');
    // The hostile relay withholds every issuer certificate and adds a forged entry for another org's device.
    const victimOrg = network.addOrg('f3-victim', 'shelter');
    const victim = network.addDevice(victimOrg, 'amina');
    const forged = { ...network.revokeDevice(victim), signature: toB64u(fx.crypto.sign(new Uint8Array([1]), victimOrg.keys.privateKey)) };
    proxy.rewrite(/\/v1\/revocations$/, (ex) => {
      const honest = ex.body as { revocations: unknown[] };
      return { status: 200, body: { revocations: [...honest.revocations, forged], issuers: [] } };
    });
    const fresh = await viaProxy(network.addOrg('f3-fresh-d', 'shelter'), 'newbie');
    const unverifiable = fresh.trust.unverifiableRevocations();
    expect(unverifiable.map((u) => u.issuer).sort()).toEqual(expect.arrayContaining([org.orgId, 'f3-victim']));
    expect(fresh.trust.revocationStatus().isDeviceRevoked(lost.keys.deviceId, org.orgId)).toBe(true);
    expect(fresh.trust.revocationStatus().isDeviceRevoked(victim.keys.deviceId, victimOrg.orgId)).toBe(true);
  });
});

describe('finding 4: a relay failure is never a failure of the message', () => {
  it('finding 4: RATE_LIMITED while looking up a new sender leaves the envelope in the inbox; it is opened when the relay answers again', async () => {
    const shelterOrg = network.addOrg('f4-shelter', 'shelter');
    const shelter = await viaProxy(shelterOrg, 'amina');
    const failed: Array<{ code: string; pending: boolean }> = [];
    shelter.on('failed', (f) => failed.push(f));
    const delivered: string[] = [];
    // The sender is new to the shelter: opening needs a directory lookup, which the relay refuses.
    const stop = proxy.rewrite(/^\/v1\/orgs$/, () => ({ status: 429, body: { error: { code: 'RATE_LIMITED', message: 'slow down' } } }));
    const ngo = await direct(network.addOrg('f4-ngo', 'ngo'), 'dana');
    ngo.on('delivered', (n) => delivered.push(n.recipientDeviceId));
    const sent = await ngo.send({ threadId: THREAD, orgIds: ['f4-shelter'], payload: { name: 'Aigerim' } });

    await eventually(() => failed.length > 0, 10_000, 'a failed attempt');
    expect(failed[0]).toMatchObject({ code: 'RATE_LIMITED', pending: true });
    expect(await inbox(shelter.deviceId)).toBe(1); // not acked away
    expect(delivered).toEqual([]); // the sender is not told "delivered"
    expect((await shelter.failedMessages()).find((f) => f.messageId === sent.messageId)?.pending).toBe(true);

    stop();
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.messageId === sent.messageId), 15_000, 'opened after the relay recovers');
    await eventually(async () => (await inbox(shelter.deviceId)) === 0, 5000, 'acked');
    await eventually(() => delivered.includes(shelter.deviceId), 5000, 'delivered notice');
    expect(await shelter.failedMessages()).toEqual([]);
  });

  it('finding 4: an envelope that fails in itself (bad signature) is acked and recorded, and the socket keeps working', async () => {
    const shelterOrg = network.addOrg('f4b-shelter', 'shelter');
    const shelter = await viaProxy(shelterOrg, 'amina');
    const ngo = await direct(network.addOrg('f4b-ngo', 'ngo'), 'dana');
    // The hostile relay flips a bit of the signature of the first envelope it delivers: in the
    // binary attachment (the version 2 frame) that follows the first envelope:deliver packet.
    let state: 'waiting' | 'next-binary' | 'done' = 'waiting';
    proxy.onFrame((frame, direction) => {
      if (state === 'done' || direction !== 'to-client') return undefined;
      if (state === 'waiting') {
        if (socketEventName(frame) === 'envelope:deliver') state = 'next-binary';
        return undefined;
      }
      if (typeof frame === 'string') return undefined;
      state = 'done';
      const changed = Buffer.from(frame);
      const headerLength = changed.readUInt32BE(1);
      changed[5 + headerLength + 3] = (changed[5 + headerLength + 3] ?? 0) ^ 1;
      return changed;
    });
    const first = await ngo.send({ threadId: THREAD, orgIds: ['f4b-shelter'], payload: 'tampered on the way' });
    const second = await ngo.send({ threadId: THREAD, orgIds: ['f4b-shelter'], payload: 'intact' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.messageId === second.messageId), 10_000, 'second message');
    const failures = await shelter.failedMessages();
    expect(failures).toEqual([expect.objectContaining({ messageId: first.messageId, code: 'BAD_SIGNATURE', pending: false })]);
    await eventually(async () => (await inbox(shelter.deviceId)) === 0, 5000, 'both acked');
  });

  it('finding 4: an envelope from a sender revoked meanwhile is acked away (it can never be opened), not retried', async () => {
    const shelter = await direct(network.addOrg('f4c-shelter', 'shelter'), 'amina');
    await shelter.close(); // away while the sender is revoked
    const ngoOrg = network.addOrg('f4c-ngo', 'ngo');
    const sender = network.addDevice(ngoOrg, 'stolen-laptop');
    expect((await registerTestDevice(fx.url, sender)).status).toBe(201);
    // The thief's envelope, sealed with the stolen device's keys, waits in the shelter's inbox...
    const token = await signInTestDevice(fx, sender);
    const sealed = await sealFrom(sender, shelter.deviceId, token);
    expect(await inbox(shelter.deviceId)).toBe(1);
    // ...then the NGO revokes the stolen laptop.
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(sender) })).status).toBe(201);
    const failed: Array<{ code: string; pending: boolean }> = [];
    shelter.on('failed', (f) => failed.push(f));
    await shelter.connect();
    await eventually(() => failed.length > 0, 10_000, 'refusal');
    expect(failed[0]).toMatchObject({ code: 'REVOKED', pending: false });
    await eventually(async () => (await inbox(shelter.deviceId)) === 0, 5000, 'acked away');
    expect(await shelter.threadMessages(THREAD)).toEqual([]);
    expect(sealed).toBeTruthy();
  });
});

describe('finding 9: prekey age', () => {
  it('finding 9: a 400-day-old or a future-dated signed prekey is refused by the sender', async () => {
    const shelterOrg = network.addOrg('f9-shelter', 'shelter');
    const device = network.addDevice(shelterOrg, 'old-laptop');
    expect((await registerTestDevice(fx.url, device)).status).toBe(201);
    const ngo = await viaProxy(network.addOrg('f9-ngo', 'ngo'), 'dana');
    const sendOnce = () => ngo.send({ threadId: THREAD, orgIds: ['f9-shelter'], payload: 'x' }).catch((e: unknown) => e);
    // Prekeys properly signed by the device, but dated long ago / in the future; the relay replays them.
    for (const [label, createdAt] of [
      ['400 days old', Date.now() - 400 * DAY],
      ['future-dated', Date.now() + 2 * DAY],
    ] as const) {
      const { signedPrekey, pqPrekey } = rotateSignedPrekeys(fx.crypto, device.keys, createdAt);
      const stop = proxy.rewrite(/\/v1\/orgs\/f9-shelter\/bundles/, (ex) => {
        const honest = ex.body as BundlesResponse;
        return { status: 200, body: { ...honest, bundles: honest.bundles.map((b) => ({ ...b, signedPrekey, pqPrekey })) } };
      });
      const err = await sendOnce();
      stop();
      expect([label, isHandoverError(err, 'UNTRUSTED_KEY')]).toEqual([label, true]);
      expect((err as Error).message).toMatch(/old-laptop/);
    }
    expect(await inbox(device.keys.deviceId)).toBe(0);
    // The honest bundle (fresh prekeys) works.
    await ngo.send({ threadId: THREAD, orgIds: ['f9-shelter'], payload: 'ok' });
    expect(await inbox(device.keys.deviceId)).toBe(1);
  });
});

describe('withheld, replayed and injected frames', () => {
  it('a delivery frame replayed by the relay is stored once', async () => {
    const shelter = await viaProxy(network.addOrg('fr-shelter', 'shelter'), 'amina');
    const ngo = await direct(network.addOrg('fr-ngo', 'ngo'), 'dana');
    // A delivery is its packet and, for a version 2 frame, the binary attachment that follows it.
    const captured: Array<string | Buffer> = [];
    let attachmentNext = false;
    proxy.onFrame((frame, direction) => {
      if (direction !== 'to-client') return undefined;
      if (attachmentNext && typeof frame !== 'string') {
        captured.push(Buffer.from(frame));
        attachmentNext = false;
      } else if (socketEventName(frame) === 'envelope:deliver' && typeof frame === 'string') {
        captured.push(frame);
        attachmentNext = frame.startsWith('45');
      }
      return undefined;
    });
    const sent = await ngo.send({ threadId: THREAD, orgIds: ['fr-shelter'], payload: 'once' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).length === 1, 10_000, 'delivery');
    expect(captured.length).toBeGreaterThan(0);
    for (const frame of captured) proxy.injectToClients(frame);
    await new Promise((r) => setTimeout(r, 300));
    await shelter.idle();
    const stored = await shelter.threadMessages(THREAD);
    expect(stored.map((m) => m.messageId)).toEqual([sent.messageId]);
  });

  it('acks the relay never received: the envelope comes again after a reconnect and is stored once', async () => {
    const shelter = await viaProxy(network.addOrg('fa-shelter', 'shelter'), 'amina');
    const ngo = await direct(network.addOrg('fa-ngo', 'ngo'), 'dana');
    const dropAcks = proxy.onFrame((frame, direction) => (direction === 'to-relay' && socketEventName(frame) === 'envelope:ack' ? 'drop' : undefined));
    const sent = await ngo.send({ threadId: THREAD, orgIds: ['fa-shelter'], payload: 'again' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).length === 1, 10_000, 'delivery');
    expect(await inbox(shelter.deviceId)).toBe(1);
    dropAcks();
    proxy.cutAll(); // the SDK reconnects; the relay replays its inbox
    await eventually(async () => (await inbox(shelter.deviceId)) === 0, 15_000, 'acked after reconnect');
    expect((await shelter.threadMessages(THREAD)).map((m) => m.messageId)).toEqual([sent.messageId]);
  });

  it('a garbage delivery frame injected by the relay is recorded as a failure; the client keeps working', async () => {
    const shelter = await viaProxy(network.addOrg('fg-shelter', 'shelter'), 'amina');
    const ngo = await direct(network.addOrg('fg-ngo', 'ngo'), 'dana');
    proxy.injectToClients('42["envelope:deliver",{"envelope":{"header":{"messageId":"AAAAAAAAAAAAAAAAAAAAAA"},"signature":"x","ciphertext":"not binary"},"storedAt":1}]');
    const sent = await ngo.send({ threadId: THREAD, orgIds: ['fg-shelter'], payload: 'real' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.messageId === sent.messageId), 10_000, 'real delivery');
    const failures = await shelter.failedMessages();
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.every((f) => f.pending === false)).toBe(true);
  });

  it.each([
    ['truncated', (f: Buffer) => f.subarray(0, f.length - 1)],
    ['with trailing bytes', (f: Buffer) => Buffer.concat([f, Buffer.alloc(16)])],
    ['with an oversize recipient count', (f: Buffer) => {
      const out = Buffer.from(f);
      out.writeUInt16BE(0xffff, 5 + 1 + 16 + 16 + 1 + (out[5 + 1 + 32] ?? 0) + 8 + 32 + 24);
      return out;
    }],
    ['with a header length beyond the frame', (f: Buffer) => {
      const out = Buffer.from(f);
      out.writeUInt32BE(0xffff_ff00, 1);
      return out;
    }],
  ])('a version 2 frame %s on the way is recorded as a failure and acked away; the next one arrives', async (_name, mangle) => {
    const tag = `fv${Math.random().toString(36).slice(2, 7)}`;
    const shelter = await viaProxy(network.addOrg(`${tag}-shelter`, 'shelter'), 'amina');
    const ngo = await direct(network.addOrg(`${tag}-ngo`, 'ngo'), 'dana');
    let state: 'waiting' | 'next-binary' | 'done' = 'waiting';
    proxy.onFrame((frame, direction) => {
      if (state === 'done' || direction !== 'to-client') return undefined;
      if (state === 'waiting') {
        if (socketEventName(frame) === 'envelope:deliver') state = 'next-binary';
        return undefined;
      }
      if (typeof frame === 'string') return undefined;
      state = 'done';
      return mangle(Buffer.from(frame));
    });
    const first = await ngo.send({ threadId: THREAD, orgIds: [`${tag}-shelter`], payload: 'mangled on the way' });
    const second = await ngo.send({ threadId: THREAD, orgIds: [`${tag}-shelter`], payload: 'intact' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.messageId === second.messageId), 10_000, 'second message');
    expect(await shelter.failedMessages()).toEqual([expect.objectContaining({ messageId: first.messageId, code: 'BAD_REQUEST', pending: false })]);
    expect((await shelter.threadMessages(THREAD)).map((m) => m.messageId)).toEqual([second.messageId]);
    await eventually(async () => (await inbox(shelter.deviceId)) === 0, 5000, 'both acked');
  });
});

describe('background work the relay makes fail is reported, never silent', () => {
  it('a prekey refill the relay refuses surfaces as a problem event; the client keeps working', async () => {
    const shelter = await viaProxy(network.addOrg('pb-shelter', 'shelter'), 'amina');
    const problems: Array<{ what: string; code: string }> = [];
    shelter.on('problem', (p) => problems.push(p));
    proxy.rewrites.push((x) => (x.method === 'POST' && x.path.includes('one-time-prekeys') ? { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'down for maintenance' } } } : undefined));
    proxy.injectToClients('42["prekeys:low",{"remaining":0}]');
    await eventually(() => problems.length > 0, 10_000, 'the problem event');
    expect(problems[0]).toMatchObject({ what: 'prekey-refill', code: 'UNAVAILABLE' });
    const ngo = await direct(network.addOrg('pb-ngo', 'ngo'), 'dana');
    const sent = await ngo.send({ threadId: THREAD, orgIds: ['pb-shelter'], payload: 'still delivered' });
    await eventually(async () => (await shelter.threadMessages(THREAD)).some((m) => m.messageId === sent.messageId), 10_000, 'delivery after the problem');
  });
});

/** Seal and send one envelope from a TestNetwork device (keys held by the test) over a raw socket. */
async function sealFrom(sender: TestDevice, recipientDeviceId: string, token: string): Promise<string> {
  const recipientOrg = recipientDeviceId.split(':')[0] ?? '';
  const bundles = (await getJson(fx.url, ROUTES.bundles(recipientOrg), token)).json as BundlesResponse;
  const recipients = bundles.bundles.map((b) => verifyBundle(network.anchor, bundles.org, b, { now: Date.now() }));
  const body = new TextEncoder().encode(JSON.stringify({ v: 1, threadId: THREAD, orgIds: [recipientOrg, sender.org.orgId], payload: 'from a stolen laptop' }));
  const envelope = sealEnvelope(fx.crypto, { sender: network.senderKeys(sender), recipients, threadId: THREAD, sentAt: Date.now(), body });
  const socket = await rawSocket(fx.url, token);
  try {
    const res = await socket.timeout(5000).emitWithAck('envelope:send', wireOf(envelope));
    if (!res.ok) throw new Error(JSON.stringify(res.error));
  } finally {
    socket.close();
  }
  return envelope.header.messageId;
}

function withoutSignature<T extends { signature: string }>(value: T): Omit<T, 'signature' | 'v' | 'kind'> {
  const { signature: _s, v: _v, kind: _k, ...rest } = value as T & { v: unknown; kind: unknown };
  return rest;
}
