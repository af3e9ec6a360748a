/**
 * Test harness: a private `redis-server` (from PATH) on a free loopback
 * port, in a fresh temp dir, with AOF on and RDB snapshots off. Tests can
 * stop it, SIGKILL it and restart it on the same port and dir (the data
 * comes back from the AOF). Never touches the Redis at 127.0.0.1:6379.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export interface StartRedisOptions {
  appendfsync?: 'always' | 'everysec' | 'no';
  /**
   * Run as a one-node Redis Cluster owning every slot: a plain client works,
   * and any multi-key command or script across hash tags fails with CROSSSLOT.
   */
  cluster?: boolean;
}

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGTERM (Redis flushes the AOF) and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
  /** Start again on the same port and dir; resolves once it serves (AOF loaded). */
  restart(): Promise<void>;
  /** A new ioredis connection for inspection; closed by destroy(). */
  client(): Redis;
  /** Stop the server, close inspection clients and delete the temp dir. */
  destroy(): Promise<void>;
}

const START_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 10_000;

/** Every server this module started, so a failing test leaves none behind. */
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function killAllAndClean(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

// Under jest each test file gets its own copy of this module (and a sandboxed
// `process`), so clean up after the file; elsewhere, when the process exits.
if (typeof afterAll === 'function') afterAll(killAllAndClean);
else process.once('exit', killAllAndClean);

export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'handover-redis-'));
  tempDirs.add(dir);
  const config = { appendfsync: opts.appendfsync ?? 'everysec', cluster: opts.cluster ?? false, dir };

  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      const child = await launch(port, config, claimAllSlots);
      return handle(child, port, config);
    } catch (err) {
      lastError = err; // most likely another process took the port first
    }
  }
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  throw new Error(`could not start redis-server: ${String(lastError)}`);
}

/**
 * A Redis URL for tests that only need a working Redis: `REDIS_URL` when set
 * (the caller should then use a unique key prefix, see `uniquePrefix`),
 * otherwise a private server started for the caller.
 */
export async function redisUrlForTests(): Promise<{ url: string; release(): Promise<void> }> {
  const external = process.env.REDIS_URL;
  if (external) return { url: external, release: async () => {} };
  const redis = await startRedis();
  return { url: redis.url, release: () => redis.destroy() };
}

/** A fresh key prefix, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(label = 'test'): string {
  return `${label}-${randomBytes(6).toString('hex')}:`;
}

interface ServerConfig {
  appendfsync: 'always' | 'everysec' | 'no';
  cluster: boolean;
  dir: string;
}

function handle(first: ChildProcess, port: number, config: ServerConfig): TestRedis {
  let child: ChildProcess | null = first;
  const clients = new Set<Redis>();

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = null;
    if (current) await terminate(current, signal);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir: config.dir,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    async restart() {
      await end('SIGTERM');
      let lastError: unknown;
      // The port was ours a moment ago; retry briefly in case it is still in TIME_WAIT or taken.
      for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        try {
          child = await launch(port, config, waitForClusterOk);
          return;
        } catch (err) {
          lastError = err;
          await sleep(200 * (attempt + 1));
        }
      }
      throw new Error(`could not restart redis-server on port ${port}: ${String(lastError)}`);
    },
    client() {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false });
      client.on('error', () => undefined); // the server may be stopped on purpose
      clients.add(client);
      return client;
    },
    async destroy() {
      for (const client of clients) client.disconnect();
      clients.clear();
      await end('SIGTERM');
      rmSync(config.dir, { recursive: true, force: true });
      tempDirs.delete(config.dir);
    },
  };
}

/**
 * Spawns redis-server and resolves once it serves (and, in cluster mode, once
 * `prepareCluster` is done); on any failure the child is killed before rejecting.
 */
async function launch(port: number, config: ServerConfig, prepareCluster: (port: number) => Promise<void>): Promise<ChildProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', config.dir,
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', config.appendfsync,
    '--daemonize', 'no',
    '--logfile', join(config.dir, 'redis.log'),
    ...(config.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(config.dir, 'nodes.conf')] : []),
  ];
  // No pipes and unref(): a server a failing test forgot to stop must not keep
  // the test process alive (the exit hook above kills it).
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  child.unref();
  running.add(child);
  child.once('exit', () => running.delete(child));

  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}): ${logTail(config.dir)}`)));
    child.once('error', reject);
  });
  exited.catch(() => undefined);
  const polling = { stop: false };
  try {
    await Promise.race([waitUntilServing(port, child.pid, polling), exited]);
    if (config.cluster) await prepareCluster(port);
    return child;
  } catch (err) {
    await terminate(child, 'SIGKILL');
    throw err;
  } finally {
    polling.stop = true;
  }
}

async function claimAllSlots(port: number): Promise<void> {
  await withAdmin(port, (admin) => admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383'));
  await waitForClusterOk(port);
}

async function waitForClusterOk(port: number): Promise<void> {
  await withAdmin(port, async (admin) => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return;
      await sleep(50);
    }
    throw new Error('one-node cluster did not reach cluster_state:ok');
  });
}

async function withAdmin<T>(port: number, use: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

/**
 * Polls with a raw RESP `INFO` until the server that answers is our child
 * (not another process that won the port) and has finished loading the AOF.
 */
async function waitUntilServing(port: number, pid: number | undefined, polling: { stop: boolean }): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !polling.stop) {
    const info = await infoOnce(port);
    if (info !== null) {
      if (!info.includes(`process_id:${pid}\r\n`)) throw new Error(`port ${port} is served by another process`);
      if (info.includes('loading:0\r\n')) return;
    }
    await sleep(25);
  }
  throw new Error(`redis-server on port ${port} did not become ready`);
}

/** One `INFO` round trip; null if the server is not answering (yet). */
function infoOnce(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (info: string | null): void => {
      socket.destroy();
      resolve(info);
    };
    socket.setTimeout(1000, () => finish(null));
    socket.once('error', () => finish(null));
    socket.once('connect', () => socket.write('INFO\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (!header) {
        if (reply.includes('\r\n')) finish(null); // an error reply
        return;
      }
      if (reply.length >= header[0].length + Number(header[1])) finish(reply);
    });
  });
}

function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not exit after ${signal}`));
    }, EXIT_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8').slice(-2000).trim();
  } catch {
    return '(no log)';
  }
}

/** A TCP port on 127.0.0.1 nobody listens on right now (for a test server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
