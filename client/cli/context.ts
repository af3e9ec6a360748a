/**
 * Shared plumbing for CLI commands: global options, the profile folder,
 * passphrase entry, Argon2id limits, relay timeouts, and output (human or
 * --json).
 */
import { promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type Crypto, HandoverError, PWHASH_INTERACTIVE, PWHASH_MODERATE, PWHASH_TEST_ONLY, type PwhashLimits, Vault } from '../sdk';
import { FileStorage, loadNodeCrypto } from '../sdk/node';

export interface GlobalOptions {
  profile?: string;
  server?: string;
  json?: boolean;
  /** --offline: read commands skip the relay. */
  offline?: boolean;
  /** Set by main.ts for the read commands (inbox, show, export, due): the local profile first, the relay only if it answers soon. */
  localRead?: boolean;
}

export function profileDir(opts: GlobalOptions): string {
  return path.resolve(opts.profile ?? process.env.HANDOVER_PROFILE ?? path.join(os.homedir(), '.handover', 'default'));
}

/** Where the profile folder came from, for messages that name it. */
export function profileSource(opts: GlobalOptions): string {
  if (opts.profile) return 'given with --profile';
  if (process.env.HANDOVER_PROFILE) return 'from HANDOVER_PROFILE';
  return 'the default; pick another with --profile <dir> or HANDOVER_PROFILE';
}

/** HANDOVER_TIMEOUT_MS: how long any one relay call may go unanswered (default 10 s). */
export function requestTimeoutMs(): number {
  return positiveMs('HANDOVER_TIMEOUT_MS', 10_000);
}

/** HANDOVER_READ_TIMEOUT_MS: how long a read command waits to reach the relay before it shows what the device holds (default 4 s). */
export function readTimeoutMs(): number {
  return positiveMs('HANDOVER_READ_TIMEOUT_MS', 4_000);
}

function positiveMs(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return fallback;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0 || ms > 600_000) throw new HandoverError('BAD_REQUEST', `${name} must be a whole number of milliseconds between 1 and 600000, not "${value}"`);
  return ms;
}

/**
 * Argon2id cost for new keystores. `insecure-test` exists so automated tests
 * stay fast; it is refused outside NODE_ENV=test.
 */
export function kdfLimits(): PwhashLimits {
  const choice = process.env.HANDOVER_KDF ?? 'moderate';
  if (choice === 'moderate') return PWHASH_MODERATE;
  if (choice === 'interactive') return PWHASH_INTERACTIVE;
  if (choice === 'insecure-test') {
    if (process.env.NODE_ENV !== 'test') throw new HandoverError('BAD_REQUEST', 'HANDOVER_KDF=insecure-test is only allowed with NODE_ENV=test');
    return PWHASH_TEST_ONLY;
  }
  throw new HandoverError('BAD_REQUEST', `HANDOVER_KDF must be moderate, interactive or insecure-test, not "${choice}"`);
}

/** The shortest passphrase a new keystore accepts, in characters (Unicode code points). */
export const MIN_PASSPHRASE_LENGTH = 12;

/**
 * The policy for a passphrase that seals a NEW keystore, wherever it comes
 * from (prompt or HANDOVER_PASSPHRASE): the passphrase is all that protects
 * a seized laptop's keys, so a short one set by a script is as bad as a
 * short one typed. Existing keystores open with whatever they were made with.
 */
export function checkNewPassphrase(candidate: string, source: 'HANDOVER_PASSPHRASE' | 'HANDOVER_NEW_PASSPHRASE' | 'the prompt'): void {
  if ([...candidate].length < MIN_PASSPHRASE_LENGTH) {
    throw new HandoverError(
      'BAD_REQUEST',
      `the passphrase from ${source} is too short for a new profile: use at least ${MIN_PASSPHRASE_LENGTH} characters (a few unrelated words work well)`,
    );
  }
}

/** A new passphrase for an existing profile: HANDOVER_NEW_PASSPHRASE, or asked twice on the terminal; the policy applies. */
export async function newPassphrase(): Promise<string> {
  const fromEnv = process.env.HANDOVER_NEW_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') {
    checkNewPassphrase(fromEnv, 'HANDOVER_NEW_PASSPHRASE');
    return fromEnv;
  }
  if (!process.stdin.isTTY) throw new HandoverError('BAD_REQUEST', 'no new passphrase: set HANDOVER_NEW_PASSPHRASE or run in a terminal');
  const first = await askHidden('New passphrase: ');
  checkNewPassphrase(first, 'the prompt');
  if ((await askHidden('Repeat the new passphrase: ')) !== first) throw new HandoverError('BAD_REQUEST', 'the passphrases do not match');
  return first;
}

