/**
 * Node storage for a CLI profile: one file per record in a private folder
 * (mode 0700, files 0600), written atomically via rename so a crash never
 * leaves half a record. Record values are already encrypted by the vault.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { KeyValueStorage } from './storage';

/** Record names can hold '/', so they are hex-encoded into file names. */
function fileName(key: string): string {
  return Buffer.from(key, 'utf8').toString('hex');
}
function keyName(file: string): string {
  return Buffer.from(file, 'hex').toString('utf8');
}

let tempCounter = 0;

export class FileStorage implements KeyValueStorage {
  constructor(readonly dir: string) {}

  async init(): Promise<this> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fs.chmod(this.dir, 0o700);
    return this;
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return await fs.readFile(path.join(this.dir, fileName(key)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(key: string, value: string): Promise<void> {
    const target = path.join(this.dir, fileName(key));
    // A temp name of its own per write: two writes of one record at once must not clash.
    const tmp = `${target}.${process.pid}.${++tempCounter}.tmp`;
    await fs.writeFile(tmp, value, { mode: 0o600 });
    await fs.rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    await fs.rm(path.join(this.dir, fileName(key)), { force: true });
  }

  async keys(prefix: string): Promise<string[]> {
    let files: string[];
    try {
      files = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    return files
      .filter((f) => /^[0-9a-f]+$/.test(f))
      .map(keyName)
      .filter((k) => k.startsWith(prefix))
      .sort();
  }
}
