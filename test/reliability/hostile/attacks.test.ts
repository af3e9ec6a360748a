/**
 * Attacks, one test each, against a real relay on a real Redis: every one
 * must be refused with the right code and leave nothing behind. The list
 * of cases with the code each got goes to test/artifacts/reliability.json.
 */
import { authSigningInput, ROUTES } from '../../../shared/api';
import { DOMAIN } from '../../../shared/canonical';
import { frameOfEnvelope, messageIdOfDelivery } from '../../../shared/envelope-wire';
import { issueOrgCertificate, signObject } from '../../../shared/certificates';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { toB64u, utf8 } from '../../../shared/encoding';
import { envelopeSigningInput, sealEnvelope } from '../../../shared/envelope';
import type { DeviceCertificate, SealedEnvelope } from '../../../shared/schemas';
import type { Delivery } from '../../../shared/socket-events';
import { io as ioClient } from 'socket.io-client';
import { testConfig } from '../../../server/config';
import { DAY, type TestDevice, TestNetwork } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import {
  getJson,
  postJson,
  type RawSocket,
  rawSocket,
  rawUpgrade,
  registerTestDevice,
  type RelayFixture,
  signInTestDevice,
  socketTicket,
  startTestRelay,
} from '../../support/relay';
import { recordFigures } from '../support/figures';
import { sleep, waitFor } from '../support/wait';

const THREAD = 'AAAAAAAAAAAAAAAAAAAAAA';
const SESSION_TTL_MS = 1500;

let redis: TestRedis;
let fx: RelayFixture;
let shortSessions: RelayFixture;
let network: TestNetwork;
const sockets: RawSocket[] = [];
const cases: Array<{ attack: string; expected: string; got: string }> = [];

/** Record what an attack got, and check it is what it should be. */
function refused(attack: string, expected: string, got: string | undefined): void {
  cases.push({ attack, expected, got: got ?? '(accepted)' });
  expect(`${attack}: ${got}`).toBe(`${attack}: ${expected}`);
}
const codeOf = (json: unknown): string | undefined => (json as { error?: { code?: string } } | null)?.error?.code;

beforeAll(async () => {
  const crypto = await loadCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis({ appendfsync: 'everysec' });
  const rateLimits = { ...testConfig().rateLimits, ipPerMinute: 100_000, connectPerMinute: 100_000 };
  fx = await startTestRelay(network, { redisUrl: redis.url, keyPrefix: 'atk:', logLevel: 'warn', config: { rateLimits } });
  shortSessions = await startTestRelay(network, { redisUrl: redis.url, keyPrefix: 'atk-ttl:', logLevel: 'warn', config: { rateLimits, sessionTtlMs: SESSION_TTL_MS } });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await fx?.close();
  await shortSessions?.close();
  await redis?.destroy();
  recordFigures('attacks', 'refusals', { cases });
});

let n = 0;
async function world(opts: { shelterDevices?: number; oneTimePrekeys?: number; relay?: RelayFixture } = {}) {
  n++;
  const relay = opts.relay ?? fx;
  const ngo = network.addOrg(`atk-ngo-${n}`, 'ngo');
  const shelter = network.addOrg(`atk-shelter-${n}`, 'shelter');
  const sender = network.addDevice(ngo, `atk-${n}-sender`);
  const receivers = Array.from({ length: opts.shelterDevices ?? 1 }, (_, i) =>
    network.addDevice(shelter, `atk-${n}-r${i}`, { oneTimePrekeys: opts.oneTimePrekeys ?? 2 }),
  );
  for (const d of [sender, ...receivers]) expect((await registerTestDevice(relay.url, d)).status).toBe(201);
  const connect = async (d: TestDevice) => {
    const token = await signInTestDevice(relay, d);
    const socket = await rawSocket(relay.url, token);
    sockets.push(socket);
    const got: string[] = [];
    socket.on('envelope:deliver', (delivery: Delivery) => got.push(messageIdOfDelivery(delivery)));
    return { socket, token, got };
  };
  return { ngo, shelter, sender, receivers, connect, relay };
}