/** Whether the next passphrase() will be typed by a person (no HANDOVER_PASSPHRASE). */
export function passphraseIsTyped(): boolean {
  const fromEnv = process.env.HANDOVER_PASSPHRASE;
  return fromEnv === undefined || fromEnv === '';
}

/**
 * The passphrase from HANDOVER_PASSPHRASE, or asked on the terminal without
 * echo. `creating` is true when it will seal a new keystore: then the
 * passphrase policy applies (to the variable too) and the prompt asks twice.
 */
export async function passphrase(creating = false): Promise<string> {
  const fromEnv = process.env.HANDOVER_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (creating) checkNewPassphrase(fromEnv, 'HANDOVER_PASSPHRASE');
    return fromEnv;
  }
  if (!process.stdin.isTTY) {
    throw new HandoverError('BAD_REQUEST', 'no passphrase: set HANDOVER_PASSPHRASE or run in a terminal');
  }
  const first = await askHidden('Passphrase: ');
  if (creating) {
    checkNewPassphrase(first, 'the prompt');
    const again = await askHidden('Repeat passphrase: ');
    if (again !== first) throw new HandoverError('BAD_REQUEST', 'the passphrases do not match');
  }
  return first;
}

/**
 * The fingerprint of a key an admin is about to certify, confirmed by a
 * person before anything is signed (PROTOCOL.md §2.9): shown on stderr, then
 * taken from `--fingerprint` or typed at the terminal. Without either in a
 * non-interactive run it refuses; the signing call compares the answer.
 */
export async function confirmedFingerprint(what: string, expected: string, given: string | undefined): Promise<string> {
  progress(`${what} fingerprint: ${expected}`);
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) {
    throw new HandoverError(
      'BAD_REQUEST',
      `confirm the key before signing: ask the key's holder to read you its fingerprint and pass it with --fingerprint "<60 digits>" (spaces optional), or run in a terminal to type it`,
    );
  }
  return askVisible(`Have the key's holder read their fingerprint to you and type it here: `);
}

function askVisible(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    rl.question(prompt, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

/** A terminal input: what askHidden needs of process.stdin. */
export interface RawInput extends NodeJS.ReadableStream {
  isRaw?: boolean;
  setRawMode(mode: boolean): unknown;
}

/**
 * Ask for a secret on the terminal: the prompt stays on screen, nothing
 * typed is echoed (not even stars), Enter ends it with a newline.
 * readline was not used: it redraws its line (ESC[1G ESC[0J) and so erased
 * the prompt, and the terminal looked hung. Backspace and Ctrl-U edit;
 * arrow keys and other escape sequences are ignored; Ctrl-C cancels.
 */
export function askHidden(
  prompt: string,
  input: RawInput = process.stdin as RawInput,
  output: NodeJS.WritableStream = process.stderr,
  onInterrupt: () => void = () => process.exit(130),
): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw ?? false;
    const decoder = new StringDecoder('utf8');
    let answer: string[] = [];
    /** Inside an escape sequence (ESC, then ESC [ or ESC O up to its final byte). */
    let escape: 'none' | 'start' | 'sequence' = 'none';
    const finish = (then: () => void) => {
      input.removeListener('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      then();
    };
    const onData = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (escape === 'start') {
          escape = ch === '[' || ch === 'O' ? 'sequence' : 'none';
          continue;
        }
        if (escape === 'sequence') {
          if (ch >= '@' && ch <= '~') escape = 'none';
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish(() => resolve(answer.join('')));
        if (ch === '\u0003') return finish(() => (onInterrupt(), reject(new HandoverError('BAD_REQUEST', 'cancelled at the passphrase prompt'))));
        if (ch === '\u0004' && answer.length === 0) return finish(() => reject(new HandoverError('BAD_REQUEST', 'no passphrase given')));
        if (ch === '\u001b') escape = 'start';
        else if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else if (ch === '\u0015') answer = [];
        else if (ch >= ' ') answer.push(ch);
      }
    };
    // Echo off before the prompt shows, so even an answer typed (or pasted) the moment it appears is not echoed.
    input.setRawMode(true);
    output.write(prompt);
    input.on('data', onData);
    input.resume();
  });
}

export interface Session {
  crypto: Crypto;
  storage: FileStorage;
  dir: string;
}

