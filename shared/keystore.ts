/**
 * Passphrase-sealed keystore (PROTOCOL.md §3): a device's private keys as
 * JSON, encrypted with XChaCha20-Poly1305 under a key derived from the
 * passphrase by Argon2id. The sealed form is self-describing (version, KDF
 * limits, salt, nonce) and every one of those fields is bound as additional
 * data, so tampering with any byte is detected. Storage (file with mode 0600
 * on Node, IndexedDB in a browser) is the caller's job.
 */
import { z } from 'zod';
import { DOMAIN, canonicalJson } from './canonical';
import type { Crypto, KeyPair, PwhashLimits } from './crypto/types';
import { SIZES } from './crypto/types';
import type { DeviceKeys, StoredPrekey } from './device-keys';
import { concatBytes, fromB64u, fromUtf8, toB64u, utf8 } from './encoding';
import { HandoverError } from './errors';

/** What a sealed file holds: a device's keystore, or a profile backup (its own passphrase; never mistaken for the other). */
export type SealedFormat = 'handover-keystore' | 'handover-backup';
const WHAT: Record<SealedFormat, string> = { 'handover-keystore': 'keystore', 'handover-backup': 'backup' };

const SealedKeystore = z.strictObject({
  format: z.enum(['handover-keystore', 'handover-backup']),
  v: z.literal(1),
  kdf: z.strictObject({
    alg: z.literal('argon2id13'),
    opsLimit: z.number().int().min(1).max(100),
    memLimit: z.number().int().min(8192).max(4 * 1024 * 1024 * 1024),
    salt: z.string().max(64),
  }),
  nonce: z.string().max(64),
  ciphertext: z.string().max(64 * 1024 * 1024),
});
export type SealedKeystore = z.infer<typeof SealedKeystore>;

function associatedData(sealed: Omit<SealedKeystore, 'ciphertext'>): Uint8Array {
  return concatBytes(utf8(DOMAIN.keystore), new Uint8Array([0]), utf8(canonicalJson(sealed)));
}

/** Seal any JSON-serialisable secret value under a passphrase. */
export function sealSecrets(crypto: Crypto, value: unknown, passphrase: string, limits: PwhashLimits, format: SealedFormat = 'handover-keystore'): string {
  if (passphrase.length === 0) throw new HandoverError('BAD_REQUEST', 'the passphrase must not be empty');
  const salt = crypto.random(SIZES.pwhashSalt);
  const nonce = crypto.random(SIZES.aeadNonce);
  const meta = {
    format,
    v: 1 as const,
    kdf: { alg: 'argon2id13' as const, opsLimit: limits.opsLimit, memLimit: limits.memLimit, salt: toB64u(salt) },
    nonce: toB64u(nonce),
  };
  const key = crypto.passwordKey(passphrase, salt, limits);
  const plaintext = utf8(JSON.stringify(value));
  const ciphertext = crypto.aeadEncrypt(plaintext, associatedData(meta), nonce, key);
  crypto.wipe(key);
  crypto.wipe(plaintext);
  return JSON.stringify({ ...meta, ciphertext: toB64u(ciphertext) });
}

/**
 * Open a sealed keystore. A wrong passphrase and a tampered file look the
 * same to AEAD; both give WRONG_PASSPHRASE, while a file that is not a
 * keystore at all gives KEYSTORE_CORRUPT.
 */
export function openSecrets(crypto: Crypto, sealedText: string, passphrase: string, format: SealedFormat = 'handover-keystore'): unknown {
  const what = WHAT[format];
  let sealed: SealedKeystore;
  try {
    sealed = SealedKeystore.parse(JSON.parse(sealedText));
  } catch {
    throw new HandoverError('KEYSTORE_CORRUPT', `the ${what} file is damaged or not a Handover ${what}`);
  }
  if (sealed.format !== format) throw new HandoverError('KEYSTORE_CORRUPT', `this is a Handover ${WHAT[sealed.format]}, not a ${what}`);
  const { ciphertext, ...meta } = sealed;
  let salt: Uint8Array;
  let nonce: Uint8Array;
  let ct: Uint8Array;
  try {
    salt = fromB64u(meta.kdf.salt);
    nonce = fromB64u(meta.nonce);
    ct = fromB64u(ciphertext);
  } catch {
    throw new HandoverError('KEYSTORE_CORRUPT', `the ${what} file is damaged`);
  }
  if (salt.length !== SIZES.pwhashSalt || nonce.length !== SIZES.aeadNonce) {
    throw new HandoverError('KEYSTORE_CORRUPT', `the ${what} file is damaged`);
  }
  const key = crypto.passwordKey(passphrase, salt, { opsLimit: meta.kdf.opsLimit, memLimit: meta.kdf.memLimit });
  let plaintext: Uint8Array;
  try {
    plaintext = crypto.aeadDecrypt(ct, associatedData(meta), nonce, key);
  } catch {
    throw new HandoverError('WRONG_PASSPHRASE', `wrong passphrase, or the ${what} file was altered`);
  } finally {
    crypto.wipe(key);
  }
  try {
    return JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new HandoverError('KEYSTORE_CORRUPT', `the ${what} content is damaged`);
  }
}