function seal(from: TestDevice, to: TestDevice[], extra: { senderDeviceId?: string } = {}): SealedEnvelope {
  const env = sealEnvelope(network.crypto, {
    sender: { ...network.senderKeys(from), ...(extra.senderDeviceId ? { deviceId: extra.senderDeviceId } : {}) },
    recipients: to.map((d) => network.recipientKeys(d, false)),
    threadId: THREAD,
    sentAt: Date.now(),
    body: utf8('attack'),
  });
  return env;
}

type Reply = { ok: true } | { ok: false; error: { code: string; details?: Record<string, unknown> } };
const send = async (socket: RawSocket, env: unknown): Promise<string> => {
  const res = (await socket.timeout(5000).emitWithAck('envelope:send', asWire(env) as SealedEnvelope)) as Reply;
  return res.ok ? 'ok' : res.error.code;
};
const sendFull = (socket: RawSocket, env: unknown) => socket.timeout(5000).emitWithAck('envelope:send', asWire(env) as SealedEnvelope) as Promise<Reply>;

/** As a client sends it: a version 2 envelope object (tampered or not) as its frame; what has no frame as it is. */
function asWire(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  const env = value as SealedEnvelope;
  if (env.header?.v !== 2) return value;
  try {
    return frameOfEnvelope(env);
  } catch {
    return value; // not encodable as a frame: sent as the object, which the relay refuses
  }
}
/** A genuine sign-in (fresh challenge, signed with the device's own key): 'ok' or the refusal's code. */
async function signInCode(url: string, device: TestDevice): Promise<string | undefined> {
  const deviceId = device.keys.deviceId;
  const ch = (await postJson(url, ROUTES.challenge, { deviceId })).json as { challengeId: string; challenge: string };
  const signature = toB64u(network.crypto.sign(authSigningInput({ networkId: network.anchor.networkId, deviceId, challengeId: ch.challengeId, challenge: ch.challenge }), device.keys.sign.privateKey));
  const res = await postJson(url, ROUTES.session, { deviceId, challengeId: ch.challengeId, signature });
  return res.status === 200 ? 'ok' : codeOf(res.json);
}
/** What a socket opened with this session token gets: its socket ticket is refused (code), or it connects. */
const handshakeCode = (url: string, token: unknown) =>
  rawSocket(url, token).then(
    (s) => {
      s.close();
      return 'connected';
    },
    (err: { data?: { code?: string } }) => err.data?.code ?? 'transport',
  );

it('replayed auth challenge: the same signed answer a second time → UNAUTHENTICATED', async () => {
  const w = await world();
  const deviceId = w.sender.keys.deviceId;
  const ch = (await postJson(fx.url, ROUTES.challenge, { deviceId })).json as { challengeId: string; challenge: string };
  const signature = toB64u(network.crypto.sign(authSigningInput({ networkId: network.anchor.networkId, deviceId, challengeId: ch.challengeId, challenge: ch.challenge }), w.sender.keys.sign.privateKey));
  const answer = { deviceId, challengeId: ch.challengeId, signature };
  expect((await postJson(fx.url, ROUTES.session, answer)).status).toBe(200);
  const replay = await postJson(fx.url, ROUTES.session, answer);
  expect(replay.status).toBe(401);
  refused('replayed auth challenge', 'UNAUTHENTICATED', codeOf(replay.json));
});

it('stolen session token used after its expiry → UNAUTHENTICATED (HTTP and socket), and a live socket is closed at expiry', async () => {
  const w = await world({ relay: shortSessions });
  const token = await signInTestDevice(shortSessions, w.sender);
  const live = await rawSocket(shortSessions.url, token);
  sockets.push(live);
  const closedAtExpiry = new Promise<boolean>((resolve) => {
    live.once('disconnect', () => resolve(true));
    setTimeout(() => resolve(false), SESSION_TTL_MS + 3000);
  });
  await sleep(SESSION_TTL_MS + 200);
  const http = await getJson(shortSessions.url, ROUTES.prekeyStatus, token);
  expect(http.status).toBe(401);
  expect(await closedAtExpiry).toBe(true);
  refused('stolen token after expiry (HTTP)', 'UNAUTHENTICATED', codeOf(http.json));
  refused('stolen token after expiry (socket ticket)', 'UNAUTHENTICATED', await handshakeCode(shortSessions.url, token));
});

