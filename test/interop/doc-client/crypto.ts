/**
 * Why this exists: the primitives PROTOCOL.md names, each bound to the one
 * libsodium call the document points at (§1.2 BLAKE2b-256 vs -512, §2.1
 * Ed25519 with canonical-point checks, X25519 with the all-zero check,
 * §3.2 X-Wing from its 32-byte seed, §4.4 padding buckets), plus key
 * fingerprints (§2.8). Nothing here comes from the project's own code.
 */
import sodium from 'libsodium-wrappers-sumo';
import { DocClientError, concat, lp, signingInput, utf8, LABEL } from './encoding';

let ready = false;

export async function loadSodium(): Promise<void> {
  await sodium.ready;
  ready = true;
}

function s(): typeof sodium {
  if (!ready) throw new Error('call loadSodium() first');
  return sodium;
}

/** Random bytes; the seal takes a source so the vectors' random tape can replace it (README, step 5). */
export type RandomSource = (purpose: string, length: number) => Uint8Array;
export const systemRandom: RandomSource = (_purpose, length) => s().randombytes_buf(length);

/** BLAKE2b with a 32-byte output length, unkeyed (§1.2) — not BLAKE2b-512 cut short. */
export function blake2b256(data: Uint8Array): Uint8Array {
  return s().crypto_generichash(32, data, null);
}

export function blake2b512(data: Uint8Array): Uint8Array {
  return s().crypto_generichash(64, data, null);
}

export interface SignKeyPair {
  publicKey: Uint8Array;
  /** libsodium's 64-byte secret key (seed ‖ public key). */
  privateKey: Uint8Array;
}

export function signKeyPairFromSeed(seed: Uint8Array): SignKeyPair {
  const kp = s().crypto_sign_seed_keypair(seed);
  return { publicKey: kp.publicKey, privateKey: kp.privateKey };
}

export function newSignKeyPair(): SignKeyPair {
  return signKeyPairFromSeed(s().randombytes_buf(32));
}

export function sign(message: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return s().crypto_sign_detached(message, privateKey);
}

/** An Ed25519 public key must be a canonical point of prime order (§2.1). */
export function isValidSignKey(publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && s().crypto_core_ed25519_is_valid_point(publicKey);
}

export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || !isValidSignKey(publicKey)) return false;
  return s().crypto_sign_verify_detached(signature, message, publicKey);
}

/** Sign `signingInput(label, value)` and return the object with its signature (§1.3). */
export function signObject<T extends object>(label: string, value: T, privateKey: Uint8Array): T & { signature: string } {
  const signature = Buffer.from(sign(signingInput(label, value), privateKey)).toString('base64url');
  return { ...value, signature };
}

export interface DhKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export function dhKeyPairFromPrivate(privateKey: Uint8Array): DhKeyPair {
  return { privateKey, publicKey: s().crypto_scalarmult_base(privateKey) };
}

export function newDhKeyPair(): DhKeyPair {
  return dhKeyPairFromPrivate(s().randombytes_buf(32));
}

/** X25519; an all-zero shared secret is UNTRUSTED_KEY (§2.1). */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = s().crypto_scalarmult(privateKey, publicKey);
  } catch {
    throw new DocClientError('UNTRUSTED_KEY', 'X25519 key gives no shared secret');
  }
  if (shared.every((b) => b === 0)) throw new DocClientError('UNTRUSTED_KEY', 'X25519 key gives an all-zero secret');
  return shared;
}

export interface XWingKeyPair {
  publicKey: Uint8Array;
  /** The 32-byte seed, which is how the private key is kept (§3.2). */
  seed: Uint8Array;
}

export function xwingFromSeed(seed: Uint8Array): XWingKeyPair {
  return { seed, publicKey: s().crypto_kem_xwing_seed_keypair(seed).publicKey };
}

export function newXWing(): XWingKeyPair {
  return xwingFromSeed(s().randombytes_buf(32));
}

/** X-Wing encapsulation from a 64-byte `eseed` (EncapsulateDerand). */
export function xwingEncapsulate(publicKey: Uint8Array, eseed: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  return s().crypto_kem_xwing_enc_deterministic(publicKey, eseed);
}

export function xwingDecapsulate(ciphertext: Uint8Array, seed: Uint8Array): Uint8Array {
  return s().crypto_kem_xwing_dec(ciphertext, seed);
}

export function aeadEncrypt(plain: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  return s().crypto_aead_xchacha20poly1305_ietf_encrypt(plain, ad, null, nonce, key);
}

/** Any failure is DECRYPT_FAILED (§4.6 step 8). */
export function aeadDecrypt(cipher: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  try {
    return s().crypto_aead_xchacha20poly1305_ietf_decrypt(null, cipher, ad, nonce, key);
  } catch {
    throw new DocClientError('DECRYPT_FAILED', 'AEAD open failed');
  }
}

/** §4.4: the smallest of 1 KiB, 2 KiB … 64 KiB holding n + 1 bytes, then multiples of 64 KiB. */
export function bucketFor(bodyLength: number): number {
  const need = bodyLength + 1;
  for (let b = 1024; b <= 65536; b *= 2) if (need <= b) return b;
  return Math.ceil(need / 65536) * 65536;
}

export function isBucket(length: number): boolean {
  return length >= 1024 && bucketFor(length - 1) === length;
}

/** ISO/IEC 7816-4 to exactly the bucket: body ‖ 0x80 ‖ 0x00… */
export function pad(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(bucketFor(body.length));
  out.set(body, 0);
  out[body.length] = 0x80;
  return out;
}

/** Scan back over 0x00 to the 0x80; anything else is DECRYPT_FAILED. */
export function unpad(padded: Uint8Array): Uint8Array {
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== 0x80) throw new DocClientError('DECRYPT_FAILED', 'bad padding');
  return padded.subarray(0, i);
}

/** §2.8: 1,024 BLAKE2b-512 rounds, 12 groups of 5 digits. */
export function fingerprint(kind: 'org' | 'device', id: string, publicKey: Uint8Array): string {
  let d = blake2b512(concat(lp(LABEL.fingerprint), lp(kind), lp(id), lp(publicKey)));
  for (let i = 1; i <= 1023; i++) d = blake2b512(concat(d, publicKey));
  const groups: string[] = [];
  for (let g = 0; g < 12; g++) {
    let n = 0;
    for (let k = 0; k < 5; k++) n = n * 256 + d[5 * g + k]!;
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

export { utf8 };
