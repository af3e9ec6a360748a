/**
 * The crypto interface for Node processes: libsodium for everything, with
 * Ed25519 verification through Node's OpenSSL (faster; see ed25519-node.ts).
 * Browser code uses `loadCrypto` from sodium.ts and never imports this file.
 */
import { nodeEd25519Verifier } from './ed25519-node';
import { loadCrypto } from './sodium';
import type { Crypto, CryptoOptions } from './types';

export function loadNodeCrypto(options: CryptoOptions = {}): Promise<Crypto> {
  return loadCrypto({ verify: nodeEd25519Verifier(), ...options });
}
