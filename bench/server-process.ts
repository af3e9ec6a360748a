/**
 * Parent side of bench/baselines/child.ts: start a baseline server module
 * in its own Node process (under tsx) and talk to it over IPC. The relay
 * itself is started like in every test (bench/handover-relay.ts,
 * test/support/relay-process.ts) and answers the same measurements, so
 * `ServerProcess` covers both.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** User+system CPU the server process has used so far, in ms. */
  cpuMs(): Promise<number>;
  /** process.memoryUsage() of the server, after a full GC if it runs with --expose-gc (see `gc`). */
  memory(): Promise<MemorySample>;
  /** The server's monotonic clock in µs (what V8 CPU profile timestamps use). */
  markUs(): Promise<number>;
  /** Ask the server to close, wait for the process to exit (SIGKILL after 5 s). */
  close(): Promise<void>;
}

const CHILD_ENTRY = path.join(__dirname, 'baselines', 'child.ts');
const REPO_ROOT = path.join(__dirname, '..');
const READY_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** True if a full GC ran just before the sample. */
  gc: boolean;
}

export interface ServerProcessOptions {
  /** Extra Node flags for the child, e.g. ['--expose-gc'] or ['--cpu-prof', ...]. */
  execArgv?: string[];
}

type ChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'cpu'; ms: number }
  | ({ type: 'mem' } & MemorySample)
  | { type: 'mark'; us: number }
  | { type: 'closed' };

/** Every child still running, killed if the bench process exits early. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * `modulePath`: absolute path of a module exporting
 * `start(options) => Promise<{ url: string; close(): Promise<void> }>`.
 * `options` must survive JSON.
 */
export async function startServerProcess(modulePath: string, options: object = {}, processOptions: ServerProcessOptions = {}): Promise<ServerProcess> {
  const child = fork(CHILD_ENTRY, [modulePath, JSON.stringify(options)], {
    cwd: REPO_ROOT,
    execArgv: [...(processOptions.execArgv ?? []), '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${modulePath} not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const onMessage = (message: ChildMessage): void => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(message.url);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`server ${modulePath} failed to start: ${message.error}`));
      }
    };
    child.on('message', onMessage);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server ${modulePath} exited before it was ready`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });

  // Requests of one type are answered in order, so a FIFO of resolvers per type is enough.
  const waiters = { cpu: [] as Array<(m: ChildMessage) => void>, mem: [] as Array<(m: ChildMessage) => void>, mark: [] as Array<(m: ChildMessage) => void> };
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'cpu' || message.type === 'mem' || message.type === 'mark') waiters[message.type].shift()?.(message);
  });
  const ask = <T>(type: keyof typeof waiters, pick: (m: ChildMessage) => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error('server process is gone'));
      waiters[type].push((m) => {
        try {
          resolve(pick(m));
        } catch (err) {
          reject(err);
        }
      });
      child.send({ type });
    });

  return {
    url,
    pid: child.pid ?? -1,
    cpuMs: () => ask('cpu', (m) => (m.type === 'cpu' ? m.ms : 0)),
    memory: () =>
      ask('mem', (m) => {
        if (m.type !== 'mem') throw new Error('unexpected reply');
        const { rss, heapUsed, heapTotal, external, arrayBuffers, gc } = m;
        return { rss, heapUsed, heapTotal, external, arrayBuffers, gc };
      }),
    markUs: () => ask('mark', (m) => (m.type === 'mark' ? m.us : 0)),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      if (child.connected) child.send({ type: 'close' });
      else child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}
