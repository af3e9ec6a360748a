/**
 * The local encrypted store. A random 32-byte storage key encrypts every
 * record (XChaCha20-Poly1305, record name as additional data, so records
 * cannot be swapped). The storage key itself is sealed under the user's
 * passphrase with Argon2id in the `keystore` record; the slow KDF runs once
 * per unlock, not on every write.
 *
 * A locked profile must not tell anyone which threads or messages it holds
 * (review finding 10): record names never reach the storage in clear. Each
 * is stored under an opaque key, a keyed BLAKE2b of its name under a key
 * derived from the storage key, and the list of names lives in one
 * encrypted index record. Deleting a record leaves no name behind.
 */
import {
  concatBytes,
  type Crypto,
  fromB64u,
  fromUtf8,
  HandoverError,
  openSecrets,
  type PwhashLimits,
  sealSecrets,
  SIZES,
  toB64u,
  utf8,
} from '../../shared';
import type { KeyValueStorage } from './storage';

const KEYSTORE_RECORD = 'keystore';
const RECORD_AD = 'handover/v1/vault-record\u0000';
const NAME_KEY_LABEL = 'handover/v1/vault-names';
/** The logical name of the index record (stored under its opaque key like any other). */
const INDEX_NAME = '\u0000index';

export class Vault {
  private readonly nameKey: Uint8Array;
  /** Every record name, kept in memory and in the encrypted index record. */
  private names = new Set<string>();
  /** After lock() the keys are zeros: nothing may be written or read with them. */
  private locked = false;

  private constructor(
    private readonly crypto: Crypto,
    private readonly storage: KeyValueStorage,
    private readonly storageKey: Uint8Array,
  ) {
    this.nameKey = crypto.hash(utf8(NAME_KEY_LABEL), 32, storageKey);
  }

  static async exists(storage: KeyValueStorage): Promise<boolean> {
    return (await storage.get(KEYSTORE_RECORD)) !== undefined;
  }

  /** Make a new vault protected by `passphrase`; refuses to overwrite one. */
  static async create(crypto: Crypto, storage: KeyValueStorage, passphrase: string, limits: PwhashLimits): Promise<Vault> {
    if (await Vault.exists(storage)) throw new HandoverError('BAD_REQUEST', 'a profile already exists here');
    const { sealed, storageKey } = Vault.sealNewKeystore(crypto, passphrase, limits);
    try {
      return await Vault.createSealed(crypto, storage, sealed, storageKey);
    } finally {
      crypto.wipe(storageKey);
    }
  }

  /**
   * Make a new storage key and seal it under the passphrase (Argon2id at
   * `limits`): the slow half of `create`, pure, for an app that runs it
   * apart (the web app: in a Web Worker). `createSealed` makes the vault
   * from the result. The caller wipes the key.
   */
  static sealNewKeystore(crypto: Crypto, passphrase: string, limits: PwhashLimits): { sealed: string; storageKey: Uint8Array } {
    const storageKey = crypto.random(SIZES.aeadKey);
    return { sealed: sealSecrets(crypto, { storageKey: toB64u(storageKey) }, passphrase, limits), storageKey };
  }

  /**
   * Make a new vault from a keystore `sealNewKeystore` sealed and the key it
   * sealed (no Argon2id here); refuses to overwrite one. The caller must
   * pass the pair as it came: the key cannot be checked against the
   * keystore without the passphrase.
   */
  static async createSealed(crypto: Crypto, storage: KeyValueStorage, sealed: string, storageKey: Uint8Array): Promise<Vault> {
    if (await Vault.exists(storage)) throw new HandoverError('BAD_REQUEST', 'a profile already exists here');
    if (storageKey.length !== SIZES.aeadKey) throw new HandoverError('BAD_REQUEST', 'a storage key is 32 bytes');
    await storage.put(KEYSTORE_RECORD, sealed);
    const vault = new Vault(crypto, storage, storageKey.slice());
    await vault.saveIndex();
    return vault;
  }

  static async unlock(crypto: Crypto, storage: KeyValueStorage, passphrase: string): Promise<Vault> {
    const sealed = await Vault.sealedKeystore(storage);
    if (sealed === undefined) throw new HandoverError('KEYSTORE_CORRUPT', 'no profile here: create one first');
    const vault = new Vault(crypto, storage, Vault.storageKeyOf(crypto, sealed, passphrase));
    await vault.loadIndex();
    return vault;
  }

  /** The sealed keystore record as stored, for an app that runs the slow Argon2id apart (the web app: in a Web Worker). */
  static sealedKeystore(storage: KeyValueStorage): Promise<string | undefined> {
    return storage.get(KEYSTORE_RECORD);
  }

  /**
   * Open a sealed keystore with its passphrase (Argon2id at the limits it
   * was sealed with): the vault's storage key, for `unlockWithKey`. Pure,
   * so it runs wherever the app has a crypto instance. The caller wipes it.
   */
  static storageKeyOf(crypto: Crypto, sealed: string, passphrase: string): Uint8Array {
    const secrets = openSecrets(crypto, sealed, passphrase);
    const key = typeof secrets === 'object' && secrets !== null && 'storageKey' in secrets ? secrets.storageKey : undefined;
    if (typeof key !== 'string') throw new HandoverError('KEYSTORE_CORRUPT', 'the keystore content is damaged');
    return fromB64u(key);
  }

