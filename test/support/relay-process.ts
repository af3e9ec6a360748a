/**
 * The one way tests and benches run a relay as a real child process: the
 * production entry `server/main.ts`, configured by environment variables
 * (without REDIS_URL on the embedded store, in a private temporary data
 * folder that restarts reuse and that is removed when the tests end),
 * as one process (node with tsx's loader, not the tsx CLI, whose grandchild
 * would survive a SIGKILL of the wrapper) — so kill -9 is a real crash and
 * /proc/<pid> is the relay's memory.
 *
 * Used for two relays on one Redis, kill -9 and restart on the same port,
 * graceful SIGTERM, fuzzing and floods with memory figures, and the
 * benchmarks (`measure: true` preloads relay-probe.ts for CPU, heap and
 * clock readings over IPC). The baselines in bench/baselines are not the
 * relay and keep their own tiny servers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(__dirname, '../..');
const LOADER = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const PROBE = pathToFileURL(path.join(__dirname, 'relay-probe.ts')).href;
/** Lines of output kept (the newest). */
const OUTPUT_LINES = 2000;
/** How long close() waits for a graceful exit before SIGKILL. */
const CLOSE_TIMEOUT_MS = 5_000;

export interface RelayProcessOptions {
  /** A fixed port (to restart on the same address); default: any free port, chosen by the relay. */
  port?: number;
  /** How long to wait for the relay to listen. */
  timeoutMs?: number;
  /** Extra Node flags for the relay, e.g. ['--expose-gc'] or ['--cpu-prof', ...]. */
  execArgv?: string[];
  /** Preload relay-probe.ts: cpuMs(), memory() and markUs() answer (benches). */
  measure?: boolean;
}

export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** True if a full GC ran just before the sample (the relay runs with --expose-gc). */
  gc: boolean;
}

export interface RelayProcess {
  readonly url: string;
  /** The relay's data folder (HANDOVER_DATA_DIR): the embedded store lives in its `store/`. */
  readonly dataDir: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The newest stdout/stderr lines (JSON logs). */
  readonly output: string[];
  /** True while the process runs. */
  alive(): boolean;
  /** Resident memory in bytes, from /proc. */
  rss(): number;
  /** SIGTERM (graceful shutdown) and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL if the relay has not exited after 5 s. */
  close(): Promise<void>;
  /**
   * Kill -9 if still running, then start a new relay on the same port with
   * the same environment (tried 3 times: another process may take the port
   * meanwhile).
   */
  restart(): Promise<RelayProcess>;
  /** With `measure`: the relay's user+system CPU so far, in ms. */
  cpuMs(): Promise<number>;
  /** With `measure`: process.memoryUsage() of the relay (after a full GC with --expose-gc). */
  memory(): Promise<ProcessMemory>;
  /** With `measure`: the relay's monotonic clock in µs (what V8 CPU profiles use). */
  markUs(): Promise<number>;
}

/** Generous limits (the configuration's maxima) so that only the scenario under test limits anything. */
export const OPEN_LIMITS = {
  RATE_LIMIT_IP_PER_MINUTE: '1000000',
  RATE_LIMIT_SEND_PER_MINUTE: '10000000',
  RATE_LIMIT_BUNDLES_PER_MINUTE: '100000',
  RATE_LIMIT_CONNECT_PER_MINUTE: '1000000',
};

const running = new Set<ChildProcess>();
/** Data folders this module made; removed with the relays once the tests (or the bench) end. */
const madeDataDirs = new Set<string>();
const cleanUp = () => {
  running.forEach((c) => c.kill('SIGKILL'));
  for (const dir of madeDataDirs) rmSync(dir, { recursive: true, force: true });
  madeDataDirs.clear();
};
if (typeof afterAll === 'function') afterAll(cleanUp);
process.once('exit', cleanUp);

/** A fresh private data folder, unless the caller chose one. */
function withDataDir(env: Record<string, string>): Record<string, string> {
  if (env.HANDOVER_DATA_DIR) return env;
  const dir = mkdtempSync(path.join(tmpdir(), 'handover-relay-'));
  madeDataDirs.add(dir);
  return { ...env, HANDOVER_DATA_DIR: dir };
}

/**
 * Start `server/main.ts` with `env` on top of HOST=127.0.0.1, PORT=0,
 * LOG_LEVEL=info (the relay announces its URL at info level; that line is
 * how readiness is seen) and a fresh HANDOVER_DATA_DIR. Nothing else of
 * this process's environment is passed but PATH. `HOST: ''` leaves HOST
 * unset (the relay's own default).
 */
export async function spawnRelay(givenEnv: Record<string, string> = {}, options: RelayProcessOptions = {}): Promise<RelayProcess> {
  const env = withDataDir(givenEnv);
  const dataDir = env.HANDOVER_DATA_DIR ?? '';
  const child = spawn(process.execPath, [...(options.execArgv ?? []), '--import', LOADER, ...(options.measure ? ['--import', PROBE] : []), path.join(ROOT, 'server/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(options.port ?? 0), LOG_LEVEL: 'info', ...env },
    stdio: options.measure ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const url = await listening(child, output, exited, options.timeoutMs ?? 30_000).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const port = Number(new URL(url).port);
  const pid = child.pid ?? -1;
  const ask = probeClient(child);
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    dataDir,
    port,
    pid,
    child,
    output,
    alive,
    rss: () => {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return Number(kb ?? 0) * 1024;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill,
    close: async () => {
      if (!alive()) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
    restart: async () => {
      if (alive()) await kill();
      return startAgain(() => spawnRelay(env, { ...options, port }));
    },
    cpuMs: () => ask('cpu', (m) => Number(m.ms)),
    memory: () =>
      ask('mem', (m) => ({
        rss: Number(m.rss),
        heapUsed: Number(m.heapUsed),
        heapTotal: Number(m.heapTotal),
        external: Number(m.external),
        arrayBuffers: Number(m.arrayBuffers),
        gc: m.gc === true,
      })),
    markUs: () => ask('mark', (m) => Number(m.us)),
  };
}

async function startAgain(start: () => Promise<RelayProcess>): Promise<RelayProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Resolves with the relay's URL once it logs that it listens; rejects if it exits first or takes too long. */
function listening(child: ChildProcess, output: string[], exited: Promise<number | null>, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${output.join('\n')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        if (output.length > OUTPUT_LINES) output.shift();
        const m = /"url":"(http:\/\/[^"]+)".*handover relay listening/.exec(line);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}:\n${output.join('\n')}`));
    });
  });
}

type ProbeReply = Record<string, unknown> & { type: string };

/** Requests to relay-probe.ts; replies of one type come in order, so a queue of resolvers per type is enough. */
function probeClient(child: ChildProcess) {
  const waiters = new Map<string, Array<(reply: ProbeReply) => void>>();
  child.on('message', (reply: ProbeReply) => waiters.get(reply.type)?.shift()?.(reply));
  return <T>(type: 'cpu' | 'mem' | 'mark', pick: (reply: ProbeReply) => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error('no probe: start the relay with measure: true'));
      const queue = waiters.get(type) ?? [];
      queue.push((reply) => resolve(pick(reply)));
      waiters.set(type, queue);
      child.send({ type });
    });
}
