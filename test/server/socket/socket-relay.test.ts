/**
 * The Socket.IO relay against hostile and unlucky clients: handshake
 * without a valid token, forged senders and signatures, replays, device-set
 * mismatches, revoked devices, other devices' inboxes, oversized envelopes,
 * expiry and full inboxes. Real relay, real Redis, real crypto.
 */
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u, utf8 } from '../../../shared/encoding';
import { envelopeSigningInput, openEnvelope, sealEnvelope } from '../../../shared/envelope';
import { fromUtf8 } from '../../../shared/encoding';
import type { SealedEnvelope } from '../../../shared/schemas';
import type { Delivery } from '../../../shared/socket-events';
import { envelopeOfDelivery, frameOfEnvelope, readFrame } from '../../../shared/envelope-wire';
import { ROUTES } from '../../../shared/api';
import { TestClock } from '../../support/clock';
import { type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import {
  eventually,
  postJson,
  type RawSocket,
  rawSocket,
  registerTestDevice,
  type RelayFixture,
  signInTestDevice,
  startTestRelay,
} from '../../support/relay';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';

let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'everysec' });
  fx = await startTestRelay(network, {
    redisUrl: redis.url,
    // verifyThreads: the send path runs through a verification thread here, whatever the machine's default.
    config: { verifyThreads: 1, retentionMs: 60 * 60_000, maxInboxLength: 10, maxEnvelopeBytes: 64 * 1024 + 64, expirySweepMs: 100, oneTimePrekeyLowWater: 2 },
  });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await fx.close();
  await redis.destroy();
});

let counter = 0;
/** Two orgs, registered devices, signed-in sockets. */
async function scenario(opts: { shelterDevices?: number } = {}) {
  const n = ++counter;
  const ngo = network.addOrg(`ngo-${n}`, 'ngo');
  const shelter = network.addOrg(`shelter-${n}`, 'shelter');
  const sender = network.addDevice(ngo, `ngo-${n}-alice`, { oneTimePrekeys: 5 });
  const receivers = Array.from({ length: opts.shelterDevices ?? 1 }, (_, i) => network.addDevice(shelter, `shelter-${n}-d${i}`, { oneTimePrekeys: 3 }));
  for (const d of [sender, ...receivers]) expect((await registerTestDevice(fx.url, d)).status).toBe(201);
  const connect = async (d: TestDevice) => {
    const token = await signInTestDevice(fx, d);
    const socket = await rawSocket(fx.url, token);
    sockets.push(socket);
    return { socket, token };
  };
  return { ngo, shelter, sender, receivers, connect };
}

function seal(from: TestDevice, to: TestDevice[], body = 'hello', extra: { sentAt?: number; messageId?: string; version?: 1 | 2 } = {}): SealedEnvelope {
  return sealEnvelope(fx.crypto, {
    sender: network.senderKeys(from),
    recipients: to.map((d) => network.recipientKeys(d, false)),
    threadId: THREAD,
    sentAt: extra.sentAt ?? Date.now(),
    body: utf8(body),
    ...(extra.messageId ? { messageId: extra.messageId } : {}),
    ...(extra.version ? { version: extra.version } : {}),
  });
}

type SendResult = { ok: true; messageId: string; storedAt: number } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };
/**
 * Send as a client would: a version 2 envelope object (tampered or not) as
 * its frame; anything that has no frame (a version 1 envelope, a malformed
 * object, raw bytes) as it is.
 */
const send = (socket: RawSocket, envelope: unknown): Promise<SendResult> =>
  socket.timeout(5000).emitWithAck('envelope:send', asWire(envelope) as SealedEnvelope) as Promise<SendResult>;

function asWire(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  const env = value as SealedEnvelope;
  if (env.header?.v !== 2) return value;
  try {
    return frameOfEnvelope(env);
  } catch {
    return value; // not encodable (a non-canonical id, a wrong type): sent as the object, which the relay refuses
  }
}

/** Another spelling of a 16-byte base64url id: stray low bits set in its last character (the same bytes when decoded leniently). */
function respell(id: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(id.slice(-1));
  return id.slice(0, -1) + alphabet[last + 1];
}

function collect(socket: RawSocket): Delivery[] {
  const got: Delivery[] = [];
  socket.on('envelope:deliver', (d) => got.push(d));
  return got;
}

