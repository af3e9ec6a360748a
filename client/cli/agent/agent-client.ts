/**
 * The CLI's side of the session agent (agent-main.ts): how long a session
 * lasts (HANDOVER_AGENT_TTL), asking a running agent for the storage key,
 * ending it, and starting one after an unlock. An agent that is absent,
 * dead or not private is simply not used: the command asks for the
 * passphrase as before.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HandoverError } from '../../sdk';
import { type AgentAnswer, type AgentRequest, type AgentStart, MAX_TTL_MS, agentSocketPath, readLine } from './wire';

export const DEFAULT_AGENT_TTL_MS = 15 * 60_000;
/** A running agent answers in microseconds; past this it is treated as absent. */
const ANSWER_TIMEOUT_MS = 1500;
/** A new agent is listening well within this (it loads no packages). */
const START_TIMEOUT_MS = 10_000;

export interface AgentTtl {
  /** 0: the unlocked session is off. */
  ms: number;
  /** Set by the user (HANDOVER_AGENT_TTL), not the default: then an unlock with HANDOVER_PASSPHRASE starts an agent too. */
  explicit: boolean;
}

/** HANDOVER_AGENT_TTL: seconds, or a number with s, m or h ("900", "15m", "2h"); 0 turns the session off; at most 24 h. */
export function agentTtl(value = process.env.HANDOVER_AGENT_TTL): AgentTtl {
  if (value === undefined || value.trim() === '') return { ms: DEFAULT_AGENT_TTL_MS, explicit: false };
  return { ms: parseDuration(value, 'HANDOVER_AGENT_TTL'), explicit: true };
}

/** A duration such as "900", "90s", "15m" or "2h" in ms; 0 allowed (off); at most 24 h. */
export function parseDuration(value: string, name: string): number {
  const match = /^\s*(\d+)\s*(s|m|h)?\s*$/.exec(value);
  if (!match) throw new HandoverError('BAD_REQUEST', `${name} must be a duration such as 900 (seconds), 15m or 2h, or 0 for off; not "${value}"`);
  const unit = match[2] === 'h' ? 3600_000 : match[2] === 'm' ? 60_000 : 1000;
  const ms = Number(match[1]) * unit;
  if (ms > MAX_TTL_MS) throw new HandoverError('BAD_REQUEST', `${name} may be at most 24h: an unlocked profile should not outlive a working day`);
  return ms;
}

/** Whether a socket path is this user's alone (a socket someone else made is never talked to). */
function privateSocket(socketPath: string): boolean {
  try {
    const stats = lstatSync(socketPath);
    return stats.isSocket() && stats.uid === process.getuid?.() && (stats.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** One request to the agent of `profileDir`; undefined when there is no private, answering agent. */
export async function askAgent(profileDir: string, request: AgentRequest): Promise<AgentAnswer | undefined> {
  const socketPath = agentSocketPath(profileDir);
  if (!socketPath || !privateSocket(socketPath)) return undefined;
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      resolve(undefined);
    }, ANSWER_TIMEOUT_MS);
    conn.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    readLine(conn, (line) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(parseAnswer(line));
    });
  });
}

function parseAnswer(line: string | undefined): AgentAnswer | undefined {
  if (line === undefined) return undefined;
  try {
    const value = JSON.parse(line) as AgentAnswer;
    return typeof value === 'object' && value !== null && typeof value.ok === 'boolean' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The storage key the agent of `profileDir` holds, and until when; undefined when there is none. The caller wipes the key. */
export async function agentKey(profileDir: string): Promise<{ key: Uint8Array; expiresAt: number } | undefined> {
  const answer = await askAgent(profileDir, { op: 'key' });
  if (!answer?.ok || answer.op !== 'key') return undefined;
  const key = new Uint8Array(Buffer.from(answer.key, 'base64url'));
  return key.length === 32 ? { key, expiresAt: answer.expiresAt } : undefined;
}

/** End the agent of `profileDir` now; true if one was running. */
export async function lockAgent(profileDir: string): Promise<boolean> {
  const answer = await askAgent(profileDir, { op: 'lock' });
  return answer?.ok === true;
}

/** Until when the agent of `profileDir` keeps it unlocked, or undefined when none does. */
export async function agentExpiry(profileDir: string): Promise<number | undefined> {
  const answer = await askAgent(profileDir, { op: 'status' });
  return answer?.ok && answer.op === 'status' ? answer.expiresAt : undefined;
}

/** How to run the agent: compiled next to this file, or the TypeScript source through tsx in a development tree. */
function agentCommand(): string[] {
  const compiled = path.join(__dirname, 'agent-main.js');
  if (__filename.endsWith('.js') && existsSync(compiled)) return [compiled];
  return ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'agent-main.ts')];
}

/**
 * Start an agent for `profileDir` holding `key` for `ttlMs`, and wait until
 * it listens. The key goes over a pipe to its stdin; the agent gets no
 * environment of ours (no HANDOVER_PASSPHRASE in a long-lived process).
 */
export async function startAgent(profileDir: string, key: Uint8Array, ttlMs: number): Promise<{ pid: number }> {
  const socketPath = agentSocketPath(profileDir);
  if (!socketPath) throw new HandoverError('BAD_REQUEST', `the profile folder's path is too long for the agent's socket: ${profileDir}`);
  const start: AgentStart = { profileDir, socketPath, ttlMs, key: Buffer.from(key).toString('base64url') };
  const child = spawn(process.execPath, agentCommand(), {
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH ?? '' },
    cwd: profileDir,
  });
  try {
    const line = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), START_TIMEOUT_MS);
      child.once('error', () => resolve(undefined));
      readLine(child.stdout, (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.stdin.end(`${JSON.stringify(start)}\n`);
    });
    const [state, rest] = splitOnce(line ?? 'failed the agent did not start in time');
    if (state === 'ready' || state === 'exists') return { pid: state === 'ready' ? (child.pid ?? 0) : Number(rest) };
    if (child.exitCode === null) child.kill();
    throw new HandoverError('INTERNAL', `the unlocked session could not start: ${rest}`);
  } finally {
    child.stdout.destroy();
    child.unref();
  }
}

function splitOnce(line: string): [string, string] {
  const i = line.indexOf(' ');
  return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
}