it('unauthenticated socket: an upgrade without a ticket, or with a session token in its place, is refused before the upgrade (finding 7)', async () => {
  const w = await world();
  const token = await signInTestDevice(fx, w.sender);
  refused('socket upgrade without a ticket', 'UNAUTHENTICATED', (await rawUpgrade(fx.url, {})).error?.code);
  refused('socket upgrade with a session token as the ticket', 'UNAUTHENTICATED', (await rawUpgrade(fx.url, { ticket: token })).error?.code);
  const { ticket } = await socketTicket(fx.url, token);
  expect((await rawUpgrade(fx.url, { ticket })).status).toBe(101);
  refused('socket upgrade with a used ticket', 'UNAUTHENTICATED', (await rawUpgrade(fx.url, { ticket })).error?.code);
});

it('envelope replay → REPLAY (same device, any session), FORBIDDEN (another device); delivered once', async () => {
  const w = await world();
  const a = await w.connect(w.sender);
  const r = await w.connect(w.receivers[0]!);
  const env = seal(w.sender, w.receivers);
  expect(await send(a.socket, env)).toBe('ok');
  refused('envelope replay (same session)', 'REPLAY', await send(a.socket, env));
  const second = await w.connect(w.sender);
  refused('envelope replay (another session of the sender)', 'REPLAY', await send(second.socket, env));
  // Someone who captured the envelope replays it from their own device.
  const other = await w.connect(w.receivers[0]!);
  refused('envelope replay (captured, sent by another device)', 'FORBIDDEN', await send(other.socket, env));
  await waitFor(() => r.got.length >= 1, 5000);
  await sleep(300);
  expect(r.got).toEqual([env.header.messageId]);
});

it('sender id of another device → FORBIDDEN', async () => {
  const w = await world({ shelterDevices: 2 });
  const a = await w.connect(w.sender);
  // The signed-in sender names a shelter device as the sender (signed with that device's key: the strongest case).
  const victim = w.receivers[1]!;
  const env = seal(victim, [w.receivers[0]!, w.sender]);
  refused('sender id of another device', 'FORBIDDEN', await send(a.socket, env));
});

it('valid signature by a different device → BAD_SIGNATURE', async () => {
  const w = await world();
  const mallory = network.addDevice(w.ngo, `atk-${n}-mallory`);
  await registerTestDevice(fx.url, mallory);
  const a = await w.connect(w.sender);
  const env = seal(w.sender, [...w.receivers, mallory]);
  const forged = { ...env, signature: toB64u(network.crypto.sign(envelopeSigningInput(env.header), mallory.keys.sign.privateKey)) };
  refused('valid signature by a different device', 'BAD_SIGNATURE', await send(a.socket, forged));
});

it('recipient list missing an org device → DEVICE_SET_MISMATCH naming it', async () => {
  const w = await world({ shelterDevices: 2 });
  const a = await w.connect(w.sender);
  const res = await sendFull(a.socket, seal(w.sender, [w.receivers[0]!]));
  expect(res).toMatchObject({ ok: false, error: { details: { missing: [w.receivers[1]!.keys.deviceId], stale: [] } } });
  refused('recipient list missing an org device', 'DEVICE_SET_MISMATCH', res.ok ? undefined : res.error.code);
});

it('recipient list holding a stale (revoked) device → DEVICE_SET_MISMATCH naming it', async () => {
  const w = await world({ shelterDevices: 2 });
  const [keep, gone] = w.receivers as [TestDevice, TestDevice];
  expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(gone) })).status).toBe(201);
  const a = await w.connect(w.sender);
  const res = await sendFull(a.socket, seal(w.sender, [keep, gone]));
  expect(res).toMatchObject({ ok: false, error: { details: { missing: [], stale: [gone.keys.deviceId] } } });
  refused('recipient list holding a stale device', 'DEVICE_SET_MISMATCH', res.ok ? undefined : res.error.code);
});

it('revoked device: its socket is dropped, its token refused, it cannot sign in again → REVOKED', async () => {
  const w = await world();
  const a = await w.connect(w.sender);
  const dropped = new Promise((resolve) => a.socket.once('disconnect', resolve));
  expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeDevice(w.sender) })).status).toBe(201);
  await dropped;
  refused('revoked device: old token', 'UNAUTHENTICATED', await handshakeCode(fx.url, a.token));
  refused('revoked device: new sign-in (with its own key)', 'REVOKED', await signInCode(fx.url, w.sender));
  const again = await registerTestDevice(fx.url, w.sender);
  refused('revoked device: registering again', 'REVOKED', codeOf(again.json));
});

