/**
 * The crypto seam's interface: every primitive Handover uses, in one small
 * documented type, apart from any implementation. Protocol code, the SDK,
 * the relay and tests depend on this file only; `sodium.ts` (the one module
 * that imports libsodium) implements it, and tests can inject deterministic
 * randomness through `CryptoOptions`.
 */
export type RandomSource = (length: number) => Uint8Array;

/** An Ed25519 verifier: false for any bad signature, key or length; never throws. */
export type SignatureVerifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;

export interface CryptoOptions {
  /** Randomness; tests inject a seeded source for known-answer vectors. */
  random?: RandomSource;
  /** Ed25519 verification in place of libsodium's (Node processes use OpenSSL's: crypto/ed25519-node.ts). */
  verify?: SignatureVerifier;
}

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** Cost settings for Argon2id; tests inject cheap ones, production uses MODERATE. */
export interface PwhashLimits {
  readonly opsLimit: number;
  readonly memLimit: number;
}

export const SIZES = {
  signPublicKey: 32,
  signature: 64,
  dhKey: 32,
  aeadKey: 32,
  aeadNonce: 24,
  aeadTag: 16,
  hash: 32,
  seed: 32,
  kemPublicKey: 1216,
  kemCiphertext: 1120,
  kemSharedSecret: 32,
  pwhashSalt: 16,
} as const;

export interface Crypto {
  readonly random: RandomSource;

  /** Ed25519 key pair, from a 32-byte seed drawn from `random` unless given. */
  signKeyPair(seed?: Uint8Array): KeyPair;
  sign(message: Uint8Array, privateKey: Uint8Array): Uint8Array;
  /** False for any bad signature, key or length; never throws. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * True for a canonical Ed25519 public key of prime order. Certificates
   * refuse any other (a small-order key would let anyone forge its signatures
   * under a verifier less strict than libsodium's).
   */
  isValidSignPublicKey(publicKey: Uint8Array): boolean;

  /** X25519 key pair (private key is a random 32-byte scalar, clamped by X25519). */
  dhKeyPair(privateKey?: Uint8Array): KeyPair;
  /** X25519; throws UNTRUSTED_KEY on low-order public keys (all-zero output). */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /** X-Wing (ML-KEM-768 + X25519) post-quantum hybrid KEM. */
  kemKeyPair(seed?: Uint8Array): KeyPair;
  kemEncapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  kemDecapsulate(ciphertext: Uint8Array, privateKey: Uint8Array): Uint8Array;

  /** XChaCha20-Poly1305-IETF. */
  aeadEncrypt(plaintext: Uint8Array, additionalData: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** Throws DECRYPT_FAILED on any failure (bad tag, key, nonce or length). */
  aeadDecrypt(ciphertext: Uint8Array, additionalData: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;

  /** BLAKE2b with the given output length (16..64 bytes), optionally keyed. */
  hash(message: Uint8Array, length?: number, key?: Uint8Array): Uint8Array;
  /** Argon2id13. */
  passwordKey(passphrase: string, salt: Uint8Array, limits: PwhashLimits, length?: number): Uint8Array;

  /** ISO/IEC 7816-4 padding to a multiple of `blockSize` (sodium_pad). */
  pad(data: Uint8Array, blockSize: number): Uint8Array;
  /** Throws DECRYPT_FAILED on bad padding. */
  unpad(data: Uint8Array, blockSize: number): Uint8Array;

  /** Constant-time equality for secrets (false on length mismatch). */
  equal(a: Uint8Array, b: Uint8Array): boolean;
  /** Overwrite a secret in memory (best effort in JS). */
  wipe(bytes: Uint8Array): void;
}

export const PWHASH_MODERATE: PwhashLimits = { opsLimit: 3, memLimit: 256 * 1024 * 1024 };
export const PWHASH_INTERACTIVE: PwhashLimits = { opsLimit: 2, memLimit: 64 * 1024 * 1024 };
/** Far too weak for real keys: only for tests, injected through configuration. */
export const PWHASH_TEST_ONLY: PwhashLimits = { opsLimit: 1, memLimit: 8 * 1024 };
