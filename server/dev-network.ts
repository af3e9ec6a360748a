/**
 * The network root the relay trusts. In production it is configured (the
 * public key only; the private key stays offline with the coordinator). For
 * a newcomer running `npm start`, the relay creates a development network:
 * a root key pair in its data folder, loudly marked as development only.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Crypto, fromB64u, toB64u } from '../shared';
import type { RelayConfig } from './config';
import { ConfigError } from './config';

export interface NetworkRoot {
  rootPublicKey: Uint8Array;
  development: boolean;
  /** Where the development root key pair lives (development only). */
  devKeyFile?: string;
}

export const DEV_ROOT_FILE = 'dev-network-root.json';

export function resolveNetworkRoot(crypto: Crypto, config: RelayConfig): NetworkRoot {
  if (config.rootPublicKey) return { rootPublicKey: parseKey(config.rootPublicKey, 'HANDOVER_ROOT_PUBLIC_KEY'), development: false };
  if (config.rootPublicKeyFile) {
    let text: string;
    try {
      text = readFileSync(config.rootPublicKeyFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`HANDOVER_ROOT_PUBLIC_KEY_FILE: cannot read ${config.rootPublicKeyFile}: ${(err as Error).message}`);
    }
    // Either the bare key or a JSON file with { "publicKey": ... } (what `handover network init --out` writes).
    const key = text.startsWith('{') ? String((parseJsonFile(text, 'HANDOVER_ROOT_PUBLIC_KEY_FILE') as { publicKey?: unknown }).publicKey ?? '') : text;
    return { rootPublicKey: parseKey(key, 'HANDOVER_ROOT_PUBLIC_KEY_FILE'), development: false };
  }
  if (config.production) throw new ConfigError('production relay without a root public key');
  return developmentRoot(crypto, config.dataDir);
}

function parseJsonFile(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError(`${what}: not valid JSON`);
  }
}

function parseKey(value: string, variable: string): Uint8Array {
  try {
    const key = fromB64u(value);
    if (key.length === 32) return key;
  } catch {
    // fall through
  }
  throw new ConfigError(`${variable}: not a base64url Ed25519 public key`);
}

/** Load or create the development root key pair in `dataDir`. */
export function developmentRoot(crypto: Crypto, dataDir: string): NetworkRoot {
  const file = path.resolve(dataDir, DEV_ROOT_FILE);
  if (existsSync(file)) {
    const json = parseJsonFile(readFileSync(file, 'utf8'), file) as { publicKey?: unknown };
    if (typeof json.publicKey !== 'string') throw new ConfigError(`${file} is not a development root file`);
    return { rootPublicKey: parseKey(json.publicKey, file), development: true, devKeyFile: file };
  }
  const kp = crypto.signKeyPair();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const record = {
    warning: 'DEVELOPMENT NETWORK ONLY. Anyone with this file can certify organisations. Never use it for real cases.',
    publicKey: toB64u(kp.publicKey),
    privateKey: toB64u(kp.privateKey),
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { rootPublicKey: kp.publicKey, development: true, devKeyFile: file };
}