it('revoked org: none of its devices signs in, it cannot re-register, and nobody can address it → REVOKED / DEVICE_SET_MISMATCH', async () => {
  const w = await world();
  const a = await w.connect(w.sender);
  const r = await w.connect(w.receivers[0]!);
  const dropped = new Promise((resolve) => r.socket.once('disconnect', resolve));
  expect((await postJson(fx.url, ROUTES.revocations, { revocation: network.revokeOrg(w.shelter) })).status).toBe(201);
  await dropped;
  refused('revoked org: device sign-in (with its own key)', 'REVOKED', await signInCode(fx.url, w.receivers[0]!));
  const reRegister = await postJson(fx.url, ROUTES.orgs, { certificate: w.shelter.certificate });
  refused('revoked org: registering again', 'REVOKED', codeOf(reRegister.json));
  refused('revoked org: addressed by a sender', 'DEVICE_SET_MISMATCH', await send(a.socket, seal(w.sender, w.receivers)));
});

it('device certificate signed by another org\'s key → FORBIDDEN (the uniform refusal), nothing stored', async () => {
  const w = await world();
  const mallory = network.addOrg(`atk-mallory-${n}`);
  await postJson(fx.url, ROUTES.orgs, { certificate: mallory.certificate });
  const device = network.addDevice(w.shelter, `atk-${n}-forged`);
  const { signature: _genuine, ...body } = device.certificate;
  const forged: DeviceCertificate = signObject(network.crypto, DOMAIN.deviceCertificate, body, mallory.keys.privateKey);
  const res = await postJson(fx.url, ROUTES.devices, { certificate: forged, signedPrekey: device.signedPrekey, pqPrekey: device.pqPrekey, oneTimePrekeys: [] });
  refused('device certificate signed by another org\'s key', 'FORBIDDEN', codeOf(res.json));
  refused('…and the forged device cannot sign in', 'UNAUTHENTICATED', await signInCode(fx.url, device));
});

it('org certificate from another network root → FORBIDDEN (other network, or this network id with the wrong root: one refusal)', async () => {
  const elsewhere = new TestNetwork(network.crypto, Date.now()).addOrg(`atk-elsewhere-${++n}`);
  refused('org certificate from another network', 'FORBIDDEN', codeOf((await postJson(fx.url, ROUTES.orgs, { certificate: elsewhere.certificate })).json));
  const impostorRoot = network.crypto.signKeyPair();
  const now = Date.now();
  const impostor = issueOrgCertificate(
    network.crypto,
    {
      networkId: network.anchor.networkId,
      orgId: `atk-impostor-${n}`,
      name: 'Impostor',
      orgType: 'authority',
      country: 'KZ',
      services: [],
      publicKey: toB64u(network.crypto.signKeyPair().publicKey),
      serial: 1,
      issuedAt: now - DAY,
      expiresAt: now + DAY,
    },
    impostorRoot.privateKey,
  );
  refused('org certificate naming this network, signed by another root', 'FORBIDDEN', codeOf((await postJson(fx.url, ROUTES.orgs, { certificate: impostor })).json));
});

it('bundle fetch rate abuse (draining one-time prekeys) → RATE_LIMITED; the prekeys handed out never exceed what was served', async () => {
  const initial = 60;
  const w = await world({ oneTimePrekeys: initial });
  const token = await signInTestDevice(fx, w.sender);
  const limit = fx.relay.config.rateLimits.bundlesPerMinute;
  const statuses: number[] = [];
  let code: string | undefined;
  for (let i = 0; i < limit + 15; i++) {
    const res = await getJson(fx.url, ROUTES.bundles(w.shelter.orgId), token);
    statuses.push(res.status);
    if (res.status !== 200) code = codeOf(res.json);
  }
  const served = statuses.filter((s) => s === 200).length;
  const remaining = await fx.relay.store.countOneTimePrekeys(w.receivers[0]!.keys.deviceId);
  expect(served).toBeLessThanOrEqual(limit * 2); // fixed windows: at most two windows' worth around a window edge
  expect(remaining).toBe(initial - served);
  expect(remaining).toBeGreaterThan(0);
  refused('bundle fetch rate abuse', 'RATE_LIMITED', code);
});

