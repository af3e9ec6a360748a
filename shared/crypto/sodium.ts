/**
 * The crypto seam's implementation: the ONLY module in Handover that imports
 * libsodium. Everything above it (certificates, prekeys, envelopes, keystore)
 * calls the small `Crypto` interface in types.ts, so protocol code can be read without
 * libsodium's API in mind and tests can inject deterministic randomness.
 *
 * All randomness flows through `random`, which is `randombytes_buf` in
 * production. Tests inject a seeded source to reproduce known-answer vectors.
 */
import sodium from 'libsodium-wrappers-sumo';
import { HandoverError } from '../errors';
import { type Crypto, type CryptoOptions, type RandomSource, SIZES } from './types';

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
