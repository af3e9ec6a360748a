/**
 * A relay process to throw hostile input at: private Redis, a small
 * network (two orgs, three devices, signed in), valid request bodies to
 * mutate, and helpers for raw HTTP requests and health checks.
 */
import http from 'node:http';
import { type Crypto } from '../../../shared/crypto/types';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { generateOneTimePrekeys, rotateSignedPrekeys } from '../../../shared/device-keys';
import { toB64u } from '../../../shared/encoding';
import { type TestDevice, TestNetwork, type TestOrg } from '../../support/network';
import { startRedis, type TestRedis } from '../../support/redis';
import { registerAll, signInAll } from './burst';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../../support/relay-process';

export interface FuzzTarget {
  crypto: Crypto;
  network: TestNetwork;
  redis: TestRedis;
  relay: RelayProcess;
  orgA: TestOrg;
  orgB: TestOrg;
  /** d1 and d2 in org A, d3 in org B; all registered and signed in. */
  devices: { d1: TestDevice; d2: TestDevice; d3: TestDevice };
  tokens: Map<string, string>;
  /** Valid bodies for every POST/PUT route (never sent unmutated). */
  valid: Record<'org' | 'device' | 'challenge' | 'session' | 'signedPrekeys' | 'oneTimePrekeys' | 'revocation', Record<string, unknown>>;
  close(): Promise<void>;
}

/** Envelopes up to 256 KiB keep oversized cases cheap. */
export const FUZZ_MAX_ENVELOPE_BYTES = 256 * 1024 + 64;

export async function startFuzzTarget(label: string, env: Record<string, string> = {}): Promise<FuzzTarget> {
  const crypto = await loadCrypto();
  const network = new TestNetwork(crypto, Date.now());
  const redis = await startRedis({ appendfsync: 'everysec' });
  const relay = await spawnRelay({
    REDIS_URL: redis.url,
    HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey),
    ...OPEN_LIMITS,
    MAX_ENVELOPE_BYTES: String(FUZZ_MAX_ENVELOPE_BYTES),
    ...env,
  });
  const orgA = network.addOrg(`${label}-a`, 'ngo');
  const orgB = network.addOrg(`${label}-b`, 'shelter');
  const devices = { d1: network.addDevice(orgA, `${label}-d1`), d2: network.addDevice(orgA, `${label}-d2`), d3: network.addDevice(orgB, `${label}-d3`) };
  await registerAll(relay.url, Object.values(devices));
  const tokens = await signInAll({ url: relay.url, crypto, network }, Object.values(devices));

  // Valid bodies: a new org, a new device, fresh prekeys, a revocation of a throwaway device.
  const newOrg = network.addOrg(`${label}-new`, 'iom');
  const newDevice = network.addDevice(orgA, `${label}-new-device`);
  const victim = network.addDevice(orgA, `${label}-victim`);
  const { signedPrekey, pqPrekey } = rotateSignedPrekeys(crypto, devices.d1.keys, network.now + 1000);
  const valid: FuzzTarget['valid'] = {
    org: { certificate: newOrg.certificate },
    device: { certificate: newDevice.certificate, signedPrekey: newDevice.signedPrekey, pqPrekey: newDevice.pqPrekey, oneTimePrekeys: newDevice.oneTimePrekeys },
    challenge: { deviceId: devices.d1.keys.deviceId },
    session: { deviceId: devices.d1.keys.deviceId, challengeId: toB64u(crypto.random(16)), signature: toB64u(crypto.random(64)) },
    signedPrekeys: { signedPrekey, pqPrekey },
    oneTimePrekeys: { prekeys: generateOneTimePrekeys(crypto, devices.d1.keys, 3, network.now) },
    revocation: { revocation: network.revokeDevice(victim) },
  };
  return {
    crypto,
    network,
    redis,
    relay,
    orgA,
    orgB,
    devices,
    tokens,
    valid,
    close: async () => {
      agent.destroy();
      if (relay.alive()) await relay.kill();
      await redis.destroy();
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Source address (e.g. 127.0.0.2 to come from "another IP"). */
  localAddress?: string;
}

/** One HTTP request with full control of path, headers and body bytes. */
export function rawRequest(url: string, req: RawRequest, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  // Node sends a GET body without framing unless told its length.
  const headers = { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) };
  return new Promise((resolve, reject) => {
    const r = http.request(
      { hostname, port, method: req.method, path: req.path, headers, agent, timeout: timeoutMs, ...(req.localAddress ? { localAddress: req.localAddress } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** The relay still answers: liveness, readiness, and an authenticated request. */
export async function healthy(target: FuzzTarget): Promise<string | undefined> {
  if (!target.relay.alive()) return 'the relay process died';
  const url = target.relay.url;
  const health = await rawRequest(url, { method: 'GET', path: '/healthz' });
  if (health.status !== 200) return `/healthz answered ${health.status}`;
  const ready = await rawRequest(url, { method: 'GET', path: '/readyz' });
  if (ready.status !== 200) return `/readyz answered ${ready.status}`;
  const token = target.tokens.get(target.devices.d2.keys.deviceId)!;
  const me = await rawRequest(url, { method: 'GET', path: '/v1/devices/me/prekeys', headers: { authorization: `Bearer ${token}` } });
  if (me.status !== 200) return `authenticated canary answered ${me.status}: ${me.body.slice(0, 200)}`;
  return undefined;
}

/** Log lines at error level or above (an INTERNAL error or a crash leaves one). */
export function errorLines(relay: RelayProcess): string[] {
  return relay.output.filter((line) => {
    const m = /"level":(\d+)/.exec(line);
    return m ? Number(m[1]) >= 50 : !line.startsWith('{');
  });
}