it('reading another device\'s inbox: nothing names it; a handshake naming the victim still gets only its own inbox', async () => {
  const w = await world();
  const attacker = w.receivers[0]!;
  const victim = network.addDevice(w.ngo, `atk-${n}-victim`);
  await registerTestDevice(fx.url, victim);
  const a = await w.connect(w.sender);
  const env = seal(w.sender, [victim]); // the sender's own org only: the attacker is not a recipient
  expect(await send(a.socket, env)).toBe('ok');
  const token = await signInTestDevice(fx, attacker);
  const { ticket } = await socketTicket(fx.url, token);
  const forged = ioClient(fx.url, { transports: ['websocket'], query: { ticket }, auth: { token, deviceId: victim.keys.deviceId, orgId: victim.org.orgId }, reconnection: false, forceNew: true });
  sockets.push(forged as RawSocket);
  const got: string[] = [];
  forged.on('envelope:deliver', (d: Delivery) => got.push(messageIdOfDelivery(d)));
  await new Promise<void>((resolve, reject) => {
    forged.once('connect', () => resolve());
    forged.once('connect_error', reject);
  });
  const sync = (await forged.timeout(5000).emitWithAck('inbox:sync')) as { ok: boolean };
  await sleep(300);
  expect(sync.ok).toBe(true);
  expect(got).toEqual([]);
  expect(await fx.relay.store.inboxLength(victim.keys.deviceId)).toBe(1);
  refused('reading another device\'s inbox', 'nothing delivered', got.length === 0 ? 'nothing delivered' : 'delivered');
});

it('acking another device\'s inbox: its envelope stays and is still delivered; the sender hears nothing', async () => {
  const w = await world({ shelterDevices: 2 });
  const [victim, attacker] = w.receivers as [TestDevice, TestDevice];
  const a = await w.connect(w.sender);
  const delivered: string[] = [];
  a.socket.on('envelope:delivered', (notice) => delivered.push(notice.recipientDeviceId));
  const env = seal(w.sender, [victim, attacker]);
  expect(await send(a.socket, env)).toBe('ok');
  const m = await w.connect(attacker);
  await waitFor(() => m.got.length === 1, 5000);
  // The attacker acks for itself (fine) and tries again hoping to clear the victim's copy.
  await m.socket.emitWithAck('envelope:ack', { messageId: env.header.messageId });
  await m.socket.emitWithAck('envelope:ack', { messageId: env.header.messageId });
  expect(await fx.relay.store.inboxLength(victim.keys.deviceId)).toBe(1);
  const v = await w.connect(victim);
  await waitFor(() => v.got.length === 1, 5000);
  await sleep(200);
  expect(delivered).toEqual([attacker.keys.deviceId]);
  refused('acking another device\'s inbox', 'victim still has it', v.got[0] === env.header.messageId ? 'victim still has it' : 'lost');
});

it('header whose ciphertext hash does not match → BAD_SIGNATURE (tampered body, or a sender-signed wrong hash); wrong length → BAD_REQUEST', async () => {
  const w = await world();
  const a = await w.connect(w.sender);
  const env = seal(w.sender, w.receivers);
  const tampered = new Uint8Array(env.ciphertext);
  tampered[0] = (tampered[0] ?? 0) ^ 0x80;
  refused('ciphertext changed after signing', 'BAD_SIGNATURE', await send(a.socket, { ...env, ciphertext: tampered }));
  // The sender itself signs a header whose hash names other bytes.
  const other = seal(w.sender, w.receivers);
  const header = { ...env.header, ciphertextHash: other.header.ciphertextHash };
  const signedWrongHash = { header, signature: toB64u(network.crypto.sign(envelopeSigningInput(header), w.sender.keys.sign.privateKey)), ciphertext: env.ciphertext };
  refused('sender-signed header with a wrong ciphertext hash', 'BAD_SIGNATURE', await send(a.socket, signedWrongHash));
  const header2 = { ...env.header, ciphertextLength: env.header.ciphertextLength + 16 };
  const wrongLength = { header: header2, signature: toB64u(network.crypto.sign(envelopeSigningInput(header2), w.sender.keys.sign.privateKey)), ciphertext: env.ciphertext };
  refused('sender-signed header with a wrong ciphertext length', 'BAD_REQUEST', await send(a.socket, wrongLength));
});

