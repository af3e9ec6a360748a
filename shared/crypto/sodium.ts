/**
 * The crypto seam: the ONLY module in Handover that imports libsodium.
 * Everything above it (certificates, prekeys, envelopes, keystore) calls the
 * small `Crypto` interface below, so protocol code can be read without
 * libsodium's API in mind and tests can inject deterministic randomness.
 *
 * All randomness flows through `random`, which is `randombytes_buf` in
 * production. Tests inject a seeded source to reproduce known-answer vectors.
 */
import sodium from 'libsodium-wrappers-sumo';
import { HandoverError } from '../errors';

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

function decryptFailed(): HandoverError {
  return new HandoverError('DECRYPT_FAILED', 'decryption failed: wrong key or tampered data');
}

function checkLength(what: string, bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new HandoverError('BAD_REQUEST', `${what} must be ${length} bytes`);
  }
}

let readyPromise: Promise<void> | undefined;

/** Wait for libsodium's WebAssembly to load; call once before `createCrypto`. */
export function cryptoReady(): Promise<void> {
  readyPromise ??= sodium.ready;
  return readyPromise;
}

/** Build the crypto interface. `await cryptoReady()` first (or use `loadCrypto`). */
export function createCrypto(options: CryptoOptions = {}): Crypto {
  const random: RandomSource = options.random ?? ((n) => sodium.randombytes_buf(n));
  const verifyWith = options.verify;

  const crypto: Crypto = {
    random,

    signKeyPair(seed = random(SIZES.seed)) {
      checkLength('signing seed', seed, SIZES.seed);
      const kp = sodium.crypto_sign_seed_keypair(seed);
      return { publicKey: kp.publicKey, privateKey: kp.privateKey };
    },
    sign(message, privateKey) {
      return sodium.crypto_sign_detached(message, privateKey);
    },
    verify(signature, message, publicKey) {
      if (signature.length !== SIZES.signature || publicKey.length !== SIZES.signPublicKey) return false;
      if (verifyWith) return verifyWith(signature, message, publicKey);
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },

    isValidSignPublicKey(publicKey) {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== SIZES.signPublicKey) return false;
      try {
        return sodium.crypto_core_ed25519_is_valid_point(publicKey);
      } catch {
        return false;
      }
    },

    dhKeyPair(privateKey = random(SIZES.dhKey)) {
      checkLength('X25519 private key', privateKey, SIZES.dhKey);
      return { publicKey: sodium.crypto_scalarmult_base(privateKey), privateKey };
    },
    dh(privateKey, publicKey) {
      checkLength('X25519 private key', privateKey, SIZES.dhKey);
      checkLength('X25519 public key', publicKey, SIZES.dhKey);
      try {
        // libsodium refuses points whose shared secret is all zeros (low order).
        return sodium.crypto_scalarmult(privateKey, publicKey);
      } catch {
        throw new HandoverError('UNTRUSTED_KEY', 'X25519 public key is of low order');
      }
    },

    kemKeyPair(seed = random(SIZES.seed)) {
      checkLength('X-Wing seed', seed, SIZES.seed);
      const kp = sodium.crypto_kem_xwing_seed_keypair(seed);
      return { publicKey: kp.publicKey, privateKey: kp.privateKey };
    },
    kemEncapsulate(publicKey) {
      checkLength('X-Wing public key', publicKey, SIZES.kemPublicKey);
      // Encapsulation randomness comes from `random` so vectors can be reproduced.
      return sodium.crypto_kem_xwing_enc_deterministic(publicKey, random(64));
    },
    kemDecapsulate(ciphertext, privateKey) {
      if (ciphertext.length !== SIZES.kemCiphertext) throw decryptFailed();
      try {
        return sodium.crypto_kem_xwing_dec(ciphertext, privateKey);
      } catch {
        throw decryptFailed();
      }
    },

    aeadEncrypt(plaintext, additionalData, nonce, key) {
      checkLength('AEAD nonce', nonce, SIZES.aeadNonce);
      checkLength('AEAD key', key, SIZES.aeadKey);
      return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, additionalData, null, nonce, key);
    },
    aeadDecrypt(ciphertext, additionalData, nonce, key) {
      if (nonce.length !== SIZES.aeadNonce || key.length !== SIZES.aeadKey || ciphertext.length < SIZES.aeadTag) {
        throw decryptFailed();
      }
      try {
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, additionalData, nonce, key);
      } catch {
        throw decryptFailed();
      }
    },

    hash(message, length = SIZES.hash, key) {
      return sodium.crypto_generichash(length, message, key ?? null);
    },
    passwordKey(passphrase, salt, limits, length = SIZES.aeadKey) {
      checkLength('password salt', salt, SIZES.pwhashSalt);
      return sodium.crypto_pwhash(
        length,
        passphrase,
        salt,
        limits.opsLimit,
        limits.memLimit,
        sodium.crypto_pwhash_ALG_ARGON2ID13,
      );
    },

    pad(data, blockSize) {
      return sodium.pad(data, blockSize);
    },
    unpad(data, blockSize) {
      try {
        return sodium.unpad(data, blockSize);
      } catch {
        throw decryptFailed();
      }
    },

    equal(a, b) {
      return a.length === b.length && sodium.memcmp(a, b);
    },
    wipe(bytes) {
      sodium.memzero(bytes);
    },
  };
  return crypto;
}

/** `cryptoReady()` then `createCrypto(options)`. */
export async function loadCrypto(options: CryptoOptions = {}): Promise<Crypto> {
  await cryptoReady();
  return createCrypto(options);
}
