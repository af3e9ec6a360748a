/**
 * The TrustStore on its own: which org keys a device pins and when it
 * refuses one (first sight, renewal, key change until a person confirms
 * it, rollback), the revocation list with the keys its issuers once held,
 * and entries that expire. The relay is the real RelayApi over a fetch
 * that serves what the test puts in `relay` — every answer still goes
 * through the API's schema checks — so no relay process is needed.
 */
import { ROUTES } from '../../../shared/api';
import { issueOrgCertificate, issueRevocation } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { type Crypto, PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { type HandoverError, isHandoverError } from '../../../shared/errors';
import type { DeviceCertificate, OrgCertificate, Revocation } from '../../../shared/schemas';
import { RelayApi } from '../../../client/sdk/relay-api';
import { MemoryStorage } from '../../../client/sdk/storage';
import { TrustStore } from '../../../client/sdk/trust';
import { Vault } from '../../../client/sdk/vault';
import { DAY, T0, type TestOrg, TestNetwork } from '../../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

/** What the relay serves: the directory and the revocation list with its issuers' certificates. */
interface RelayState {
  orgs: Array<{ certificate: OrgCertificate; devices: DeviceCertificate[] }>;
  revocations: Revocation[];
  issuers: OrgCertificate[];
}

function servedBy(relay: RelayState): typeof fetch {
  return async (input) => {
    const { pathname } = new URL(input instanceof Request ? input.url : String(input));
    const body =
      pathname === ROUTES.orgs ? { orgs: relay.orgs } : pathname === ROUTES.revocations ? { revocations: relay.revocations, issuers: relay.issuers } : undefined;
    if (!body) return Response.json({ error: { code: 'NOT_FOUND', message: `no route ${pathname}` } }, { status: 404 });
    return Response.json(body);
  };
}

interface Fixture {
  network: TestNetwork;
  relay: RelayState;
  clock: { now: number };
  storage: MemoryStorage;
  trust: TrustStore;
  /** A second TrustStore over the same vault, as after a restart. */
  reopen(): Promise<TrustStore>;
}

const PASS = 'correct horse battery staple';

async function fixture(): Promise<Fixture> {
  const network = new TestNetwork(crypto);
  const relay: RelayState = { orgs: [], revocations: [], issuers: [] };
  const clock = { now: T0 };
  const storage = new MemoryStorage();
  const open = async (vault: Vault) => {
    const api = new RelayApi('http://relay.invalid', servedBy(relay));
    api.setToken('t'.repeat(43));
    const store = new TrustStore(network.anchor, api, vault, () => clock.now);
    await store.load();
    return store;
  };
  const trust = await open(await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY));
  return { network, relay, clock, storage, trust, reopen: async () => open(await Vault.unlock(crypto, storage, PASS)) };
}

/** The same org key certified again by the root with a later serial: a renewal. */
function renewed(network: TestNetwork, org: TestOrg, serial: number): OrgCertificate {
  const { signature: _signature, ...body } = org.certificate;
  return issueOrgCertificate(crypto, { ...body, serial, issuedAt: network.now, expiresAt: network.now + 400 * DAY }, network.root.privateKey);
}

async function refusal(work: Promise<unknown>): Promise<HandoverError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHandoverError(err)) throw new Error(`expected a HandoverError, got ${String(err)}`);
  return err;
}

