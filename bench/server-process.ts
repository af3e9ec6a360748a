/**
 * Parent side of bench/baselines/child.ts: start a server module in its own
 * Node process (under tsx) and talk to it over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** User+system CPU the server process has used so far, in ms. */
  cpuMs(): Promise<number>;
  /** Ask the server to close, wait for the process to exit (SIGKILL after 5 s). */
  close(): Promise<void>;
}

const CHILD_ENTRY = path.join(__dirname, 'baselines', 'child.ts');
const REPO_ROOT = path.join(__dirname, '..');
const READY_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;

type ChildMessage = { type: 'ready'; url: string } | { type: 'failed'; error: string } | { type: 'cpu'; ms: number } | { type: 'closed' };

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
export async function startServerProcess(modulePath: string, options: object = {}): Promise<ServerProcess> {
  const child = fork(CHILD_ENTRY, [modulePath, JSON.stringify(options)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx'],
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

  // CPU requests are answered in order, so a FIFO of resolvers is enough.
  const cpuWaiters: Array<(ms: number) => void> = [];
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'cpu') cpuWaiters.shift()?.(message.ms);
  });

  return {
    url,
    pid: child.pid ?? -1,
    cpuMs() {
      return new Promise<number>((resolve, reject) => {
        if (!child.connected) return reject(new Error('server process is gone'));
        cpuWaiters.push(resolve);
        child.send({ type: 'cpu' });
      });
    },
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
