/**
 * Challenge-response sign-in over HTTP, on a real redis-server: a challenge
 * is good for one try by the device it was issued to; a session token works
 * until it expires or the device (or its org) is revoked; the relay keeps
 * only a hash of the token — not in Redis, not in its logs.
 */
import type { Redis } from 'ioredis';
import { PrekeyStatus, ROUTES } from '../../../shared/api';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u, utf8 } from '../../../shared/encoding';
import { TestClock } from '../../support/clock';
import { type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { type RelayFixture, startTestRelay } from '../../support/relay';
import { api, bearer, challenge, enrol, expectError, expectOk, signChallenge, signIn } from './helpers';

describe('sign-in over HTTP (redis store)', () => {
  let redis: TestRedis;
  let fx: RelayFixture;
  let network: TestNetwork;
  const clock = new TestClock();

  beforeAll(async () => {
    const crypto = await loadCrypto();
    network = new TestNetwork(crypto, Date.now());
    redis = await startRedis();
    fx = await startTestRelay(network, { redisUrl: redis.url, now: clock.now });
  });
  // Inside a describe block, so this runs before test/support/redis.ts's own file-level
  // afterAll (registered when it is imported), which kills every redis-server it started.
  afterAll(async () => {
    await fx.close();
    await redis.destroy();
  });

  let counter = 0;
  async function newDevice(): Promise<TestDevice> {
    const n = ++counter;
    const device = network.addDevice(network.addOrg(`auth-org-${n}`), `auth-dev-${n}`);
    await enrol(fx, device);
    return device;
  }

  const session = (body: { deviceId: string; challengeId: string; signature: string }) => api(fx).post(ROUTES.session).send(body);
  const status = (token: string) => api(fx).get(ROUTES.prekeyStatus).set(bearer(token));

  describe('challenges', () => {
    it('a challenge signs in once; the same answer replayed is refused (UNAUTHENTICATED)', async () => {
      const device = await newDevice();
      const deviceId = device.keys.deviceId;
      const ch = await challenge(fx, deviceId);
      const answer = { deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, device, { deviceId, ...ch }) };
      const token = (expectOk(await session(answer)) as { token: string }).token;
      expect(expectError(await session(answer), 401, 'UNAUTHENTICATED').message).toMatch(/already used|unknown|expired/);
      // The first session still works.
      expectOk(await status(token));
    });

    it('two concurrent answers to one challenge: exactly one session', async () => {
      const device = await newDevice();
      const deviceId = device.keys.deviceId;
      const ch = await challenge(fx, deviceId);
      const answer = { deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, device, { deviceId, ...ch }) };
      const results = await Promise.all(Array.from({ length: 8 }, () => session(answer)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expectError(r, 401, 'UNAUTHENTICATED');
    });

    it('every challenge is fresh and random', async () => {
      const device = await newDevice();
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const ch = await challenge(fx, device.keys.deviceId);
        seen.add(ch.challengeId);
        seen.add(ch.challenge);
      }
      expect(seen.size).toBe(10);
    });

    it('a challenge issued to device A cannot sign in device B', async () => {
      const a = await newDevice();
      const b = await newDevice();
      const ch = await challenge(fx, a.keys.deviceId);
      // B answers A's challenge in its own name, with its own key.
      const asB = { deviceId: b.keys.deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, b, { deviceId: b.keys.deviceId, ...ch }) };
      expect(expectError(await session(asB), 401, 'UNAUTHENTICATED').message).toMatch(/^sign-in refused/);
    });

    it('B cannot answer A\'s challenge in A\'s name, and the failed try burns the challenge', async () => {
      const a = await newDevice();
      const b = await newDevice();
      const deviceId = a.keys.deviceId;
      const ch = await challenge(fx, deviceId);
      const forged = { deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, b, { deviceId, ...ch }) };
      expectError(await session(forged), 401, 'UNAUTHENTICATED');
      // Even A's genuine answer is too late now: one try per challenge.
      const genuine = { deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, a, { deviceId, ...ch }) };
      expectError(await session(genuine), 401, 'UNAUTHENTICATED');
    });

    it.each([
      ['signed over another network id', (d: TestDevice, ch: { challengeId: string; challenge: string }) => {
        const other = new TestNetwork(fx.crypto, Date.now());
        return signChallenge({ crypto: fx.crypto, network: other }, d, { deviceId: d.keys.deviceId, ...ch });
      }],
      ['signed over another challenge', (d: TestDevice, ch: { challengeId: string; challenge: string }) =>
        signChallenge(fx, d, { deviceId: d.keys.deviceId, challengeId: ch.challengeId, challenge: toB64u(fx.crypto.random(32)) })],
      ['the raw challenge signed without the domain label', (d: TestDevice, ch: { challengeId: string; challenge: string }) =>
        toB64u(fx.crypto.sign(utf8(ch.challenge), d.keys.sign.privateKey))],
      ['an all-zero signature', () => toB64u(new Uint8Array(64))],
      ['a flipped bit', (d: TestDevice, ch: { challengeId: string; challenge: string }) => {
        const sig = Buffer.from(signChallenge(fx, d, { deviceId: d.keys.deviceId, ...ch }), 'base64url');
        sig[3] = (sig[3] ?? 0) ^ 0x10;
        return toB64u(sig);
      }],
    ])('refuses a bad signature: %s (UNAUTHENTICATED)', async (_name, sign) => {
      const device = await newDevice();
      const ch = await challenge(fx, device.keys.deviceId);
      const res = await session({ deviceId: device.keys.deviceId, challengeId: ch.challengeId, signature: sign(device, ch) });
      expectError(res, 401, 'UNAUTHENTICATED');
    });

    it('refuses an unknown challenge id; an unknown device gets a challenge like any other but cannot sign in (UNAUTHENTICATED)', async () => {
      const device = await newDevice();
      const deviceId = device.keys.deviceId;
      const made = { challengeId: toB64u(fx.crypto.random(16)), challenge: toB64u(fx.crypto.random(32)) };
      const signature = signChallenge(fx, device, { deviceId, ...made });
      expectError(await session({ deviceId, challengeId: made.challengeId, signature }), 401, 'UNAUTHENTICATED');
      // A device id nobody registered, signed with some key.
      const ghost = network.addDevice(network.addOrg('auth-ghost-org'), 'auth-ghost-1');
      const ch = await challenge(fx, ghost.keys.deviceId);
      const answer = { deviceId: ghost.keys.deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, ghost, { deviceId: ghost.keys.deviceId, ...ch }) };
      expectError(await session(answer), 401, 'UNAUTHENTICATED');
    });
  });

  describe('sessions', () => {
    it('a token authenticates its own device only', async () => {
      const a = await newDevice();
      const b = await newDevice();
      const ta = await signIn(fx, a);
      const tb = await signIn(fx, b);
      expect(PrekeyStatus.parse(expectOk(await status(ta))).signedPrekeyId).toBe(a.signedPrekey.id);
      // Rotating with A's token changes A, never B.
      const rotated = { signedPrekey: { ...b.signedPrekey }, pqPrekey: { ...b.pqPrekey } };
      expectError(await api(fx).put(ROUTES.signedPrekeys).set(bearer(ta)).send(rotated), 400, 'BAD_REQUEST');
      expect(PrekeyStatus.parse(expectOk(await status(tb))).signedPrekeyId).toBe(b.signedPrekey.id);
    });

    it('several sessions of one device work side by side', async () => {
      const device = await newDevice();
      const tokens = [await signIn(fx, device), await signIn(fx, device), await signIn(fx, device)];
      expect(new Set(tokens).size).toBe(3);
      for (const t of tokens) expectOk(await status(t));
    });

    it('the token is never stored in plaintext in Redis, nor written to the logs', async () => {
      const device = await newDevice();
      const token = await signIn(fx, device);
      expectOk(await status(token));
      const dump = await dumpRedis(redis.client());
      expect(dump.keys).toBeGreaterThan(0);
      expect(dump.text).not.toContain(token);
      // The scan does see the session: under the hash of the token.
      const hash = toB64u(fx.crypto.hash(utf8(token), 32));
      expect(dump.text).toContain(hash);
      expect(fx.logs.length).toBeGreaterThan(0);
      expect(fx.logs.join('\n')).not.toContain(token);
    });
  });

  /** A genuine answer to a fresh challenge, signed with the device's own key. */
  async function genuineAnswer(device: TestDevice) {
    const deviceId = device.keys.deviceId;
    const ch = await challenge(fx, deviceId);
    return session({ deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, device, { deviceId, ...ch }) });
  }

  describe('revocation ends sign-in', () => {
    it('a revoked device cannot sign in (REVOKED, told only to the holder of its key), and its tokens stop working', async () => {
      const device = await newDevice();
      const token = await signIn(fx, device);
      const pending = await challenge(fx, device.keys.deviceId);
      expectOk(await status(token));
      expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeDevice(device) }), 201);

      const refused = await status(token);
      expect([401, 403]).toContain(refused.status);
      expectError(refused, refused.status, refused.status === 401 ? 'UNAUTHENTICATED' : 'REVOKED');
      expectError(await genuineAnswer(device), 403, 'REVOKED');
      // Someone without the key is told nothing more than for an unknown device.
      const ch = await challenge(fx, device.keys.deviceId);
      const other = network.addDevice(device.org, 'auth-not-the-key');
      expectError(await session({ deviceId: device.keys.deviceId, challengeId: ch.challengeId, signature: signChallenge(fx, other, { deviceId: device.keys.deviceId, ...ch }) }), 401, 'UNAUTHENTICATED');
      // A challenge fetched before the revocation is useless too.
      const late = { deviceId: device.keys.deviceId, challengeId: pending.challengeId, signature: signChallenge(fx, device, { deviceId: device.keys.deviceId, ...pending }) };
      const res = await session(late);
      expect([401, 403]).toContain(res.status);
    });

    it('revoking an org ends the sign-in of all its devices', async () => {
      const org = network.addOrg('auth-revoked-org');
      const d1 = network.addDevice(org, 'auth-revoked-org:auth-revoked-1');
      const d2 = network.addDevice(org, 'auth-revoked-org:auth-revoked-2');
      await enrol(fx, d1);
      await enrol(fx, d2);
      const t1 = await signIn(fx, d1);
      const t2 = await signIn(fx, d2);
      expectOk(await api(fx).post(ROUTES.revocations).send({ revocation: network.revokeOrg(org) }), 201);
      for (const t of [t1, t2]) expect([401, 403]).toContain((await status(t)).status);
      for (const d of [d1, d2]) expectError(await genuineAnswer(d), 403, 'REVOKED');
    });
  });

  describe('certificate expiry', () => {
    it('a device whose certificate has run out cannot sign in, and its live session stops working (FORBIDDEN)', async () => {
      const mortal = network.addDevice(network.addOrg('auth-mortal-org'), 'auth-mortal-1', { expiresAt: Date.now() + 60_000 });
      await enrol(fx, mortal);
      const token = await signIn(fx, mortal);
      expectOk(await status(token));
      clock.passTime(mortal.certificate.expiresAt);
      expect(expectError(await genuineAnswer(mortal), 403, 'FORBIDDEN').message).toMatch(/expired/);
      expectError(await status(token), 403, 'FORBIDDEN');
    });
  });

  describe('expiry (short-lived relay settings)', () => {
    let short: RelayFixture;
    const shortClock = new TestClock();
    beforeAll(async () => {
      short = await startTestRelay(network, { config: { sessionTtlMs: 1000, challengeTtlMs: 500 }, now: shortClock.now });
    });
    afterAll(async () => {
      await short.close();
    });

    it('sessions and challenges expire', async () => {
      const device = network.addDevice(network.addOrg('auth-short-org'), 'auth-short-1');
      await enrol(short, device);
      const token = await signIn(short, device);
      expectOk(await api(short).get(ROUTES.prekeyStatus).set(bearer(token)));
      const ch = await challenge(short, device.keys.deviceId);

      shortClock.advance(1300);
      expect(expectError(await api(short).get(ROUTES.prekeyStatus).set(bearer(token)), 401, 'UNAUTHENTICATED').message).toMatch(/expired/);
      const stale = { deviceId: device.keys.deviceId, challengeId: ch.challengeId, signature: signChallenge(short, device, { deviceId: device.keys.deviceId, ...ch }) };
      expectError(await api(short).post(ROUTES.session).send(stale), 401, 'UNAUTHENTICATED');
      // Signing in again works.
      expectOk(await api(short).get(ROUTES.prekeyStatus).set(bearer(await signIn(short, device))));
    });
  });
});

