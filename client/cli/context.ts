/**
 * Shared plumbing for CLI commands: global options, the profile folder,
 * passphrase entry, Argon2id limits, and output (human or --json).
 */
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { type Crypto, type PwhashLimits, PWHASH_INTERACTIVE, PWHASH_MODERATE, PWHASH_TEST_ONLY } from '../../shared/crypto/sodium';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { HandoverError } from '../../shared/errors';
import { FileStorage } from '../node/file-storage';
import { Vault } from '../sdk/vault';

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

/** The passphrase from HANDOVER_PASSPHRASE, or asked on the terminal without echo. */
export async function passphrase(confirm = false): Promise<string> {
  const fromEnv = process.env.HANDOVER_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY) {
    throw new HandoverError('BAD_REQUEST', 'no passphrase: set HANDOVER_PASSPHRASE or run in a terminal');
  }
  const first = await askHidden('Passphrase: ');
  if (confirm) {
    if (first.length < 12) throw new HandoverError('BAD_REQUEST', 'use a passphrase of at least 12 characters');
    const again = await askHidden('Repeat passphrase: ');
    if (again !== first) throw new HandoverError('BAD_REQUEST', 'the passphrases do not match');
  }
  return first;
}

function askHidden(prompt: string): Promise<string> {
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

export async function openStorage(opts: GlobalOptions): Promise<Session> {
  const dir = profileDir(opts);
  const storage = await new FileStorage(dir).init();
  return { crypto: await loadNodeCrypto(), storage, dir };
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
  UNTRUSTED_KEY: 'The key does not chain to the network root this profile pins. Confirm fingerprints by phone.',
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