/* ---- DeviceKeys <-> JSON (private material; only ever stored sealed) ---- */

const KeyPairJson = z.strictObject({ publicKey: z.string(), privateKey: z.string() });
const PrekeyJson = z.strictObject({ id: z.number().int(), createdAt: z.number().int(), keyPair: KeyPairJson });
const DeviceKeysJson = z.strictObject({
  deviceId: z.string(),
  orgId: z.string(),
  sign: KeyPairJson,
  identity: KeyPairJson,
  signedPrekeys: z.array(PrekeyJson),
  pqPrekeys: z.array(PrekeyJson),
  oneTimePrekeys: z.array(PrekeyJson),
  nextPrekeyId: z.number().int().min(1),
  currentSignedPrekeyId: z.number().int().nullable(),
  currentPqPrekeyId: z.number().int().nullable(),
});
export type DeviceKeysJson = z.infer<typeof DeviceKeysJson>;

const kpToJson = (kp: KeyPair) => ({ publicKey: toB64u(kp.publicKey), privateKey: toB64u(kp.privateKey) });
const kpFromJson = (kp: z.infer<typeof KeyPairJson>): KeyPair => ({ publicKey: fromB64u(kp.publicKey), privateKey: fromB64u(kp.privateKey) });
const prekeysToJson = (m: Map<number, StoredPrekey>) => [...m.values()].map((p) => ({ id: p.id, createdAt: p.createdAt, keyPair: kpToJson(p.keyPair) }));
const prekeysFromJson = (list: z.infer<typeof PrekeyJson>[]) =>
  new Map(list.map((p) => [p.id, { id: p.id, createdAt: p.createdAt, keyPair: kpFromJson(p.keyPair) }] as const));

export function deviceKeysToJson(keys: DeviceKeys): DeviceKeysJson {
  return {
    deviceId: keys.deviceId,
    orgId: keys.orgId,
    sign: kpToJson(keys.sign),
    identity: kpToJson(keys.identity),
    signedPrekeys: prekeysToJson(keys.signedPrekeys),
    pqPrekeys: prekeysToJson(keys.pqPrekeys),
    oneTimePrekeys: prekeysToJson(keys.oneTimePrekeys),
    nextPrekeyId: keys.nextPrekeyId,
    currentSignedPrekeyId: keys.currentSignedPrekeyId ?? null,
    currentPqPrekeyId: keys.currentPqPrekeyId ?? null,
  };
}

export function deviceKeysFromJson(value: unknown): DeviceKeys {
  const damaged = () => new HandoverError('KEYSTORE_CORRUPT', 'the device keys in the keystore are damaged');
  const parsed = DeviceKeysJson.safeParse(value);
  if (!parsed.success) throw damaged();
  const j = parsed.data;
  try {
    return {
      deviceId: j.deviceId,
      orgId: j.orgId,
      sign: kpFromJson(j.sign),
      identity: kpFromJson(j.identity),
      signedPrekeys: prekeysFromJson(j.signedPrekeys),
      pqPrekeys: prekeysFromJson(j.pqPrekeys),
      oneTimePrekeys: prekeysFromJson(j.oneTimePrekeys),
      nextPrekeyId: j.nextPrekeyId,
      currentSignedPrekeyId: j.currentSignedPrekeyId ?? undefined,
      currentPqPrekeyId: j.currentPqPrekeyId ?? undefined,
    };
  } catch {
    // A key that is not canonical base64url: damaged content, not a bad request.
    throw damaged();
  }
}