/** Every key and value in the test Redis, as one searchable string. */
async function dumpRedis(client: Redis): Promise<{ keys: number; text: string }> {
  const parts: string[] = [];
  let cursor = '0';
  let keys = 0;
  do {
    const [next, batch] = await client.scanBuffer(cursor, 'COUNT', 500);
    cursor = next.toString();
    for (const keyBuf of batch) {
      keys++;
      const key = keyBuf.toString('latin1');
      parts.push(key);
      const type = await client.type(key);
      const values: Buffer[] = [];
      if (type === 'string') values.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
      else if (type === 'hash') values.push(...Object.entries(await client.hgetallBuffer(key)).flatMap(([k, v]) => [Buffer.from(k), v]));
      else if (type === 'set') values.push(...(await client.smembersBuffer(key)));
      else if (type === 'zset') values.push(...(await client.zrangeBuffer(key, 0, -1, 'WITHSCORES')));
      else if (type === 'list') values.push(...(await client.lrangeBuffer(key, 0, -1)));
      else if (type === 'stream') {
        for (const [id, fields] of await client.xrangeBuffer(key, '-', '+')) values.push(id, ...fields);
      } else throw new Error(`unexpected redis type ${type} for ${key}`);
      for (const v of values) parts.push(v.toString('latin1'));
    }
  } while (cursor !== '0');
  return { keys, text: parts.join('\n') };
}
