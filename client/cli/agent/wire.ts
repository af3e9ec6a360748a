/**
 * What the session agent and the CLI say to each other over the agent's
 * Unix socket: one JSON line each way, then the agent closes. Shared by both
 * sides so the agent process loads nothing but this and Node's own modules.
 */
import path from 'node:path';

export type AgentRequest = { op: 'key' } | { op: 'status' } | { op: 'lock' };

export type AgentAnswer =
  | { ok: true; op: 'key'; key: string; expiresAt: number; pid: number }
  | { ok: true; op: 'status'; expiresAt: number; pid: number }
  | { ok: true; op: 'lock'; pid: number }
  | { ok: false; error: string };

/** What the CLI hands a new agent on its stdin (never on the command line or in the environment, which others can read). */
export interface AgentStart {
  profileDir: string;
  socketPath: string;
  ttlMs: number;
  /** The storage key, base64url. */
  key: string;
}

/** The socket's name in the profile folder. */
export const AGENT_SOCKET_NAME = 'agent.sock';
/** Unix socket paths are limited to 107 bytes on Linux (103 on macOS); beyond this the session is off. */
export const MAX_SOCKET_PATH_BYTES = 100;
/** One line either way is small; anything longer is not ours. */
export const MAX_LINE_BYTES = 4096;
/** The longest session anyone may ask for. */
export const MAX_TTL_MS = 24 * 3600_000;

/** The agent socket of a profile folder, or undefined when its path is too long for a socket. */
export function agentSocketPath(profileDir: string): string | undefined {
  const socketPath = path.join(profileDir, AGENT_SOCKET_NAME);
  return Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH_BYTES ? socketPath : undefined;
}

/** Collect one newline-ended line from a stream, refusing more than MAX_LINE_BYTES. */
export function readLine(stream: NodeJS.ReadableStream, onLine: (line: string | undefined) => void): void {
  let buffered = '';
  let done = false;
  const finish = (line: string | undefined) => {
    if (done) return;
    done = true;
    stream.removeListener('data', onData);
    onLine(line);
  };
  const onData = (chunk: Buffer | string) => {
    buffered += chunk.toString();
    const end = buffered.indexOf('\n');
    if (end >= 0) finish(buffered.slice(0, end));
    else if (buffered.length > MAX_LINE_BYTES) finish(undefined);
  };
  stream.on('data', onData);
  stream.once('end', () => finish(undefined));
  stream.once('error', () => finish(undefined));
}
