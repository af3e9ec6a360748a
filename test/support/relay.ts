/**
 * Test fixture: a real relay (HTTP + Socket.IO) on a free port, on the
 * embedded store or on a private redis-server, trusting a TestNetwork root;
 * plus helpers to enrol real SDK clients and to sign in by hand for tests
 * that play a hostile client.
 */
import { Writable } from 'node:stream';
import { io as ioClient, type Socket } from 'socket.io-client';
import { authSigningInput, ROUTES } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { type Crypto, PWHASH_TEST_ONLY } from '../../shared/crypto/sodium';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { toB64u } from '../../shared/encoding';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/socket-events';
import { HandoverClient } from '../../client/sdk/client';
import { MemoryStorage } from '../../client/sdk/storage';
import { type RelayConfig, testConfig } from '../../server/config';
import { createLogger } from '../../server/logger';
import { type Relay, startRelay } from '../../server/relay';
import { type TestDevice, type TestNetwork, type TestOrg, scopedDeviceId } from './network';

export interface RelayFixture {
  relay: Relay;
  url: string;
  crypto: Crypto;
  network: TestNetwork;
  /** Every log line the relay wrote (JSON), for leak checks. */
  logs: string[];
  close(): Promise<void>;
}

export async function startTestRelay(
  network: TestNetwork,
  opts: { redisUrl?: string; keyPrefix?: string; config?: Partial<RelayConfig>; logLevel?: RelayConfig['logLevel'] } = {},
): Promise<RelayFixture> {
  // What the relay runs in production: libsodium with OpenSSL's Ed25519 verification.
  const crypto = await loadNodeCrypto();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const config = testConfig({
    rootPublicKey: toB64u(network.root.publicKey),
    ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    ...(opts.keyPrefix ? { redisKeyPrefix: opts.keyPrefix } : {}),
    logLevel: opts.logLevel ?? 'debug',
    shutdownGraceMs: 2000,
    ...opts.config,
  });
  const relay = await startRelay(config, { crypto, logger: createLogger(config.logLevel, sink) });
  return { relay, url: relay.url, crypto, network, logs, close: () => relay.close() };
}

/** Register the org (idempotent) and return a registered, signed-in SDK client for a new device. */
export async function enrolClient(
  fx: { url: string; crypto: Crypto; network: TestNetwork },
  org: TestOrg,
  name: string,
  opts: { connect?: boolean; storage?: MemoryStorage; now?: () => number } = {},
): Promise<HandoverClient> {
  const { crypto, network } = fx;
  const deviceId = scopedDeviceId(org.orgId, name);
  await postJson(fx.url, ROUTES.orgs, { certificate: org.certificate });
  const storage = opts.storage ?? new MemoryStorage();
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto,
    storage,
    passphrase: 'correct horse battery staple',
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: org.orgId,
    deviceId,
    label: `Staff ${deviceId}`,
    rootPublicKey: toB64u(network.root.publicKey),
    serverUrl: fx.url,
    ackTimeoutMs: 3000,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const now = Date.now();
  const certificate = issueDeviceCertificate(crypto, {
    request: enrolmentRequest,
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 90 * 24 * 3600_000,
  });
  await client.importCertificates(org.certificate, certificate);
  await client.register();
  if (opts.connect !== false) await client.connect();
  return client;
}

export async function postJson(url: string, path: string, body: unknown, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(new URL(path, url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

export async function getJson(url: string, path: string, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(new URL(path, url), { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: await res.json() };
}

/** Register a TestNetwork device (keys held by the test) directly over HTTP. */
export async function registerTestDevice(url: string, device: TestDevice): Promise<{ status: number; json: unknown }> {
  await postJson(url, ROUTES.orgs, { certificate: device.org.certificate });
  return postJson(url, ROUTES.devices, {
    certificate: device.certificate,
    signedPrekey: device.signedPrekey,
    pqPrekey: device.pqPrekey,
    oneTimePrekeys: device.oneTimePrekeys,
  });
}

/** Challenge-response sign-in for a TestNetwork device; returns the session token. */
export async function signInTestDevice(fx: { url: string; crypto: Crypto; network: TestNetwork }, device: TestDevice): Promise<string> {
  const deviceId = device.keys.deviceId;
  const ch = (await postJson(fx.url, ROUTES.challenge, { deviceId })).json as { challengeId: string; challenge: string };
  const input = authSigningInput({ networkId: fx.network.anchor.networkId, deviceId, challengeId: ch.challengeId, challenge: ch.challenge });
  const signature = toB64u(fx.crypto.sign(input, device.keys.sign.privateKey));
  const res = await postJson(fx.url, ROUTES.session, { deviceId, challengeId: ch.challengeId, signature });
  if (res.status !== 200) throw new Error(`sign-in failed: ${JSON.stringify(res.json)}`);
  return (res.json as { token: string }).token;
}

export type RawSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A bare Socket.IO client (no SDK), for hostile-client tests. Resolves once connected or rejects with the refusal. */
/** `listen` registers handlers before the handshake, for events the relay sends as soon as the socket connects. */
export function rawSocket(url: string, token: unknown, listen?: (socket: RawSocket) => void): Promise<RawSocket> {
  const socket: RawSocket = ioClient(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  listen?.(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      reject(err);
    });
  });
}

/** Wait until `check` passes (polling), or fail after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