describe('handshake', () => {
  it.each([
    ['no token', undefined],
    ['a made-up token', 'x'.repeat(43)],
    ['a non-string token', { $gt: '' }],
  ])('refuses %s: the socket never connects', async (_name, token) => {
    await expect(rawSocket(fx.url, token)).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
  });
});

describe('sending', () => {
  it('accepts, delivers with the exact bytes, and removes only after the recipient acks', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    const env = seal(s.sender, s.receivers);
    const res = await send(a.socket, env);
    expect(res).toMatchObject({ ok: true, messageId: env.header.messageId });
    await eventually(() => got.length === 1, 5000, 'delivery');
    const d = got[0]!;
    expect(envelopeOfDelivery(d).header).toEqual(env.header);
    expect(envelopeOfDelivery(d).signature).toBe(env.signature);
    expect(Buffer.from(envelopeOfDelivery(d).ciphertext as Uint8Array).equals(Buffer.from(env.ciphertext))).toBe(true);
    expect(await fx.relay.store.inboxLength(s.receivers[0]!.keys.deviceId)).toBe(1);
    const delivered = new Promise((resolve) => a.socket.once('envelope:delivered', resolve));
    expect(await r.socket.emitWithAck('envelope:ack', { messageId: env.header.messageId })).toEqual({ ok: true });
    expect(await delivered).toMatchObject({ messageId: env.header.messageId, recipientDeviceId: s.receivers[0]!.keys.deviceId });
    expect(await fx.relay.store.inboxLength(s.receivers[0]!.keys.deviceId)).toBe(0);
  });

  it('refuses an envelope naming another device as sender (FORBIDDEN)', async () => {
    const s = await scenario();
    const other = network.addDevice(s.ngo, `ngo-${counter}-bob`);
    await registerTestDevice(fx.url, other);
    const a = await s.connect(s.sender);
    const env = seal(other, [s.receivers[0]!, s.sender]);
    expect(await send(a.socket, env)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it('refuses a valid signature by a different device (BAD_SIGNATURE)', async () => {
    const s = await scenario();
    const mallory = network.addDevice(s.ngo, `ngo-${counter}-mallory`);
    await registerTestDevice(fx.url, mallory);
    const a = await s.connect(s.sender);
    const env = seal(s.sender, [...s.receivers, mallory]);
    const forged = { ...env, signature: toB64u(fx.crypto.sign(envelopeSigningInput(env.header), mallory.keys.sign.privateKey)) };
    expect(await send(a.socket, forged)).toMatchObject({ ok: false, error: { code: 'BAD_SIGNATURE' } });
  });

  it('refuses a ciphertext that does not match the signed hash (BAD_SIGNATURE)', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const env = seal(s.sender, s.receivers);
    const tampered = new Uint8Array(env.ciphertext);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    expect(await send(a.socket, { ...env, ciphertext: tampered })).toMatchObject({ ok: false, error: { code: 'BAD_SIGNATURE' } });
  });

  it('refuses a replayed envelope (REPLAY) and delivers it only once', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    const env = seal(s.sender, s.receivers);
    expect((await send(a.socket, env)).ok).toBe(true);
    expect(await send(a.socket, env)).toMatchObject({ ok: false, error: { code: 'REPLAY', details: { alreadyAccepted: true } } });
    await eventually(() => got.length >= 1, 5000, 'delivery');
    await new Promise((res) => setTimeout(res, 200));
    expect(got).toHaveLength(1);
  });

  it('finding 13: the same message id under another signed header is REPLAY without alreadyAccepted; nothing of it is stored or delivered', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    const first = seal(s.sender, s.receivers, 'the real referral');
    expect((await send(a.socket, first)).ok).toBe(true);
    // Another envelope, properly signed by the same sender, reusing the id.
    const second = seal(s.sender, s.receivers, 'something else', { messageId: first.header.messageId });
    const refused = await send(a.socket, second);
    expect(refused).toMatchObject({ ok: false, error: { code: 'REPLAY', details: { messageId: first.header.messageId } } });
    expect(refused.ok ? undefined : refused.error.details?.alreadyAccepted).toBeUndefined();
    // The very same envelope again is still recognised as accepted.
    expect(await send(a.socket, first)).toMatchObject({ ok: false, error: { code: 'REPLAY', details: { alreadyAccepted: true } } });
    await eventually(() => got.length >= 1, 5000, 'delivery');
    await new Promise((res) => setTimeout(res, 200));
    expect(got.map((d) => envelopeOfDelivery(d).signature)).toEqual([first.signature]);
    expect(await fx.relay.store.inboxLength(s.receivers[0]!.keys.deviceId)).toBe(1);
  });

  // Version 1 only: in a version 2 frame an id is its 16 bytes, which have exactly one spelling.
  it('finding 13: a non-canonical spelling of an accepted envelope\'s message id or thread id is refused (BAD_REQUEST) and not stored twice', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const env = seal(s.sender, s.receivers, 'hello', { version: 1 });
    expect((await send(a.socket, env)).ok).toBe(true);
    const resigned = (header: SealedEnvelope['header']): SealedEnvelope => ({
      header,
      signature: toB64u(fx.crypto.sign(envelopeSigningInput(header), s.sender.keys.sign.privateKey)),
      ciphertext: env.ciphertext,
    });
    const messageId = respell(env.header.messageId);
    expect(Buffer.from(messageId, 'base64url').equals(Buffer.from(env.header.messageId, 'base64url'))).toBe(true); // the same bytes
    expect(await send(a.socket, resigned({ ...env.header, messageId }))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await send(a.socket, resigned({ ...env.header, threadId: respell(env.header.threadId) }))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await fx.relay.store.inboxLength(s.receivers[0]!.keys.deviceId)).toBe(1);
  });

  it('lists missing and stale devices (DEVICE_SET_MISMATCH)', async () => {
    const s = await scenario({ shelterDevices: 2 });
    const a = await s.connect(s.sender);
    const stranger = network.addDevice(network.addOrg(`ghost-${counter}`), `ghost-${counter}-dev`); // never registered
    const env = seal(s.sender, [s.receivers[0]!, stranger]);
    const res = await send(a.socket, env);
    expect(res).toMatchObject({
      ok: false,
      error: { code: 'DEVICE_SET_MISMATCH', details: { missing: [s.receivers[1]!.keys.deviceId], stale: [stranger.keys.deviceId] } },
    });
  });

  it('treats a revoked recipient as stale and a revoked sender as gone', async () => {
    const s = await scenario({ shelterDevices: 2 });
    const a = await s.connect(s.sender);
    const [keep, revoked] = s.receivers as [TestDevice, TestDevice];
    expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(revoked) })).status).toBe(201);
    const res = await send(a.socket, seal(s.sender, [keep, revoked]));
    expect(res).toMatchObject({ ok: false, error: { code: 'DEVICE_SET_MISMATCH', details: { missing: [], stale: [revoked.keys.deviceId] } } });
    expect((await send(a.socket, seal(s.sender, [keep]))).ok).toBe(true);

    // Revoking the sender ends its socket and its session at once.
    const disconnected = new Promise((resolve) => a.socket.once('disconnect', resolve));
    await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(s.sender) });
    await disconnected;
    await expect(rawSocket(fx.url, a.token)).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
  });

  it('cannot ack (delete) another device\'s envelope', async () => {
    const s = await scenario({ shelterDevices: 2 });
    const a = await s.connect(s.sender);
    const env = seal(s.sender, s.receivers);
    expect((await send(a.socket, env)).ok).toBe(true);
    const d1 = await s.connect(s.receivers[1]!);
    // The sender (and receiver 1) ack a message pending for receiver 0: only their own inbox is touched.
    await a.socket.emitWithAck('envelope:ack', { messageId: env.header.messageId });
    await d1.socket.emitWithAck('envelope:ack', { messageId: env.header.messageId });
    expect(await fx.relay.store.inboxLength(s.receivers[0]!.keys.deviceId)).toBe(1);
  });

  it('refuses oversized envelopes, bad shapes and missing acks with typed errors and keeps serving', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const big = seal(s.sender, s.receivers, 'x'.repeat(100 * 1024));
    expect(await send(a.socket, big)).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(await send(a.socket, { header: 'nope' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await send(a.socket, { ...seal(s.sender, s.receivers), ciphertext: 'not-binary' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await a.socket.timeout(5000).emitWithAck('envelope:ack', { messageId: '../../etc' } as never)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    (a.socket as unknown as { emit: (e: string, v: unknown) => void }).emit('envelope:send', seal(s.sender, s.receivers)); // no ack callback
    expect((await send(a.socket, seal(s.sender, s.receivers))).ok).toBe(true);
  });

  it('refuses sentAt far in the future or older than retention', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    expect(await send(a.socket, seal(s.sender, s.receivers, 'x', { sentAt: Date.now() + 3_600_000 }))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await send(a.socket, seal(s.sender, s.receivers, 'x', { sentAt: Date.now() - 2 * 3_600_000 }))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('refuses when a recipient inbox is full (nothing written) with UNAVAILABLE', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    for (let i = 0; i < 10; i++) expect((await send(a.socket, seal(s.sender, s.receivers))).ok).toBe(true);
    expect(await send(a.socket, seal(s.sender, s.receivers))).toMatchObject({
      ok: false,
      error: { code: 'UNAVAILABLE', details: { deviceIds: [s.receivers[0]!.keys.deviceId] } },
    });
  });
});

describe('version 2 frames and version 1 envelopes side by side', () => {
  it('stores and delivers the received frame byte for byte', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    const frame = frameOfEnvelope(seal(s.sender, s.receivers));
    expect(await send(a.socket, frame)).toMatchObject({ ok: true });
    await eventually(() => got.length === 1, 5000, 'delivery');
    const d = got[0]!;
    expect('frame' in d && Buffer.from(d.frame).equals(Buffer.from(frame))).toBe(true);
    expect(Object.keys(d).sort()).toEqual(['frame', 'storedAt']);
    await r.socket.emitWithAck('envelope:ack', { messageId: envelopeOfDelivery(d).header.messageId });
    // From the inbox (a new socket reads it back from Redis): the same bytes again.
    const again = await s.connect(s.sender);
    const frame2 = frameOfEnvelope(seal(s.sender, s.receivers, 'second'));
    r.socket.close();
    expect(await send(again.socket, frame2)).toMatchObject({ ok: true });
    const later = await s.connect(s.receivers[0]!);
    const got2 = collect(later.socket);
    await eventually(() => got2.length === 1, 5000, 'replayed delivery');
    const d2 = got2[0]!;
    expect('frame' in d2 && Buffer.from(d2.frame).equals(Buffer.from(frame2))).toBe(true);
  });

  it('a version 1 envelope from an older client is still accepted and delivered as version 1', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    const env = seal(s.sender, s.receivers, 'old client', { version: 1 });
    expect(await send(a.socket, env)).toMatchObject({ ok: true, messageId: env.header.messageId });
    await eventually(() => got.length === 1, 5000, 'delivery');
    const d = got[0]!;
    expect('envelope' in d && d.envelope.header).toEqual(env.header);
  });

  it('with ACCEPT_V1_SENDS=false a version 1 send is refused with BAD_REQUEST, a frame is accepted, and a stored version 1 envelope is still delivered', async () => {
    const s = await scenario();
    // Stored while version 1 was still accepted, for a recipient that is away.
    const a = await s.connect(s.sender);
    const old = seal(s.sender, s.receivers, 'stored before the switch', { version: 1 });
    expect(await send(a.socket, old)).toMatchObject({ ok: true });
    a.socket.close();
    // A second process of the same relay (same Redis and key prefix), started with version 1 sends switched off.
    const strict = await startTestRelay(network, {
      redisUrl: redis.url,
      keyPrefix: fx.relay.config.redisKeyPrefix,
      config: { verifyThreads: 0, retentionMs: 60 * 60_000, maxInboxLength: 10, acceptV1Sends: false },
    });
    try {
      const token = await signInTestDevice({ ...fx, url: strict.url }, s.sender);
      const socket = await rawSocket(strict.url, token);
      sockets.push(socket);
      const refused = await send(socket, seal(s.sender, s.receivers, 'old client', { version: 1 }));
      expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
      expect(!refused.ok && refused.error.message).toMatch(/only protocol version 2/);
      // The same socket goes on serving version 2 frames.
      expect(await send(socket, frameOfEnvelope(seal(s.sender, s.receivers, 'new client')))).toMatchObject({ ok: true });
      const receiverToken = await signInTestDevice({ ...fx, url: strict.url }, s.receivers[0]!);
      const receiver = await rawSocket(strict.url, receiverToken);
      sockets.push(receiver);
      const got = collect(receiver);
      await eventually(() => got.length === 2, 5000, 'both deliveries');
      // What was stored as version 1 is delivered as version 1: the switch refuses new sends only.
      expect(got.some((d) => 'envelope' in d && d.envelope.header.messageId === old.header.messageId)).toBe(true);
      expect(got.some((d) => 'frame' in d)).toBe(true);
    } finally {
      await strict.close();
    }
  });

  it('a version 2 header sent as JSON is refused: version 2 travels only as its frame', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const env = seal(s.sender, s.receivers);
    const asJson = await a.socket.timeout(5000).emitWithAck('envelope:send', env);
    expect(asJson).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('refuses malformed frames with BAD_REQUEST and keeps serving', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const frame = frameOfEnvelope(seal(s.sender, s.receivers));
    const headerLength = new DataView(frame.buffer).getUint32(1);
    const withU32 = (at: number, n: number) => {
      const out = frame.slice();
      new DataView(out.buffer).setUint32(at, n);
      return out;
    };
    const countAt = 5 + 1 + 16 + 16 + 1 + s.sender.keys.deviceId.length + 8 + 32 + 24;
    const overCount = frame.slice();
    new DataView(overCount.buffer).setUint16(countAt, 0xffff);
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    for (const bad of [frame.subarray(0, 3), frame.subarray(0, frame.length - 1), longer, withU32(1, 0xffff_ffff), withU32(1, headerLength + 1), overCount, new Uint8Array(0)]) {
      expect(await send(a.socket, bad)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    const flipped = frame.slice();
    flipped[frame.length - 1] = (flipped[frame.length - 1] ?? 0) ^ 1;
    expect(await send(a.socket, flipped)).toMatchObject({ ok: false, error: { code: 'BAD_SIGNATURE' } });
    expect(readFrame(frame).senderDeviceId).toBe(s.sender.keys.deviceId);
    expect((await send(a.socket, frame)).ok).toBe(true);
  });
});

describe('delivery', () => {
  it('replays the pending inbox in order on connect, and again on inbox:sync', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const env = seal(s.sender, s.receivers, `m${i}`);
      ids.push(env.header.messageId);
      expect((await send(a.socket, env)).ok).toBe(true);
    }
    const r = await s.connect(s.receivers[0]!);
    const got = collect(r.socket);
    await eventually(() => got.length === 8, 5000, 'replay');
    expect(got.map((d) => envelopeOfDelivery(d).header.messageId)).toEqual(ids);
    // Nothing acked: a sync sends nothing new on this socket (all in flight), a new socket gets all again.
    expect(await r.socket.emitWithAck('inbox:sync')).toEqual({ ok: true, pending: 0 });
    r.socket.close();
    const r2 = await s.connect(s.receivers[0]!);
    const again = collect(r2.socket);
    await eventually(() => again.length === 8, 5000, 'redelivery');
  });

  it('tells the sender when an envelope expires undelivered', async () => {
    const crypto = fx.crypto;
    const shortRedis = redis;
    // The relay's clock is moved past the retention period; its sweeper (every 100 ms) does the rest.
    const clock = new TestClock();
    const short = await startTestRelay(network, { redisUrl: shortRedis.url, keyPrefix: 'short:', config: { retentionMs: 60_000, expirySweepMs: 100 }, now: clock.now });
    try {
      const n = ++counter;
      const ngo = network.addOrg(`ngo-exp-${n}`, 'ngo');
      const shelter = network.addOrg(`shelter-exp-${n}`, 'shelter');
      const sender = network.addDevice(ngo, `exp-${n}-s`);
      const receiver = network.addDevice(shelter, `exp-${n}-r`);
      for (const d of [sender, receiver]) await registerTestDevice(short.url, d);
      const token = await signInTestDevice({ url: short.url, crypto, network }, sender);
      const socket = await rawSocket(short.url, token);
      sockets.push(socket);
      const expired = new Promise((resolve) => socket.once('envelope:expired', resolve));
      const env = seal(sender, [receiver]);
      expect((await send(socket, env)).ok).toBe(true);
      clock.advance(60_000);
      const notice = (await expired) as { messageId: string; recipientDeviceIds: string[]; noticeId?: string };
      expect(notice).toMatchObject({ messageId: env.header.messageId, recipientDeviceIds: [receiver.keys.deviceId] });
      expect(notice.noticeId).toMatch(/^\d+-\d+$/);
      socket.close();

      // Not acked: it comes again on every connect, until the device acks it.
      const again = async () => {
        const got: Array<{ messageId: string; noticeId?: string }> = [];
        const s = await rawSocket(short.url, token, (early) => early.on('envelope:expired', (n) => got.push(n)));
        sockets.push(s);
        return { s, got };
      };
      const second = await again();
      await eventually(() => second.got.length > 0, 5000, 'kept notice');
      expect(second.got).toEqual([{ ...notice }]);
      expect(await second.s.timeout(5000).emitWithAck('notice:ack', { noticeId: 'nonsense' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
      expect(await second.s.timeout(5000).emitWithAck('notice:ack', { noticeId: notice.noticeId! })).toEqual({ ok: true });
      second.s.close();
      const third = await again();
      // A negative check: give the relay time to replay what it kept.
      expect(await third.s.timeout(5000).emitWithAck('inbox:sync')).toMatchObject({ ok: true });
      await new Promise((r) => setTimeout(r, 500));
      expect(third.got).toEqual([]);
      third.s.close();
    } finally {
      await short.close();
    }
  });

  it('asks a device to upload more one-time prekeys when they run low', async () => {
    const s = await scenario();
    const r = await s.connect(s.receivers[0]!);
    const low = new Promise<{ remaining: number }>((resolve) => r.socket.once('prekeys:low', resolve));
    const token = await signInTestDevice(fx, s.sender);
    for (let i = 0; i < 3; i++) {
      await fetch(new URL(ROUTES.bundles(s.shelter.orgId), fx.url), { headers: { authorization: `Bearer ${token}` } });
    }
    expect((await low).remaining).toBeLessThan(2);
  });
});

describe('hygiene', () => {
  it('never writes a token, a signature, a ciphertext or a plaintext into the logs', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const canary = 'CANARY-Aigerim-Nurlanovna-7c1e';
    const env = seal(s.sender, s.receivers, canary);
    expect((await send(a.socket, env)).ok).toBe(true);
    await send(a.socket, { ...env, signature: 'A'.repeat(86) });
    const logs = fx.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(a.token);
    expect(logs).not.toContain(env.signature);
    expect(logs).not.toContain(canary);
    expect(logs).not.toContain(toB64u(env.ciphertext.subarray(0, 24)));
  });

  it('never sends the plaintext in any frame, while the recipient decrypts it', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const r = await s.connect(s.receivers[0]!);
    const frames: string[] = [];
    for (const sock of [a.socket, r.socket]) {
      sock.io.engine.on('packet', (p: { data?: unknown }) => {
        const d = p.data;
        frames.push(typeof d === 'string' ? d : d instanceof Uint8Array ? Buffer.from(d).toString('latin1') : JSON.stringify(d ?? ''));
      });
    }
    const got = collect(r.socket);
    const canary = 'CANARY-frame-Shymkent-41d0';
    const env = sealEnvelope(fx.crypto, {
      sender: network.senderKeys(s.sender),
      recipients: [network.recipientKeys(s.receivers[0]!, false)],
      threadId: THREAD,
      sentAt: Date.now(),
      body: utf8(`{"note":"${canary}"}`),
    });
    expect((await send(a.socket, env)).ok).toBe(true);
    await eventually(() => got.length === 1, 5000, 'delivery');
    const d = got[0]!;
    const opened = openEnvelope(fx.crypto, {
      envelope: { ...envelopeOfDelivery(d), ciphertext: new Uint8Array(envelopeOfDelivery(d).ciphertext) },
      recipient: s.receivers[0]!.keys,
      sender: network.senderPublic(s.sender),
      now: Date.now(),
      maxAgeMs: 3_600_000,
    });
    expect(fromUtf8(opened.body)).toContain(canary);
    expect(frames.length).toBeGreaterThan(2);
    for (const f of frames) expect(f).not.toContain(canary);
    expect(fx.logs.join('\n')).not.toContain(canary);
  });

  it('keeps only ciphertext in Redis: no plaintext, no token', async () => {
    const s = await scenario();
    const a = await s.connect(s.sender);
    const canary = 'CANARY-trafficker-Almaty-9f2b';
    expect((await send(a.socket, seal(s.sender, s.receivers, canary))).ok).toBe(true);
    const client = redis.client();
    const keys = await client.keys('*');
    const needles = [Buffer.from(canary), Buffer.from(a.token)];
    for (const key of keys) {
      const type = await client.type(key);
      const values: Buffer[] = [];
      if (type === 'string') values.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
      if (type === 'hash') values.push(...Object.values(await client.hgetallBuffer(key)));
      if (type === 'list') values.push(...(await client.lrangeBuffer(key, 0, -1)));
      if (type === 'set') values.push(...(await client.smembersBuffer(key)));
      if (type === 'zset') values.push(...(await client.zrangeBuffer(key, 0, -1)));
      if (type === 'stream') for (const [, fields] of await client.xrangeBuffer(key, '-', '+')) values.push(...fields);
      values.push(Buffer.from(key));
      for (const v of values) for (const needle of needles) expect(v.includes(needle)).toBe(false);
    }
    expect(keys.length).toBeGreaterThan(0);
  });
});


describe('backpressure and caches', () => {
  it('sheds sends above the concurrency limit with UNAVAILABLE + retryAfterMs, without hanging up, and takes them when resent', async () => {
    const busy = await startTestRelay(network, { redisUrl: redis.url, keyPrefix: 'busy:', config: { maxConcurrentSends: 2 } });
    try {
      const n = ++counter;
      const ngo = network.addOrg(`busy-ngo-${n}`, 'ngo');
      const shelter = network.addOrg(`busy-shelter-${n}`, 'shelter');
      const sender = network.addDevice(ngo, `busy-${n}-alice`, { oneTimePrekeys: 5 });
      const receiver = network.addDevice(shelter, `busy-${n}-bob`, { oneTimePrekeys: 5 });
      for (const d of [sender, receiver]) expect((await registerTestDevice(busy.url, d)).status).toBe(201);
      const a = await rawSocket(busy.url, await signInTestDevice(busy, sender));
      const b = await rawSocket(busy.url, await signInTestDevice(busy, receiver));
      sockets.push(a, b);
      const got = collect(b);
      b.on('envelope:deliver', (d) => void b.emitWithAck('envelope:ack', { messageId: envelopeOfDelivery(d).header.messageId }).catch(() => undefined));

      // More refusals than the abuse limit (200 a minute): shedding is not the client's fault.
      const envelopes = Array.from({ length: 240 }, (_, i) => seal(sender, [receiver], `busy ${i}`));
      let pending = envelopes;
      const shed: SendResult[] = [];
      for (let round = 0; pending.length > 0 && round < 1000; round++) {
        const results = await Promise.all(pending.map((e) => send(a, e)));
        for (const r of results) if (!r.ok) shed.push(r);
        expect(results.flatMap((r) => (!r.ok && r.error.code !== 'UNAVAILABLE' ? [`${r.error.code}: ${r.error.message}`] : []))).toEqual([]);
        pending = pending.filter((_, i) => !results[i]!.ok);
      }
      expect(pending).toEqual([]);
      expect(shed.length).toBeGreaterThan(200);
      expect(shed[0]).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', details: { retryAfterMs: 250 } } });
      expect(a.connected).toBe(true);
      await eventually(() => got.length >= 240);
      expect(new Set(got.map((d) => envelopeOfDelivery(d).header.messageId)).size).toBe(240);
      const metrics = await fetch(`${busy.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(new RegExp(`handover_sends_shed_total ${shed.length}\\b`));
      a.close();
      b.close();
    } finally {
      await busy.close();
    }
  });

  it('accepts a device registered through another relay process at once, although its org device list is cached', async () => {
    const other = await startTestRelay(network, { redisUrl: redis.url });
    try {
      const s = await scenario();
      const a = await s.connect(s.sender);
      // Warm this relay's cache of the shelter's devices.
      expect((await send(a.socket, seal(s.sender, s.receivers))).ok).toBe(true);
      const late = network.addDevice(s.shelter, `${s.receivers[0]!.keys.deviceId}-late`, { oneTimePrekeys: 2 });
      expect((await registerTestDevice(other.url, late)).status).toBe(201);
      // The cached list says "stale"; the relay checks the store before refusing.
      expect((await send(a.socket, seal(s.sender, [...s.receivers, late]))).ok).toBe(true);
      // And the cached list is not trusted for a refusal either: the old set now misses the new device.
      expect(await send(a.socket, seal(s.sender, s.receivers))).toMatchObject({
        ok: false,
        error: { code: 'DEVICE_SET_MISMATCH', details: { missing: [late.keys.deviceId], stale: [] } },
      });
    } finally {
      await other.close();
    }
  });
});