/** The process's one crypto instance (loading libsodium's WebAssembly once). */
let cryptoInstance: Promise<Crypto> | undefined;
export function processCrypto(): Promise<Crypto> {
  cryptoInstance ??= loadNodeCrypto();
  return cryptoInstance;
}

export async function openStorage(opts: GlobalOptions): Promise<Session> {
  const dir = profileDir(opts);
  const storage = await new FileStorage(dir).init();
  return { crypto: await processCrypto(), storage, dir };
}

/**
 * The storage of a profile that must already exist. A missing one is
 * NOT_FOUND naming the folder and how it was chosen (the commonest slip:
 * running a command without --profile), and no empty folder is left behind.
 */
export async function openExistingStorage(opts: GlobalOptions, setUpWith: string): Promise<Session> {
  const dir = profileDir(opts);
  const missing = () =>
    new HandoverError('NOT_FOUND', `no Handover profile in ${dir} (${profileSource(opts)}); set one up there with \`${setUpWith}\``, { profile: dir });
  try {
    if (!(await fs.stat(dir)).isDirectory()) throw missing();
  } catch (err) {
    if (err instanceof HandoverError) throw err;
    throw missing();
  }
  const session = await openStorage(opts);
  if (!(await Vault.exists(session.storage))) throw missing();
  return session;
}

/** Unlock (or, for setup commands, create) the profile's vault. */
export async function openVault(opts: GlobalOptions, create: boolean): Promise<Session & { vault: Vault }> {
  const session = create ? await openStorage(opts) : await openExistingStorage(opts, 'handover org init` or `handover network init');
  const exists = await Vault.exists(session.storage);
  const pass = await passphrase(!exists);
  const vault = exists
    ? await Vault.unlock(session.crypto, session.storage, pass)
    : await Vault.create(session.crypto, session.storage, pass, kdfLimits());
  return { ...session, vault };
}

/** Print a result: JSON with --json, otherwise the human text. */
export function output(opts: GlobalOptions, json: unknown, human: string | (() => string)): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${typeof human === 'function' ? human() : human}\n`);
}

/** Progress for long work, on stderr so --json output stays clean. */
export function progress(message: string): void {
  process.stderr.write(`… ${message}\n`);
}

const HINTS: Partial<Record<string, string>> = {
  UNAVAILABLE: 'Is the relay running? Check --server or HANDOVER_SERVER (on a slow link, raise HANDOVER_TIMEOUT_MS).',
  WRONG_PASSPHRASE: 'Check the passphrase (HANDOVER_PASSPHRASE or the prompt).',
  UNAUTHENTICATED: 'Register the device first (handover device register).',
  UNTRUSTED_KEY: 'The key is not the one expected (no chain to the pinned network root, or not the fingerprint you were told). Confirm fingerprints by phone.',
  REVOKED: 'This org or device has been revoked; ask your org admin.',
  RATE_LIMITED: 'Wait a minute and try again.',
  CONSENT_SCOPE: 'The survivor\'s consent does not cover this. Use --override-reason only for vital interest.',
  DEVICE_SET_MISMATCH: 'The recipient devices changed while sending; try again.',
  KEYSTORE_CORRUPT: "The profile folder's files are damaged or incomplete: check that --profile names the right folder, then restore it from a backup or set the device up again.",
};

/** Turn any error into a clear message with its code and what to do; exit 2. */
export function fail(opts: GlobalOptions, err: unknown): never {
  const code = err instanceof HandoverError ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ error: { code, message, ...(err instanceof HandoverError && err.details ? { details: err.details } : {}) } })}\n`);
  } else {
    process.stderr.write(`error ${code}: ${message}\n`);
    const hint = HINTS[code];
    if (hint) process.stderr.write(`  ${hint}\n`);
  }
  process.exit(2);
}

/** A time as the person reads it: their own zone, with its offset, and how long ago. */
export function localTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const zone = `UTC${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())} ${zone}${ago(now - ms)}`;
}

function ago(ms: number): string {
  if (ms < 0) return '';
  if (ms < 60_000) return ', just now';
  if (ms < 3600_000) return `, ${Math.round(ms / 60_000)} min ago`;
  if (ms < 48 * 3600_000) return `, ${Math.round(ms / 3600_000)} h ago`;
  return `, ${Math.round(ms / (24 * 3600_000))} days ago`;
}

export function serverUrl(opts: GlobalOptions, fallback?: string): string {
  return opts.server ?? process.env.HANDOVER_SERVER ?? fallback ?? 'http://127.0.0.1:8080';
}
