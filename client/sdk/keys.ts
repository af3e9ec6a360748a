/**
 * Keys as people handle them: the fingerprint of a certified key (read over
 * the phone to confirm it) and a check that a pasted key is well-formed,
 * so apps never decode key bytes themselves.
 */
import { type Crypto, fromB64u, fingerprint } from '../../shared';

/** The 60-digit fingerprint of an org or device signing key given as base64url (or bytes). */
export function keyFingerprint(crypto: Crypto, kind: 'org' | 'device', id: string, publicKey: string | Uint8Array): string {
  return fingerprint(crypto, kind, id, typeof publicKey === 'string' ? fromB64u(publicKey) : publicKey);
}

/** Whether `text` is canonical base64url of exactly `bytes` bytes (e.g. a 32-byte public key someone pasted). */
export function isKeyText(text: string, bytes = 32): boolean {
  try {
    return fromB64u(text).length === bytes;
  } catch {
    return false;
  }
}
