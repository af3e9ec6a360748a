/**
 * The session agent: a small background process, like ssh-agent, that
 * keeps one unlocked profile's storage key in memory for a limited time so
 * each `handover` command does not pay Argon2id (1–2 s) again.
 *
 * It answers only on a Unix socket inside the profile folder. Node cannot
 * read the peer's credentials (SO_PEERCRED) without a native addon, so the
 * check that the caller is this user is the kernel's own permission check
 * on the socket path: the folder must be this user's and closed to others
 * (0700), the socket is created 0600 (umask 0177, no window where it is
 * wider), and both are checked again on every connection — if either has
 * been loosened or replaced, the agent wipes the key and ends.
 *
 * It never writes the key anywhere: it arrives on stdin, lives in one
 * Buffer, and is wiped when the agent ends — at the end of its time, on
 * `handover lock`, on a signal, or when its socket or folder disappears.
 * Threat model: anyone who can act as this user (or root) can ask it for
 * the key while it lives, as they could read the process's memory.
 *
 * It loads nothing but Node's own modules and wire.ts, so it starts fast.
 */
import { promises as fs, lstatSync, type Stats } from 'node:fs';
import net from 'node:net';
import { type AgentAnswer, type AgentRequest, type AgentStart, MAX_TTL_MS, agentSocketPath, readLine } from './wire';

/** How often the agent checks that its socket and folder are still there and private. */
const WATCH_MS = 2000;
/** A caller that has not sent its request within this time is dropped. */
const REQUEST_TIMEOUT_MS = 2000;

class Agent {
  private server: net.Server | undefined;
  private socketIno: number | undefined;
  private readonly expiresAt: number;
  private timers: Array<ReturnType<typeof setTimeout>> = [];
  private ended = false;

  constructor(
    private readonly start: AgentStart,
    private readonly key: Buffer,
  ) {
    this.expiresAt = Date.now() + start.ttlMs;
  }

  async listen(): Promise<'ready' | 'exists'> {
    checkPrivateFolder(lstatSync(this.start.profileDir));
    if (await this.anotherAgentAnswers()) return 'exists';
    const server = net.createServer((conn) => this.serve(conn));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.start.socketPath, () => resolve());
    });
    const stats = lstatSync(this.start.socketPath);
    checkPrivateSocket(stats);
    this.socketIno = stats.ino;
    this.timers.push(setTimeout(() => this.end(), this.start.ttlMs));
    this.timers.push(setInterval(() => this.watch(), WATCH_MS));
    return 'ready';
  }

  /** A live agent already serves this folder (two commands unlocked at once): leave it be. A dead one's socket is removed. */
  private async anotherAgentAnswers(): Promise<boolean> {
    let stats: Stats;
    try {
      stats = lstatSync(this.start.socketPath);
    } catch {
      return false;
    }
    if (!stats.isSocket()) throw new Error(`${this.start.socketPath} exists and is not a socket`);
    const answers = await new Promise<boolean>((resolve) => {
      const probe = net.connect(this.start.socketPath, () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (!answers) await fs.rm(this.start.socketPath, { force: true });
    return answers;
  }

  /** Still ours and still private? Otherwise the key goes now. */
  private stillPrivate(): boolean {
    try {
      checkPrivateFolder(lstatSync(this.start.profileDir));
      const stats = lstatSync(this.start.socketPath);
      checkPrivateSocket(stats);
      return stats.ino === this.socketIno;
    } catch {
      return false;
    }
  }

  private watch(): void {
    if (!this.stillPrivate()) this.end();
  }

  private serve(conn: net.Socket): void {
    conn.on('error', () => undefined);
    if (this.ended || !this.stillPrivate()) {
      conn.destroy();
      this.end();
      return;
    }
    conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
    readLine(conn, (line) => {
      const answer = this.answer(parseRequest(line));
      conn.end(`${JSON.stringify(answer)}\n`, () => {
        if (answer.ok && answer.op === 'lock') this.end();
      });
    });
  }

  private answer(request: AgentRequest | undefined): AgentAnswer {
    if (!request) return { ok: false, error: 'not a request this agent knows' };
    if (request.op === 'key') return { ok: true, op: 'key', key: this.key.toString('base64url'), expiresAt: this.expiresAt, pid: process.pid };
    if (request.op === 'status') return { ok: true, op: 'status', expiresAt: this.expiresAt, pid: process.pid };
    return { ok: true, op: 'lock', pid: process.pid };
  }

  /** Wipe the key, remove our socket (only if it is still ours), and exit. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.key.fill(0);
    for (const t of this.timers) clearTimeout(t);
    this.server?.close();
    try {
      if (lstatSync(this.start.socketPath).ino === this.socketIno) void fs.rm(this.start.socketPath, { force: true }).finally(() => process.exit(0));
      else process.exit(0);
    } catch {
      process.exit(0);
    }
  }
}

function parseRequest(line: string | undefined): AgentRequest | undefined {
  if (line === undefined) return undefined;
  try {
    const value = JSON.parse(line) as { op?: unknown };
    return value.op === 'key' || value.op === 'status' || value.op === 'lock' ? { op: value.op } : undefined;
  } catch {
    return undefined;
  }
}

function ownUid(): number {
  return process.getuid?.() ?? -1;
}

function checkPrivateFolder(stats: Stats): void {
  if (!stats.isDirectory() || stats.uid !== ownUid() || (stats.mode & 0o077) !== 0) {
    throw new Error('the profile folder is not a folder of this user closed to others (mode 0700)');
  }
}

function checkPrivateSocket(stats: Stats): void {
  if (!stats.isSocket() || stats.uid !== ownUid() || (stats.mode & 0o077) !== 0) {
    throw new Error('the agent socket is not this user\'s alone (mode 0600)');
  }
}

function parseStart(text: string): AgentStart {
  const value = JSON.parse(text) as Partial<AgentStart>;
  const { profileDir, socketPath, ttlMs, key } = value;
  if (typeof profileDir !== 'string' || typeof socketPath !== 'string' || typeof key !== 'string' || typeof ttlMs !== 'number') {
    throw new Error('incomplete start request');
  }
  if (socketPath !== agentSocketPath(profileDir)) throw new Error('the socket must be the profile folder\'s own');
  if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) throw new Error('the time to live is out of range');
  return { profileDir, socketPath, ttlMs, key };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new Error('start request too long');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  // Everything this process creates (the socket) is this user's alone, from the first moment.
  process.umask(0o177);
  process.title = 'handover-agent';
  const text = await readStdin();
  let agent: Agent;
  try {
    const start = parseStart(text);
    const key = Buffer.from(start.key, 'base64url');
    start.key = '';
    agent = new Agent(start, key);
    const state = await agent.listen();
    process.stdout.write(`${state} ${process.pid}\n`);
    if (state === 'exists') {
      key.fill(0);
      process.exit(0);
    }
  } catch (err) {
    process.stdout.write(`failed ${(err as Error).message}\n`);
    process.exit(1);
  }
  // Detached from the command that started it: no terminal, no working folder held open.
  process.stdout.end();
  process.chdir('/');
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => agent.end());
}

void main();