  /**
   * Open the vault with its storage key itself, as kept by something that
   * unlocked it earlier with the passphrase (the CLI's session agent): no
   * Argon2id. A key that is not this profile's cannot open the index and is
   * refused with WRONG_PASSPHRASE.
   */
  static async unlockWithKey(crypto: Crypto, storage: KeyValueStorage, storageKey: Uint8Array): Promise<Vault> {
    if (!(await Vault.exists(storage))) throw new HandoverError('KEYSTORE_CORRUPT', 'no profile here: create one first');
    if (storageKey.length !== SIZES.aeadKey) throw new HandoverError('WRONG_PASSPHRASE', 'this storage key does not open this profile');
    const vault = new Vault(crypto, storage, storageKey.slice());
    // Another key names the index differently, so it finds none: that is a wrong key, not a damaged profile.
    if ((await storage.get(vault.storageName(INDEX_NAME))) === undefined) {
      vault.lock();
      throw new HandoverError('WRONG_PASSPHRASE', 'this storage key does not open this profile');
    }
    try {
      await vault.loadIndex();
    } catch (err) {
      vault.lock();
      if (err instanceof HandoverError && err.code === 'DECRYPT_FAILED') throw new HandoverError('WRONG_PASSPHRASE', 'this storage key does not open this profile');
      throw err;
    }
    return vault;
  }

  /** A copy of the storage key, to hand to a session agent that keeps this profile unlocked for a while. The caller wipes it. */
  exportStorageKey(): Uint8Array {
    return this.storageKey.slice();
  }

  /** Unlock the vault in `storage`, or create one there if there is none yet. */
  static async openOrCreate(crypto: Crypto, storage: KeyValueStorage, passphrase: string, limits: PwhashLimits): Promise<Vault> {
    return (await Vault.exists(storage)) ? Vault.unlock(crypto, storage, passphrase) : Vault.create(crypto, storage, passphrase, limits);
  }

  /** Re-seal the storage key under a new passphrase (records stay as they are). */
  async changePassphrase(passphrase: string, limits: PwhashLimits): Promise<void> {
    await this.storage.put(KEYSTORE_RECORD, sealSecrets(this.crypto, { storageKey: toB64u(this.storageKey) }, passphrase, limits));
  }

  /** The opaque storage key of a record: nothing about the name can be read from it. */
  private storageName(name: string): string {
    return `r/${toB64u(this.crypto.hash(utf8(name), 32, this.nameKey))}`;
  }

  private checkOpen(): void {
    if (this.locked) throw new HandoverError('BAD_REQUEST', 'the profile is locked: unlock it with its passphrase');
  }

  private async write(name: string, value: unknown): Promise<void> {
    this.checkOpen();
    const nonce = this.crypto.random(SIZES.aeadNonce);
    const ct = this.crypto.aeadEncrypt(utf8(JSON.stringify(value)), utf8(RECORD_AD + name), nonce, this.storageKey);
    await this.storage.put(this.storageName(name), toB64u(concatBytes(nonce, ct)));
  }

  private async read(name: string): Promise<unknown> {
    this.checkOpen();
    const stored = await this.storage.get(this.storageName(name));
    if (stored === undefined) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = fromB64u(stored);
    } catch {
      throw new HandoverError('KEYSTORE_CORRUPT', 'a local record is damaged');
    }
    const plain = this.crypto.aeadDecrypt(bytes.subarray(SIZES.aeadNonce), utf8(RECORD_AD + name), bytes.subarray(0, SIZES.aeadNonce), this.storageKey);
    return JSON.parse(fromUtf8(plain));
  }

  private async loadIndex(): Promise<void> {
    const index = await this.read(INDEX_NAME);
    if (!Array.isArray(index) || !index.every((n): n is string => typeof n === 'string')) {
      throw new HandoverError('KEYSTORE_CORRUPT', 'the profile index is missing or damaged');
    }
    this.names = new Set(index);
  }

  private async saveIndex(): Promise<void> {
    await this.write(INDEX_NAME, [...this.names].sort());
  }

  async put(name: string, value: unknown): Promise<void> {
    // The record first, then the index: a crash in between leaves an unlisted record, never a listed missing one.
    await this.write(name, value);
    if (!this.names.has(name)) {
      this.names.add(name);
      await this.saveIndex();
    }
  }

  async get(name: string): Promise<unknown> {
    return this.names.has(name) ? this.read(name) : undefined;
  }

  async delete(name: string): Promise<void> {
    await this.storage.delete(this.storageName(name));
    if (this.names.delete(name)) await this.saveIndex();
  }

  /** Record names under `prefix`, sorted (from the decrypted index; nothing is listed in clear). */
  async list(prefix: string): Promise<string[]> {
    return [...this.names].filter((n) => n.startsWith(prefix)).sort();
  }

  lock(): void {
    this.locked = true;
    this.crypto.wipe(this.storageKey);
    this.crypto.wipe(this.nameKey);
    this.names.clear();
  }
}
