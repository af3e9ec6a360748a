/**
 * Where a client keeps its (already encrypted) records: a tiny key-value
 * interface so the SDK runs unchanged over files (Node CLI), IndexedDB
 * (browser) or memory (tests). Values are strings; the vault encrypts them.
 */
export interface KeyValueStorage {
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys that start with `prefix`, in lexicographic order. */
  keys(prefix: string): Promise<string[]>;
}

export class MemoryStorage implements KeyValueStorage {
  private readonly data = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async put(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  /** Test helper: every stored value, to check nothing is kept in clear. */
  dump(): string[] {
    return [...this.data.entries()].map(([k, v]) => `${k}=${v}`);
  }
}
