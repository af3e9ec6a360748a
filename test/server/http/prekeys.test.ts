/**
 * Prekeys and key bundles over HTTP, on both stores: one-time prekeys are
 * popped atomically and never handed out twice (many requesters at once),
 * the signed prekey is the last resort once they run out, uploads are
 * verified and capped, and signed prekeys only move forward.
 */
import { BundlesResponse, PrekeyStatus, ROUTES } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { generateOneTimePrekeys, rotateSignedPrekeys, verifyBundle } from '../../../shared/device-keys';
import type { DeviceBundle } from '../../../shared/schemas';
import { type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, enrol, expectError, expectOk, signIn } from './helpers';

const CAP = 40;

describe.each(['memory', 'redis'] as const)('prekeys and bundles (%s store)', (kind) => {
  let redis: TestRedis | undefined;
  let fx: RelayFixture;
  let network: TestNetwork;

  beforeAll(async () => {
    const crypto = await loadCrypto();
    network = new TestNetwork(crypto, Date.now());
    if (kind === 'redis') redis = await startRedis();
    fx = await startTestRelay(network, {
      ...(redis ? { redisUrl: redis.url } : {}),
      config: {
        maxOneTimePrekeys: CAP,
        rateLimits: { ipPerMinute: 100_000, sendPerMinute: 1000, bundlesPerMinute: 1000, connectPerMinute: 1000 },
      },
    });
  });
  afterAll(async () => {
    await fx.close();
    await redis?.destroy();
  });

  let counter = 0;
  /** A fresh org with registered devices, and a signed-in token for each. */
  async function org(devices: number, oneTimePrekeys: number): Promise<{ orgId: string; devices: TestDevice[]; tokens: string[] }> {
    const n = ++counter;
    const o = network.addOrg(`pk-org-${n}`);
    const list = Array.from({ length: devices }, (_, i) => network.addDevice(o, `pk-${n}-d${i}`, { oneTimePrekeys }));
    const tokens: string[] = [];
    for (const d of list) {
      await enrol(fx, d);
      tokens.push(await signIn(fx, d));
    }
    return { orgId: o.orgId, devices: list, tokens };
  }

  const fetchBundles = async (token: string, orgId: string) =>
    BundlesResponse.parse(expectOk(await api(fx).get(ROUTES.bundles(orgId)).set(bearer(token))));
  const status = async (token: string) => PrekeyStatus.parse(expectOk(await api(fx).get(ROUTES.prekeyStatus).set(bearer(token))));
  const upload = (token: string, prekeys: unknown[]) => api(fx).post(ROUTES.oneTimePrekeys).set(bearer(token)).send({ prekeys });

  it("a device fetching its own org's bundles is left out and none of its one-time prekeys is burnt", async () => {
    const own = await org(2, 5);
    const [me, colleague] = own.devices;
    const answer = await fetchBundles(own.tokens[0]!, own.orgId);
    expect(answer.bundles.map((b) => b.certificate.deviceId)).toEqual([colleague!.keys.deviceId]);
    expect((await status(own.tokens[0]!)).oneTimePrekeys).toBe(5);
    expect((await status(own.tokens[1]!)).oneTimePrekeys).toBe(4);
    expect(me).toBeDefined();
  });

  it('concurrent bundle fetches by several requesters never hand out a one-time prekey twice', async () => {
    const target = await org(2, 12);
    const requesters = await org(6, 0);
    // 6 requesters x 4 fetches at once = 24 fetches for 12 one-time prekeys per device.
    const responses = await Promise.all(requesters.tokens.flatMap((t) => Array.from({ length: 4 }, () => fetchBundles(t, target.orgId))));
    for (const device of target.devices) {
      const deviceId = device.keys.deviceId;
      const bundles = responses.map((r) => r.bundles.find((b) => b.certificate.deviceId === deviceId));
      expect(bundles.every((b) => b !== undefined)).toBe(true);
      const handed = bundles.flatMap((b) => (b?.oneTimePrekey ? [b.oneTimePrekey.id] : []));
      expect(handed).toHaveLength(12);
      expect(new Set(handed).size).toBe(12);
      expect(handed.sort((a, b) => a - b)).toEqual(device.oneTimePrekeys.map((p) => p.id).sort((a, b) => a - b));
    }
    for (const t of target.tokens) expect((await status(t)).oneTimePrekeys).toBe(0);
  });

  it('once one-time prekeys run out, bundles carry the signed prekeys only (last resort), still verifiable', async () => {
    const target = await org(1, 1);
    const requester = await org(1, 0);
    const token = requester.tokens[0]!;
    const first = await fetchBundles(token, target.orgId);
    expect(first.bundles[0]?.oneTimePrekey?.id).toBe(target.devices[0]?.oneTimePrekeys[0]?.id);
    for (let i = 0; i < 3; i++) {
      const res = await fetchBundles(token, target.orgId);
      const bundle = res.bundles[0] as DeviceBundle;
      expect(bundle.oneTimePrekey).toBeUndefined();
      expect(bundle.signedPrekey).toEqual(target.devices[0]?.signedPrekey);
      const keys = verifyBundle(network.anchor, res.org, bundle, { now: Date.now() });
      expect(keys.oneTimePrekey).toBeUndefined();
    }
  });

  it('a refill is handed out lowest id first; re-uploading prekeys already handed out adds nothing', async () => {
    const target = await org(1, 2);
    const requester = await org(1, 0);
    const device = target.devices[0]!;
    const token = target.tokens[0]!;
    const used = [...device.oneTimePrekeys];
    await fetchBundles(requester.tokens[0]!, target.orgId);
    await fetchBundles(requester.tokens[0]!, target.orgId);
    expect((await status(token)).oneTimePrekeys).toBe(0);

    // Replaying the old upload must not put them back.
    expect(expectOk(await upload(token, used))).toEqual({ count: 0 });
    const fresh = generateOneTimePrekeys(fx.crypto, device.keys, 3, Date.now());
    expect(expectOk(await upload(token, [...fresh].reverse()))).toEqual({ count: 3 });
    const ids: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) ids.push((await fetchBundles(requester.tokens[0]!, target.orgId)).bundles[0]?.oneTimePrekey?.id);
    expect(ids).toEqual([...fresh.map((p) => p.id), undefined]);
  });

  it('an upload beyond the cap is refused whole; up to the cap is fine', async () => {
    const target = await org(1, CAP - 5);
    const device = target.devices[0]!;
    const token = target.tokens[0]!;
    const error = expectError(await upload(token, generateOneTimePrekeys(fx.crypto, device.keys, 6, Date.now())), 400, 'BAD_REQUEST');
    expect(error.message).toMatch(new RegExp(`at most ${CAP}`));
    expect((await status(token)).oneTimePrekeys).toBe(CAP - 5);
    expect(expectOk(await upload(token, generateOneTimePrekeys(fx.crypto, device.keys, 5, Date.now())))).toEqual({ count: CAP });
    expectError(await upload(token, generateOneTimePrekeys(fx.crypto, device.keys, 1, Date.now())), 400, 'BAD_REQUEST');
    expect((await status(token)).oneTimePrekeys).toBe(CAP);
  });

  it('refuses one-time prekeys signed by another device, naming another device, or repeating an id', async () => {
    const target = await org(2, 1);
    const [a, b] = target.devices as [TestDevice, TestDevice];
    const token = target.tokens[0]!;
    const fromB = generateOneTimePrekeys(fx.crypto, b.keys, 1, Date.now())[0]!;
    // Signed by B but claiming A: bad signature.
    expectError(await upload(token, [{ ...fromB, deviceId: a.keys.deviceId }]), 400, 'BAD_SIGNATURE');
    // Genuinely B's: A may not upload B's prekeys.
    expectError(await upload(token, [fromB]), 400, 'BAD_REQUEST');
    const mine = generateOneTimePrekeys(fx.crypto, a.keys, 1, Date.now())[0]!;
    expectError(await upload(token, [mine, mine]), 400, 'BAD_REQUEST');
    expect((await status(token)).oneTimePrekeys).toBe(1);
  });

  it('signed prekeys: rotation moves forward; older, foreign or badly signed ones are refused', async () => {
    const target = await org(2, 0);
    const [a, b] = target.devices as [TestDevice, TestDevice];
    const token = target.tokens[0]!;
    const put = (body: unknown) => api(fx).put(ROUTES.signedPrekeys).set(bearer(token)).send(body as object);
    const original = { signedPrekey: a.signedPrekey, pqPrekey: a.pqPrekey };
    const next = rotateSignedPrekeys(fx.crypto, a.keys, Date.now());
    expectOk(await put(next));
    expect((await status(token)).signedPrekeyId).toBe(next.signedPrekey.id);

    expectError(await put(original), 400, 'BAD_REQUEST');
    expectError(await put({ signedPrekey: next.signedPrekey, pqPrekey: original.pqPrekey }), 400, 'BAD_REQUEST');
    const other = rotateSignedPrekeys(fx.crypto, b.keys, Date.now());
    expectError(await put(other), 400, 'BAD_REQUEST');
    expectError(await put({ ...next, signedPrekey: { ...other.signedPrekey, deviceId: a.keys.deviceId } }), 400, 'BAD_SIGNATURE');
    // The same rotation again is harmless.
    expectOk(await put(next));
    const bundle = (await fetchBundles(target.tokens[1]!, target.orgId)).bundles.find((x) => x.certificate.deviceId === a.keys.deviceId);
    expect(bundle?.signedPrekey).toEqual(next.signedPrekey);
    expect(bundle?.pqPrekey).toEqual(next.pqPrekey);
  });
});
