/**
 * The SDK's KeyValueStorage over IndexedDB, for the browser. Like the file
 * storage of the CLI it holds only what the vault already encrypted: the
 * keystore record (sealed by the passphrase with Argon2id) and opaque
 * `r/<hash>` records. One database per browser profile and origin.
 */
import type { KeyValueStorage } from '../../sdk/index';

const STORE = 'records';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

export class IndexedDbStorage implements KeyValueStorage {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(name = 'handover'): Promise<IndexedDbStorage> {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
    };
    return new IndexedDbStorage(await request(open));
  }

  private async run<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const tx = this.db.transaction(STORE, mode);
    const result = await request(work(tx.objectStore(STORE)));
    if (mode === 'readwrite') {
      // The write is durable once its transaction completes, not when its request succeeds.
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
        tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
      });
    }
    return result;
  }

  async get(key: string): Promise<string | undefined> {
    const value: unknown = await this.run('readonly', (s) => s.get(key));
    return typeof value === 'string' ? value : undefined;
  }

  async put(key: string, value: string): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }

  async keys(prefix: string): Promise<string[]> {
    // Every key from `prefix` up to the next string after all that start with it.
    const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, false);
    const keys = await this.run('readonly', (s) => s.getAllKeys(range));
    return keys.filter((k): k is string => typeof k === 'string' && k.startsWith(prefix)).sort();
  }

  /** Forget this browser's profile entirely. */
  async clear(): Promise<void> {
    await this.run('readwrite', (s) => s.clear());
  }

  close(): void {
    this.db.close();
  }
}
