/**
 * The local encrypted store. A random 32-byte storage key encrypts every
 * record (XChaCha20-Poly1305, record name as additional data, so records
 * cannot be swapped). The storage key itself is sealed under the user's
 * passphrase with Argon2id in the `keystore` record; the slow KDF runs once
 * per unlock, not on every write.
 */
import type { Crypto, PwhashLimits } from '../../shared/crypto/sodium';
import { SIZES } from '../../shared/crypto/sodium';
import { concatBytes, fromB64u, fromUtf8, toB64u, utf8 } from '../../shared/encoding';
import { HandoverError } from '../../shared/errors';
import { openSecrets, sealSecrets } from '../../shared/keystore';
import type { KeyValueStorage } from './storage';

const KEYSTORE_RECORD = 'keystore';
const RECORD_AD = 'handover/v1/vault-record\u0000';

export class Vault {
  private constructor(
    private readonly crypto: Crypto,
    private readonly storage: KeyValueStorage,
    private readonly storageKey: Uint8Array,
  ) {}

  static async exists(storage: KeyValueStorage): Promise<boolean> {
    return (await storage.get(KEYSTORE_RECORD)) !== undefined;
  }

  /** Make a new vault protected by `passphrase`; refuses to overwrite one. */
  static async create(crypto: Crypto, storage: KeyValueStorage, passphrase: string, limits: PwhashLimits): Promise<Vault> {
    if (await Vault.exists(storage)) throw new HandoverError('BAD_REQUEST', 'a profile already exists here');
    const storageKey = crypto.random(SIZES.aeadKey);
    await storage.put(KEYSTORE_RECORD, sealSecrets(crypto, { storageKey: toB64u(storageKey) }, passphrase, limits));
    return new Vault(crypto, storage, storageKey);
  }

  static async unlock(crypto: Crypto, storage: KeyValueStorage, passphrase: string): Promise<Vault> {
    const sealed = await storage.get(KEYSTORE_RECORD);
    if (sealed === undefined) throw new HandoverError('KEYSTORE_CORRUPT', 'no profile here: create one first');
    const secrets = openSecrets(crypto, sealed, passphrase);
    const key = typeof secrets === 'object' && secrets !== null && 'storageKey' in secrets ? secrets.storageKey : undefined;
    if (typeof key !== 'string') throw new HandoverError('KEYSTORE_CORRUPT', 'the keystore content is damaged');
    return new Vault(crypto, storage, fromB64u(key));
  }

  /** Re-seal the storage key under a new passphrase (records stay as they are). */
  /** Unlock the vault in `storage`, or create one there if there is none yet. */
  static async openOrCreate(crypto: Crypto, storage: KeyValueStorage, passphrase: string, limits: PwhashLimits): Promise<Vault> {
    return (await Vault.exists(storage)) ? Vault.unlock(crypto, storage, passphrase) : Vault.create(crypto, storage, passphrase, limits);
  }

  async changePassphrase(passphrase: string, limits: PwhashLimits): Promise<void> {
    await this.storage.put(KEYSTORE_RECORD, sealSecrets(this.crypto, { storageKey: toB64u(this.storageKey) }, passphrase, limits));
  }

  async put(name: string, value: unknown): Promise<void> {
    const nonce = this.crypto.random(SIZES.aeadNonce);
    const ct = this.crypto.aeadEncrypt(utf8(JSON.stringify(value)), utf8(RECORD_AD + name), nonce, this.storageKey);
    await this.storage.put(`r/${name}`, toB64u(concatBytes(nonce, ct)));
  }

  async get(name: string): Promise<unknown> {
    const stored = await this.storage.get(`r/${name}`);
    if (stored === undefined) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = fromB64u(stored);
    } catch {
      throw new HandoverError('KEYSTORE_CORRUPT', `local record ${name} is damaged`);
    }
    const plain = this.crypto.aeadDecrypt(bytes.subarray(SIZES.aeadNonce), utf8(RECORD_AD + name), bytes.subarray(0, SIZES.aeadNonce), this.storageKey);
    return JSON.parse(fromUtf8(plain));
  }

  async delete(name: string): Promise<void> {
    await this.storage.delete(`r/${name}`);
  }

  /** Record names under `prefix`. Names are not secret (ids only), values are. */
  async list(prefix: string): Promise<string[]> {
    return (await this.storage.keys(`r/${prefix}`)).map((k) => k.slice(2));
  }

  lock(): void {
    this.crypto.wipe(this.storageKey);
  }
}
