/**
 * Ed25519 signature verification through Node's own OpenSSL, for Node
 * processes only (the relay, the CLI, the Node SDK). Measured here at about
 * 140 µs per verification against 240 µs for libsodium's WebAssembly; the
 * relay checks one signature per envelope, so this is its largest single
 * saving (docs/PERFORMANCE.md).
 *
 * It is injected into `createCrypto` as `verify`; everything else stays in
 * libsodium, and browsers keep libsodium's verification. OpenSSL implements
 * RFC 8032 verification with canonical S; libsodium additionally refuses a
 * small-order R or public key. Both agree on every Wycheproof Ed25519 vector
 * (test/shared/wycheproof.test.ts); the remaining difference is discussed in
 * docs/DECISIONS.md (2026-11-29, "Native Ed25519 verification").
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { SignatureVerifier } from './types';

/** DER SubjectPublicKeyInfo prefix for a raw 32-byte Ed25519 key (RFC 8410). */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * A verifier that keeps up to `cacheSize` parsed public keys (a relay sees
 * the same few thousand device keys again and again; parsing one costs ~8 µs).
 * Like `Crypto.verify`, it returns false for anything malformed and never throws.
 */
export function nodeEd25519Verifier(cacheSize = 4096): SignatureVerifier {
  const keys = new Map<string, KeyObject>();
  const keyObject = (publicKey: Uint8Array): KeyObject => {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64');
    let key = keys.get(id);
    if (!key) {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
      if (keys.size >= cacheSize) keys.delete(keys.keys().next().value as string);
      keys.set(id, key);
    }
    return key;
  };
  return (signature, message, publicKey) => {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      return verify(null, message, keyObject(publicKey), signature);
    } catch {
      return false;
    }
  };
}
