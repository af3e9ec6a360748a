/**
 * The relay's trust caches: one revocation reload shared by concurrent
 * callers, no stale reload result cached over a change this process made,
 * and org device lists cached until invalidated or asked for fresh.
 */
import { trustAnchor } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { RelayTrust } from '../../../server/services/trust';
import { MemoryStore } from '../../../server/store/memory-store';

const T = Date.UTC(2026, 10, 29);

class CountingStore extends MemoryStore {
  revocationReads = 0;
  deviceListReads = 0;
  gate: Promise<void> | undefined;
  override async listRevocations() {
    this.revocationReads++;
    const records = await super.listRevocations();
    if (this.gate) await this.gate;
    return records;
  }
  override async listOrgDevices(orgId: string) {
    this.deviceListReads++;
    return super.listOrgDevices(orgId);
  }
}

const orgJson = (orgId: string) => JSON.stringify({ orgId, expiresAt: T + 86_400_000 });
const deviceJson = (orgId: string, deviceId: string) => JSON.stringify({ orgId, deviceId, expiresAt: T + 86_400_000, signPublicKey: 'A'.repeat(43) });
const deviceRevocation = (orgId: string, deviceId: string) => JSON.stringify({ subject: { type: 'device', orgId, deviceId } });

async function setup() {
  const crypto = await loadCrypto();
  const store = new CountingStore({ now: () => T });
  const trust = new RelayTrust(trustAnchor(crypto, crypto.signKeyPair().publicKey), store, () => T, 1000);
  await store.putOrg('org-a', orgJson('org-a'));
  await store.putDevice('dev-1', 'org-a', deviceJson('org-a', 'dev-1'));
  await store.putDevice('dev-2', 'org-a', deviceJson('org-a', 'dev-2'));
  return { store, trust };
}

test('concurrent callers share one revocation reload', async () => {
  const { store, trust } = await setup();
  let open!: () => void;
  store.gate = new Promise((r) => (open = r));
  const checks = Array.from({ length: 20 }, () => trust.isOrgRevoked('org-a'));
  open();
  expect(await Promise.all(checks)).toEqual(Array(20).fill(false));
  expect(store.revocationReads).toBe(1);
});

test('a reload that started before this process revoked a device is not cached over the revocation', async () => {
  const { store, trust } = await setup();
  let open!: () => void;
  store.gate = new Promise((r) => (open = r));
  const before = trust.isActive('dev-1');
  // Wait until the reload has read the (empty) revocation log.
  while (store.revocationReads === 0) await new Promise((r) => setImmediate(r));
  await store.appendRevocation('org-a', 1, deviceRevocation('org-a', 'dev-1'));
  trust.invalidate({ deviceId: 'dev-1' });
  open();
  store.gate = undefined;
  expect(await before).toBe(true); // that caller asked before the revocation
  expect(await trust.isActive('dev-1')).toBe(false);
});

test('org device lists are cached, dropped by invalidate, and read again when asked fresh', async () => {
  const { store, trust } = await setup();
  const ids = async (fresh = false) => (await trust.activeOrgDevices('org-a', { fresh })).map((d) => d.deviceId);
  expect(await ids()).toEqual(['dev-1', 'dev-2']);
  expect(await ids()).toEqual(['dev-1', 'dev-2']);
  expect(store.deviceListReads).toBe(1);

  await store.putDevice('dev-3', 'org-a', deviceJson('org-a', 'dev-3')); // as another relay process would
  expect(await ids()).toEqual(['dev-1', 'dev-2']); // cached: up to 1 s stale
  expect(await ids(true)).toEqual(['dev-1', 'dev-2', 'dev-3']);
  expect(await ids()).toEqual(['dev-1', 'dev-2', 'dev-3']); // the fresh read refreshed the cache

  await store.appendRevocation('org-a', 1, deviceRevocation('org-a', 'dev-2'));
  trust.invalidate();
  expect(await ids()).toEqual(['dev-1', 'dev-3']);
});
