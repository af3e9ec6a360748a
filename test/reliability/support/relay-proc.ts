/**
 * A relay as one real child process: `node --import <tsx loader> server/main.ts`.
 *
 * Not test/support/relay-process.ts: that one starts the `tsx` CLI, which
 * runs the relay in a *grandchild*; SIGKILL then kills only the wrapper and
 * the relay keeps serving as an orphan. Here the child pid is the relay
 * itself, so kill -9 is a real crash and /proc/<pid> gives its memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = path.resolve(__dirname, '../../..');
const LOADER = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

export interface RelayProc {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines the relay wrote (JSON logs). */
  readonly output: string[];
  /** True while the process runs. */
  alive(): boolean;
  /** Resident memory in bytes, from /proc. */
  rss(): number;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();
if (typeof afterAll === 'function') afterAll(() => running.forEach((c) => c.kill('SIGKILL')));

/** Generous limits so that only the scenario under test limits anything. */
export const OPEN_LIMITS = {
  RATE_LIMIT_IP_PER_MINUTE: '1000000',
  RATE_LIMIT_SEND_PER_MINUTE: '10000000',
  RATE_LIMIT_BUNDLES_PER_MINUTE: '100000',
  RATE_LIMIT_CONNECT_PER_MINUTE: '1000000',
};

export async function startRelayProcess(env: Record<string, string>, opts: { port?: number; timeoutMs?: number } = {}): Promise<RelayProc> {
  const child = spawn(process.execPath, ['--import', LOADER, path.join(ROOT, 'server/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(opts.port ?? 0), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${output.join('\n')}`)), opts.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        if (output.length > 2000) output.shift();
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
  const pid = child.pid ?? -1;
  return {
    url,
    port: Number(new URL(url).port),
    pid,
    child,
    output,
    alive: () => child.exitCode === null && child.signalCode === null,
    rss: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return Number(kb ?? 0) * 1024;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until `check` passes; false (not an exception) when the time runs out. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(stepMs);
  }
  return check();
}
