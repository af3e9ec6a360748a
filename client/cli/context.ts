/**
 * Shared plumbing for CLI commands: global options, the profile folder,
 * passphrase entry, Argon2id limits, and output (human or --json).
 */
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { type Crypto, HandoverError, PWHASH_INTERACTIVE, PWHASH_MODERATE, PWHASH_TEST_ONLY, type PwhashLimits, Vault } from '../sdk';
import { FileStorage, loadNodeCrypto } from '../sdk/node';

export interface GlobalOptions {
  profile?: string;
  server?: string;
  json?: boolean;
}

export function profileDir(opts: GlobalOptions): string {
  return path.resolve(opts.profile ?? process.env.HANDOVER_PROFILE ?? path.join(os.homedir(), '.handover', 'default'));
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

export function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const rlWithOutput = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stderr.write(prompt);
    rlWithOutput._writeToOutput = () => undefined; // do not echo what is typed
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
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

/** Unlock (or, for setup commands, create) the profile's vault. */
export async function openVault(opts: GlobalOptions, create: boolean): Promise<Session & { vault: Vault }> {
  const session = await openStorage(opts);
  const exists = await Vault.exists(session.storage);
  if (!exists && !create) {
    throw new HandoverError('KEYSTORE_CORRUPT', `no profile in ${session.dir}: run an init command first (or pass --profile)`);
  }
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
  UNAVAILABLE: 'Is the relay running? Check --server or HANDOVER_SERVER.',
  WRONG_PASSPHRASE: 'Check the passphrase (HANDOVER_PASSPHRASE or the prompt).',
  UNAUTHENTICATED: 'Register the device first (handover device register).',
  UNTRUSTED_KEY: 'The key is not the one expected (no chain to the pinned network root, or not the fingerprint you were told). Confirm fingerprints by phone.',
  REVOKED: 'This org or device has been revoked; ask your org admin.',
  RATE_LIMITED: 'Wait a minute and try again.',
  CONSENT_SCOPE: 'The survivor\'s consent does not cover this. Use --override-reason only for vital interest.',
  DEVICE_SET_MISMATCH: 'The recipient devices changed while sending; try again.',
  KEYSTORE_CORRUPT: 'Pass --profile to pick the right profile folder, or run an init command.',
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

export function serverUrl(opts: GlobalOptions, fallback?: string): string {
  return opts.server ?? process.env.HANDOVER_SERVER ?? fallback ?? 'http://127.0.0.1:8080';
}
