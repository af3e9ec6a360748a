/**
 * The start commands as an operator or a supervisor runs them: `npm start`
 * (TypeScript through tsx's loader) and `npm run build` + `npm run
 * start:prod` (compiled JavaScript, no transpiler). SIGTERM or SIGINT sent
 * to the pid the supervisor sees (npm's) must stop the relay: the port
 * closes, every process of the tree is gone, and the exit code is 0.
 * (Before, `npm start` ran `tsx` under `sh`: npm died, the relay stayed.)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';

const ROOT = path.resolve(__dirname, '../..');

let dataDir: string;
const started: ChildProcess[] = [];
/** Processes under npm seen while running: killed at the end if a failing test left any behind. */
const trees: number[] = [];
beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'handover-start-'));
});
afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of trees.filter(alive)) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** `npm run <script>` in the repository; resolves once the relay logs its URL. */
async function npmRun(script: string, env: Record<string, string>): Promise<Started> {
  const child = spawn('npm', ['run', '--silent', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), PORT: '0', HANDOVER_DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no relay URL:\n${output.join('')}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      const m = /"url":"(http:\/\/[^"]+)".*handover relay listening/.exec(output.join(''));
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${output.join('')}`)));
  });
  return { child, url, exited };
}

/** Every live descendant of a pid (from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function stopsCleanly(run: Started, signal: NodeJS.Signals): Promise<void> {
  expect((await fetch(`${run.url}/healthz`)).status).toBe(200);
  const tree = descendants(run.child.pid ?? -1);
  trees.push(...tree);
  expect(tree.length).toBeGreaterThan(0);
  run.child.kill(signal); // the pid a supervisor knows: npm's
  expect(await run.exited).toBe(0);
  expect(await refused(run.url)).toBe(true);
  expect(tree.filter(alive)).toEqual([]);
}

const rootKey = async () => toB64u((await loadCrypto()).signKeyPair().publicKey);

it('npm start stops cleanly on SIGTERM to npm\'s pid', async () => {
  await stopsCleanly(await npmRun('start', { HANDOVER_ROOT_PUBLIC_KEY: await rootKey() }), 'SIGTERM');
}, 90_000);

it('npm start stops cleanly on SIGINT to npm\'s pid', async () => {
  await stopsCleanly(await npmRun('start', { HANDOVER_ROOT_PUBLIC_KEY: await rootKey() }), 'SIGINT');
}, 90_000);

it('npm run build compiles the relay to dist/, and npm run start:prod runs it (verification threads too) and stops cleanly', async () => {
  await new Promise<void>((resolve, reject) =>
    execFile('npm', ['run', '--silent', 'build'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() } }, (err, stdout, stderr) =>
      err ? reject(new Error(`build failed:\n${stdout}${stderr}`)) : resolve(),
    ),
  );
  expect(existsSync(path.join(ROOT, 'dist/server/main.js'))).toBe(true);
  expect(existsSync(path.join(ROOT, 'dist/server/verify/verify-worker.js'))).toBe(true);
  const run = await npmRun('start:prod', { HANDOVER_ROOT_PUBLIC_KEY: await rootKey(), VERIFY_THREADS: '1' });
  // Compiled JavaScript only: no TypeScript loader in the relay's command line.
  const relayPid = descendants(run.child.pid ?? -1).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/server/main.js'));
  expect(relayPid).toBeDefined();
  expect(readFileSync(`/proc/${relayPid}/cmdline`, 'utf8')).not.toMatch(/tsx/);
  await stopsCleanly(run, 'SIGTERM');
}, 180_000);
