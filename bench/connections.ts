/**
 * Connection cost: relay memory per idle authenticated socket, measured in
 * the relay's own process (RSS and V8 heap after a full GC, before and
 * after connecting N sockets). Full mode signs in one device per socket, as
 * in a real deployment; quick mode four sockets per device, to keep the
 * sign-ins (about 5 ms each over HTTP) within its time budget.
 *
 * The relay runs on Redis, so sessions and certificates live outside the
 * measured process, and two relay processes share it: one takes the
 * thousands of registrations and sign-ins, the other only the sockets.
 * The measured one is thus fresh (no garbage from the sign-ins inflating
 * or hiding RSS growth); a few warm-up sockets, opened and closed before
 * the baseline sample, take the one-off costs (code, JIT, buffers).
 *
 * The devices only need to sign in, never to receive anything, so they
 * share one X-Wing prekey key pair (a fresh one costs milliseconds each);
 * everything the relay checks at registration and sign-in is still real.
 * The relays start early, with the others (prestart.ts).
 */
import { execSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { toB64u } from '../shared/encoding';
import { TestNetwork, type TestDevice } from '../test/support/network';
import type { TestRedis } from '../test/support/redis';
import { type RawSocket, rawSocket } from '../test/support/relay';
import { inBatches, registerAndSignIn } from './handover-clients';
import type { BenchContext } from './scenario';
import { prestart } from './prestart';
import { startHandoverRelay } from './handover-relay';
import type { MemorySample, ServerProcess } from './server-process';
import { progress, round } from './timing';

const DEVICES_PER_ORG = 100;
/** File descriptors a process needs besides its sockets (libuv, stdio, IPC, Redis, files). */
const FD_HEADROOM = 200;

export interface IdleSocketsRow {
  sockets: number;
  devices: number;
  socketsPerDevice: number;
  /** Relay RSS and heap growth from no bench socket to `sockets` idle sockets, after a full GC. */
  rssDeltaBytes: number;
  heapDeltaBytes: number;
  /** external + array buffers (e.g. socket buffers held outside the V8 heap). */
  externalDeltaBytes: number;
  rssPerSocketKiB: number;
  heapPerSocketKiB: number;
  /** Wall time to open the sockets added at this level (handshake and authentication), seconds. */
  connectS: number;
}

export interface ConnectionsResult {
  store: 'redis';
  /** `ulimit -n` (soft/hard) this run had; each process needs one descriptor per socket. */
  fdLimit: { soft: number | null; hard: number | null };
  /** Socket counts the plan asked for but the fd limit did not allow. */
  blocked: Array<{ sockets: number; reason: string }>;
  baseline: MemorySample;
  rows: IdleSocketsRow[];
}

function fdLimit(): { soft: number | null; hard: number | null } {
  const read = (flag: string): number | null => {
    try {
      const out = execSync(`ulimit ${flag}`, { shell: '/bin/sh', encoding: 'utf8' }).trim();
      return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
    } catch {
      return null;
    }
  };
  return { soft: read('-Sn'), hard: read('-Hn') };
}

function connectionDevices(net: TestNetwork, count: number): TestDevice[] {
  const devices: TestDevice[] = [];
  for (let i = 0; i < count; i++) {
    const org = i % DEVICES_PER_ORG === 0 ? net.addOrg(`bench-conn-org-${i / DEVICES_PER_ORG}`) : (devices[devices.length - 1] as TestDevice).org;
    devices.push(net.addDevice(org, `bench-conn-${i}`, { oneTimePrekeys: 0 }));
  }
  return devices;
}

const kib = (bytes: number, per: number): number => round(bytes / per / 1024, 1);

const WARMUP_SOCKETS = 20;

interface ConnectionRelays {
  redis: TestRedis;
  /** Takes the registrations and sign-ins. */
  front: ServerProcess;
  /** Only ever sees the measured sockets; runs with --expose-gc. */
  measured: ServerProcess;
  root: TestNetwork;
  close(): Promise<void>;
}

let started: Promise<ConnectionRelays> | undefined;

/** Start the connection test's Redis and relay pair (see prestart.ts); `benchConnections` uses them. */
export function startConnectionRelays(ctx: BenchContext): Promise<ConnectionRelays> {
  started ??= prestart(
    (async () => {
      // Devices that sign in but never receive: one shared X-Wing key pair makes thousands of them cheap.
      const sharedKem = ctx.crypto.kemKeyPair();
      const root = new TestNetwork({ ...ctx.crypto, kemKeyPair: () => sharedKem }, Date.now());
      const redis = await ctx.startRedis({ appendfsync: 'everysec' });
      const options = { rootPublicKey: toB64u(root.root.publicKey), redisUrl: redis.url };
      const [front, measured] = await Promise.allSettled([
        startHandoverRelay(options),
        startHandoverRelay(options, { execArgv: ['--expose-gc'] }),
      ]);
      const close = async (): Promise<void> => {
        await Promise.all([front, measured].map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
        await redis.destroy();
      };
      if (front.status === 'rejected' || measured.status === 'rejected') {
        await close();
        throw front.status === 'rejected' ? front.reason : (measured as PromiseRejectedResult).reason;
      }
      return { redis, front: front.value, measured: measured.value, root, close };
    })(),
  );
  return started;
}

export async function benchConnections(ctx: BenchContext): Promise<ConnectionsResult> {
  const wanted = ctx.quick ? [1000] : [1000, 5000];
  const socketsPerDevice = ctx.quick ? 10 : 1;
  const limit = fdLimit();
  const allowed = (n: number): boolean => limit.soft === null || n + FD_HEADROOM <= limit.soft;
  const levels = wanted.filter(allowed);
  const blocked = wanted
    .filter((n) => !allowed(n))
    .map((sockets) => ({ sockets, reason: `ulimit -n is ${limit.soft}; ${sockets} sockets need about ${sockets + FD_HEADROOM} descriptors per process (raise it with ulimit -n)` }));
  for (const b of blocked) progress(`connections: ${b.sockets} sockets skipped: ${b.reason}`);
  const max = Math.max(0, ...levels);
  const deviceCount = Math.ceil(max / socketsPerDevice);

  const t0 = performance.now();
  const relays = await startConnectionRelays(ctx);
  const sockets: RawSocket[] = [];
  try {
    const devices = connectionDevices(relays.root, deviceCount);
    const server = relays.measured;
    const tokens = await registerAndSignIn(relays.front.url, ctx.crypto, relays.root, devices, 16);
    progress(`connections: ${deviceCount} devices created, registered and signed in in ${round((performance.now() - t0) / 1000, 1)} s`);
    await relays.front.close();
    const tokenFor = (i: number): string => tokens.get((devices[Math.floor(i / socketsPerDevice)] as TestDevice).keys.deviceId) as string;
    const open = (from: number, to: number): Promise<RawSocket[]> =>
      inBatches(Array.from({ length: to - from }, (_, k) => from + k), 32, (i) => rawSocket(server.url, tokenFor(i)));
    const warmup = await open(0, Math.min(WARMUP_SOCKETS, max));
    for (const socket of warmup) socket.close();
    await new Promise((r) => setTimeout(r, 200));
    const baseline = await server.memory();
    const rows: IdleSocketsRow[] = [];
    for (const level of levels) {
      const c0 = performance.now();
      sockets.push(...(await open(sockets.length, level)));
      const connectS = (performance.now() - c0) / 1000;
      // Let handshake leftovers (timers, buffers) settle before the GC'd sample.
      await new Promise((r) => setTimeout(r, 200));
      const mem = await server.memory();
      const row: IdleSocketsRow = {
        sockets: level,
        devices: Math.ceil(level / socketsPerDevice),
        socketsPerDevice,
        rssDeltaBytes: mem.rss - baseline.rss,
        heapDeltaBytes: mem.heapUsed - baseline.heapUsed,
        externalDeltaBytes: mem.external + mem.arrayBuffers - (baseline.external + baseline.arrayBuffers),
        rssPerSocketKiB: kib(mem.rss - baseline.rss, level),
        heapPerSocketKiB: kib(mem.heapUsed - baseline.heapUsed, level),
        connectS: round(connectS, 2),
      };
      rows.push(row);
      progress(`connections: ${level} idle sockets: RSS +${kib(row.rssDeltaBytes, 1)} KiB (${row.rssPerSocketKiB} KiB/socket), heap +${kib(row.heapDeltaBytes, 1)} KiB (${row.heapPerSocketKiB} KiB/socket)`);
    }
    return { store: 'redis', fdLimit: limit, blocked, baseline, rows };
  } finally {
    for (const socket of sockets) socket.close();
    await relays.close();
  }
}