describe('org pinning', () => {
  it('pins an org on its first verified sight and lists it', async () => {
    const { network, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    expect(trust.pinned('ngo-a')).toBeUndefined();
    expect(await trust.admitOrg(org.certificate)).toEqual(org.certificate);
    expect(trust.pinned('ngo-a')).toEqual(org.certificate);
    expect(trust.listOrgs().map((c) => c.orgId)).toEqual(['ngo-a']);
  });

  it('refuses an org certificate the network root did not sign, and pins nothing', async () => {
    const { trust } = await fixture();
    const elsewhere = new TestNetwork(crypto).addOrg('ngo-a');
    expect((await refusal(trust.admitOrg(elsewhere.certificate))).code).toBe('UNTRUSTED_KEY');
    expect(trust.pinned('ngo-a')).toBeUndefined();
  });

  it('a renewal with the same key and a later serial replaces the pin; an older one with that key does not', async () => {
    const { network, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    await trust.admitOrg(org.certificate);
    const renewal = renewed(network, org, org.certificate.serial + 10);
    await trust.admitOrg(renewal);
    expect(trust.pinned('ngo-a')).toEqual(renewal);
    await trust.admitOrg(org.certificate);
    expect(trust.pinned('ngo-a')).toEqual(renewal);
    expect(trust.pendingKeyChanges()).toEqual([]);
  });

  it('a new key is refused (UNTRUSTED_KEY, keyChanged) and recorded once as a pending change; the old pin stays', async () => {
    const { network, trust, clock } = await fixture();
    const first = network.addOrg('ngo-a');
    await trust.admitOrg(first.certificate);
    const rekeyed = network.addOrg('ngo-a');

    const err = await refusal(trust.admitOrg(rekeyed.certificate));
    expect(err.code).toBe('UNTRUSTED_KEY');
    expect(err.details).toEqual({ orgId: 'ngo-a', keyChanged: true, fingerprint: trust.orgFingerprint(rekeyed.certificate) });
    expect(err.message).toContain('handover trust accept-org-key ngo-a');
    expect(trust.pinned('ngo-a')).toEqual(first.certificate);

    clock.now += 60_000;
    await refusal(trust.admitOrg(rekeyed.certificate));
    expect(trust.pendingKeyChanges()).toEqual([
      { orgId: 'ngo-a', certificate: rekeyed.certificate, previousPublicKey: first.certificate.publicKey, seenAt: T0 },
    ]);
  });

  it('acceptOrgKey refuses a wrong fingerprint and keeps the old pin; the right one (spaces optional) pins the new key', async () => {
    const { network, trust } = await fixture();
    const first = network.addOrg('ngo-a');
    await trust.admitOrg(first.certificate);
    const rekeyed = network.addOrg('ngo-a');
    await refusal(trust.admitOrg(rekeyed.certificate));

    const wrong = await refusal(trust.acceptOrgKey('ngo-a', trust.orgFingerprint(first.certificate)));
    expect(wrong.code).toBe('UNTRUSTED_KEY');
    expect(trust.pinned('ngo-a')).toEqual(first.certificate);
    expect(trust.pendingKeyChanges()).toHaveLength(1);

    const accepted = await trust.acceptOrgKey('ngo-a', trust.orgFingerprint(rekeyed.certificate).replace(/ /g, ''));
    expect(accepted).toEqual(rekeyed.certificate);
    expect(trust.pinned('ngo-a')).toEqual(rekeyed.certificate);
    expect(trust.pendingKeyChanges()).toEqual([]);
    expect(await trust.admitOrg(rekeyed.certificate)).toEqual(rekeyed.certificate);
  });

  it('acceptOrgKey without a pending change is BAD_REQUEST', async () => {
    const { network, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    await trust.admitOrg(org.certificate);
    expect((await refusal(trust.acceptOrgKey('ngo-a', trust.orgFingerprint(org.certificate)))).code).toBe('BAD_REQUEST');
  });

  it('acceptOrgKey refuses a new key that expired while it waited', async () => {
    const { network, trust, clock } = await fixture();
    await trust.admitOrg(network.addOrg('ngo-a').certificate);
    const rekeyed = network.addOrg('ngo-a', 'ngo', { expiresAt: T0 + DAY });
    await refusal(trust.admitOrg(rekeyed.certificate));
    clock.now = T0 + 2 * DAY;
    expect((await refusal(trust.acceptOrgKey('ngo-a', trust.orgFingerprint(rekeyed.certificate)))).code).toBe('EXPIRED');
    expect(trust.pinned('ngo-a')?.publicKey).not.toBe(rekeyed.certificate.publicKey);
  });

  it('another key with a serial not above the pinned one is refused as a rollback, not offered as a key change', async () => {
    const { network, trust } = await fixture();
    const older = network.addOrg('ngo-a');
    const newer = network.addOrg('ngo-a');
    await trust.admitOrg(newer.certificate);
    const err = await refusal(trust.admitOrg(older.certificate));
    expect(err.code).toBe('UNTRUSTED_KEY');
    expect(err.message).toMatch(/rollback/);
    expect(err.details).toBeUndefined();
    expect(trust.pendingKeyChanges()).toEqual([]);
    expect(trust.pinned('ngo-a')).toEqual(newer.certificate);
  });

  it('pins and pending key changes survive a restart', async () => {
    const f = await fixture();
    const first = f.network.addOrg('ngo-a');
    const other = f.network.addOrg('ngo-b');
    await f.trust.admitOrg(first.certificate);
    await f.trust.admitOrg(other.certificate);
    const rekeyed = f.network.addOrg('ngo-a');
    await refusal(f.trust.admitOrg(rekeyed.certificate));

    const again = await f.reopen();
    expect(again.pinned('ngo-a')).toEqual(first.certificate);
    expect(again.pinned('ngo-b')).toEqual(other.certificate);
    expect(again.pendingKeyChanges().map((c) => c.certificate)).toEqual([rekeyed.certificate]);
    // Still refused after the restart, until confirmed.
    expect((await refusal(again.admitOrg(rekeyed.certificate))).details).toMatchObject({ keyChanged: true });
  });

  it('pinOwnOrg replaces an earlier pin on purpose and clears its pending change', async () => {
    const { network, trust } = await fixture();
    await trust.admitOrg(network.addOrg('ngo-own').certificate);
    const imported = network.addOrg('ngo-own');
    await refusal(trust.admitOrg(imported.certificate));
    await trust.pinOwnOrg(imported.certificate);
    expect(trust.pinned('ngo-own')).toEqual(imported.certificate);
    expect(trust.pendingKeyChanges()).toEqual([]);
  });
});

describe('directory', () => {
  it('keeps the devices whose chain verifies under the pinned org key and reports the rest', async () => {
    const { network, relay, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    const good = network.addDevice(org, 'good');
    const impostorOrg = new TestNetwork(crypto).addOrg('ngo-a');
    const forged = network.addDevice(impostorOrg, 'forged');
    relay.orgs = [{ certificate: org.certificate, devices: [good.certificate, forged.certificate] }];

    const { refused } = await trust.refreshDirectory();
    expect(trust.listDevices('ngo-a').map((d) => d.certificate.deviceId)).toEqual(['ngo-a:good']);
    expect(refused).toEqual([{ id: 'ngo-a:forged', code: expect.any(String) }]);
  });

  it('a device listed twice is trusted in neither place', async () => {
    const { network, relay, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    const device = network.addDevice(org, 'twice');
    relay.orgs = [
      { certificate: org.certificate, devices: [device.certificate] },
      { certificate: org.certificate, devices: [device.certificate] },
    ];
    const { refused } = await trust.refreshDirectory();
    expect(trust.listDevices()).toEqual([]);
    expect(refused).toContainEqual({ id: 'ngo-a:twice', code: 'UNTRUSTED_KEY' });
  });

  it("after a new org key is accepted, devices certified by the old key are not used", async () => {
    const { network, relay, trust } = await fixture();
    const first = network.addOrg('ngo-a');
    const oldDevice = network.addDevice(first, 'old');
    relay.orgs = [{ certificate: first.certificate, devices: [oldDevice.certificate] }];
    await trust.refreshDirectory();
    expect(trust.listDevices('ngo-a')).toHaveLength(1);

    const rekeyed = network.addOrg('ngo-a');
    await refusal(trust.admitOrg(rekeyed.certificate));
    await trust.acceptOrgKey('ngo-a', trust.orgFingerprint(rekeyed.certificate));
    expect(trust.listDevices('ngo-a')).toEqual([]);
  });

  it('a device unknown at first is found by one refresh; one nobody lists is UNTRUSTED_KEY', async () => {
    const { network, relay, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    const device = network.addDevice(org, 'late');
    relay.orgs = [{ certificate: org.certificate, devices: [device.certificate] }];
    expect((await trust.device('ngo-a:late')).certificate).toEqual(device.certificate);
    expect((await refusal(trust.device('ngo-a:nobody'))).code).toBe('UNTRUSTED_KEY');
  });
});

describe('revocations', () => {
  it('a device revocation signed with a key its org no longer holds verifies through the historic issuer certificates', async () => {
    const { network, relay, trust } = await fixture();
    const before = network.addOrg('ngo-a');
    const lost = network.addDevice(before, 'lost');
    const revocation = network.revokeDevice(lost);
    // The org moved to a new key; this device only ever saw the new one.
    const now = network.addOrg('ngo-a');
    await trust.pinOwnOrg(now.certificate);
    relay.revocations = [revocation];
    relay.issuers = [before.certificate, now.certificate];

    await trust.syncRevocations();
    expect(trust.unverifiableRevocations()).toEqual([]);
    expect(trust.revocationStatus().isDeviceRevoked('ngo-a:lost', 'ngo-a')).toBe(true);
  });

  it('without the old issuer certificate the revocation is unverifiable, listed, and still revokes its subject', async () => {
    const { network, relay, trust } = await fixture();
    const before = network.addOrg('ngo-a');
    const lost = network.addDevice(before, 'lost');
    relay.revocations = [network.revokeDevice(lost)];
    const now = network.addOrg('ngo-a');
    await trust.pinOwnOrg(now.certificate);
    relay.issuers = [now.certificate];

    await trust.syncRevocations();
    expect(trust.unverifiableRevocations()).toEqual([
      expect.objectContaining({ issuer: 'ngo-a', seq: 1, subject: { type: 'device', orgId: 'ngo-a', deviceId: 'ngo-a:lost' } }),
    ]);
    expect(trust.revocationStatus().isDeviceRevoked('ngo-a:lost', 'ngo-a')).toBe(true);
  });

  it('an issuer certificate the root did not sign is not used to verify a revocation', async () => {
    const { network, relay, trust } = await fixture();
    // The relay forges an "old" ngo-a certificate of this network (signed by another root) and a revocation signed with its key.
    const forgedOrg = new TestNetwork(crypto).addOrg('ngo-a', 'ngo', { networkId: network.anchor.networkId });
    await trust.pinOwnOrg(network.addOrg('ngo-a').certificate);
    const subject = { type: 'device' as const, orgId: 'ngo-a', deviceId: 'ngo-a:victim' };
    relay.revocations = [
      issueRevocation(crypto, { networkId: network.anchor.networkId, issuer: 'ngo-a', seq: 1, subject, reason: 'forged', revokedAt: T0 }, forgedOrg.keys.privateKey),
    ];
    relay.issuers = [forgedOrg.certificate];

    await trust.syncRevocations();
    expect(trust.unverifiableRevocations().map((u) => u.issuer)).toEqual(['ngo-a']);
  });

  it('a revocation list older than one already seen is refused as ROLLBACK, also after a restart', async () => {
    const f = await fixture();
    const org = f.network.addOrg('ngo-a');
    await f.trust.pinOwnOrg(org.certificate);
    const first = f.network.revokeDevice(f.network.addDevice(org, 'one'));
    const second = f.network.revokeDevice(f.network.addDevice(org, 'two'));
    f.relay.issuers = [org.certificate];
    f.relay.revocations = [first, second];
    await f.trust.syncRevocations();

    f.relay.revocations = [first];
    expect((await refusal(f.trust.syncRevocations())).code).toBe('ROLLBACK');
    expect((await refusal((await f.reopen()).syncRevocations())).code).toBe('ROLLBACK');
    // The state from the newer list is kept.
    expect(f.trust.revocationStatus().isDeviceRevoked('ngo-a:two', 'ngo-a')).toBe(true);
  });

  it('a revoked org is no longer listed, and its devices are REVOKED', async () => {
    const { network, relay, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    const device = network.addDevice(org, 'staff');
    relay.orgs = [{ certificate: org.certificate, devices: [device.certificate] }];
    await trust.refresh();
    expect(trust.org('ngo-a')).toBeDefined();

    relay.revocations = [network.revokeOrg(org)];
    await trust.refresh();
    expect(trust.org('ngo-a')).toBeUndefined();
    expect(trust.listOrgs()).toEqual([]);
    expect((await refusal(trust.device('ngo-a:staff'))).code).toBe('REVOKED');
  });

  it('a revoked device of a valid org is REVOKED, not merely unknown', async () => {
    const { network, relay, trust } = await fixture();
    const org = network.addOrg('ngo-a');
    const device = network.addDevice(org, 'lost');
    relay.orgs = [{ certificate: org.certificate, devices: [device.certificate] }];
    relay.issuers = [org.certificate];
    await trust.refresh();
    relay.revocations = [network.revokeDevice(device)];
    await trust.refresh();
    expect(trust.listDevices('ngo-a')).toEqual([]);
    expect((await refusal(trust.device('ngo-a:lost'))).code).toBe('REVOKED');
  });
});

describe('expiry', () => {
  it('an org whose certificate expired is no longer listed or returned, though its pin is kept', async () => {
    const { network, relay, trust, clock } = await fixture();
    const org = network.addOrg('ngo-a', 'ngo', { expiresAt: T0 + DAY });
    const device = network.addDevice(org, 'staff', { expiresAt: T0 + DAY });
    relay.orgs = [{ certificate: org.certificate, devices: [device.certificate] }];
    await trust.refresh();
    expect(trust.listDevices()).toHaveLength(1);

    clock.now = T0 + DAY;
    expect(trust.org('ngo-a')).toBeUndefined();
    expect(trust.listOrgs()).toEqual([]);
    expect(trust.listDevices()).toEqual([]);
    expect(trust.pinned('ngo-a')).toEqual(org.certificate);
    expect(trust.certifiedOrgType('ngo-a')).toBe('ngo');
  });

  it('a device whose certificate expired is dropped at the next refresh and no longer returned', async () => {
    const { network, relay, trust, clock } = await fixture();
    const org = network.addOrg('ngo-a');
    const short = network.addDevice(org, 'short', { expiresAt: T0 + DAY });
    const long = network.addDevice(org, 'long');
    relay.orgs = [{ certificate: org.certificate, devices: [short.certificate, long.certificate] }];
    await trust.refresh();

    clock.now = T0 + DAY;
    expect(trust.listDevices().map((d) => d.certificate.deviceId)).toEqual(['ngo-a:long']);
    const { refused } = await trust.refreshDirectory();
    expect(refused).toEqual([{ id: 'ngo-a:short', code: 'EXPIRED' }]);
    expect((await refusal(trust.device('ngo-a:short'))).code).toBe('UNTRUSTED_KEY');
  });
});

it('a refusal from the relay during a refresh reaches the caller with its code', async () => {
  const network = new TestNetwork(crypto);
  const api = new RelayApi('http://relay.invalid', async () => Response.json({ error: { code: 'RATE_LIMITED', message: 'slow down' } }, { status: 429 }));
  api.setToken('t'.repeat(43));
  const trust = new TrustStore(network.anchor, api, await Vault.create(crypto, new MemoryStorage(), PASS, PWHASH_TEST_ONLY), () => T0);
  expect((await refusal(trust.refresh())).code).toBe('RATE_LIMITED');
});
