/**
 * Test fixture: a real relay (HTTP + Socket.IO) on a free port, on the
 * embedded store or on a private redis-server, trusting a TestNetwork root;
 * plus helpers to enrol real SDK clients and to sign in by hand for tests
 * that play a hostile client.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import { io as ioClient, type Socket } from 'socket.io-client';
import { authSigningInput, ROUTES, SocketTicketResponse } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { type Crypto, PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { toB64u } from '../../shared/encoding';
import type { ClientToServerEvents, ServerToClientEvents, WireError } from '../../shared/socket-events';
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
  opts: { redisUrl?: string; keyPrefix?: string; config?: Partial<RelayConfig>; logLevel?: RelayConfig['logLevel']; now?: () => number } = {},
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
  const relay = await startRelay(config, { crypto, logger: createLogger(config.logLevel, sink), ...(opts.now ? { now: opts.now } : {}) });
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

/** A refusal from the relay: an Error carrying the wire error as `data` (as socket.io-client reports one). */
export type Refusal = Error & { data?: WireError };

/**
 * POST /v1/auth/socket-ticket with a session token (any value: hostile
 * tests pass non-strings), optionally from a given local address. Rejects
 * with a Refusal carrying the relay's error.
 */
export async function socketTicket(url: string, token: unknown, opts: { localAddress?: string } = {}): Promise<SocketTicketResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${typeof token === 'string' ? token : JSON.stringify(token)}`;
  const res = await httpRequest(url, { method: 'POST', path: ROUTES.socketTicket, headers, body: '{}', ...opts });
  let json: unknown;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  if (res.status !== 200) {
    const wire = (json as { error?: WireError } | undefined)?.error;
    const refusal: Refusal = new Error(wire?.message ?? `socket ticket refused: HTTP ${res.status}`);
    if (wire) refusal.data = wire;
    throw refusal;
  }
  return SocketTicketResponse.parse(json);
}

/**
 * A bare Socket.IO client (no SDK), for hostile-client tests: gets a socket
 * ticket with `token`, then connects with it. Resolves once connected;
 * rejects with the refusal (the ticket route's, with `data`, or the
 * upgrade's). `listen` registers handlers before the handshake, for events
 * the relay sends as soon as the socket connects.
 */
export async function rawSocket(url: string, token: unknown, listen?: (socket: RawSocket) => void): Promise<RawSocket> {
  const { ticket } = await socketTicket(url, token);
  return socketWithTicket(url, ticket, listen);
}

/** A bare Socket.IO client connecting with this ticket (no ticket: `undefined`). */
export function socketWithTicket(
  url: string,
  ticket: string | undefined,
  listen?: (socket: RawSocket) => void,
  opts: { localAddress?: string; timeoutMs?: number } = {},
): Promise<RawSocket> {
  // localAddress is passed through to the `ws` client (not in socket.io-client's option types).
  const options = {
    transports: ['websocket'],
    ...(ticket !== undefined ? { query: { ticket } } : {}),
    reconnection: false,
    forceNew: true,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  };
  const socket: RawSocket = ioClient(url, options as Parameters<typeof ioClient>[1]);
  listen?.(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      reject(err);
    });
  });
}

export interface UpgradeAnswer {
  /** The HTTP status of the answer to the upgrade (101 when the WebSocket was accepted). */
  status: number;
  /** The body of a refusal (the relay's JSON error), empty for 101. */
  body: string;
  /** The relay's error, parsed from the body of a refusal. */
  error?: WireError;
}

/**
 * A WebSocket upgrade to the relay's Socket.IO path by hand, on a raw TCP
 * connection: sends the request head (and `after`, bytes a hostile client
 * pushes right behind it), then reads the relay's answer. A 101 is closed
 * at once; a refusal is read to the end (the relay closes the connection).
 */
export function rawUpgrade(
  url: string,
  opts: { ticket?: string; query?: string; after?: Buffer; localAddress?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<UpgradeAnswer> {
  const { hostname, port } = new URL(url);
  const query = opts.query ?? `EIO=4&transport=websocket${opts.ticket !== undefined ? `&ticket=${encodeURIComponent(opts.ticket)}` : ''}`;
  const head = [
    `GET /socket.io/?${query} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port), ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (answer: UpgradeAnswer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error('no answer to the upgrade in time')), opts.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(head);
      if (opts.after) socket.write(opts.after);
    });
    const parse = (): UpgradeAnswer | undefined => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 101) return { status, body: '' };
      const body = Buffer.concat(chunks).subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8');
      let error: WireError | undefined;
      try {
        error = (JSON.parse(body) as { error?: WireError }).error;
      } catch {
        error = undefined;
      }
      return { status, body, ...(error ? { error } : {}) };
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const answer = parse();
      if (answer?.status === 101) finish(answer);
    });
    socket.on('close', () => finish(parse() ?? new Error('the relay closed the connection without an answer')));
    socket.on('error', (err) => {
      // A reset after the refusal was written still leaves the refusal readable.
      const answer = parse();
      finish(answer ?? err);
    });
  });
}

/** One HTTP request with node:http (so it can come from a given local address). */
function httpRequest(
  url: string,
  req: { method: string; path: string; headers?: Record<string, string>; body?: string; localAddress?: string },
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const headers = { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) };
  return new Promise((resolve, reject) => {
    const r = http.request(
      { hostname, port, method: req.method, path: req.path, headers, agent: false, timeout: 10_000, ...(req.localAddress ? { localAddress: req.localAddress } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error('no answer in time')));
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
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
