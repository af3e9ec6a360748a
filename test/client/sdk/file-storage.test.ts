/**
 * FileStorage on its own, on a real folder: a CLI profile is private
 * (folder 0700, files 0600, also when a record is replaced), a record is
 * replaced whole or not at all (written aside, then renamed), record names
 * never become paths, and `keys` lists only records.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStorage } from '../../../client/sdk/file-storage';

let base: string;
beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), 'handover-file-storage-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;
const hex = (name: string) => Buffer.from(name, 'utf8').toString('hex');

describe('privacy', () => {
  it('init creates the profile folder (and its parents) readable by the user only', async () => {
    const dir = path.join(base, 'nested', 'profile');
    await new FileStorage(dir).init();
    expect(await mode(dir)).toBe(0o700);
  });

  it('init tightens an existing folder that others could read', async () => {
    const dir = path.join(base, 'profile');
    await fs.mkdir(dir, { mode: 0o755 });
    await fs.chmod(dir, 0o755);
    await new FileStorage(dir).init();
    expect(await mode(dir)).toBe(0o700);
  });

  it('records are files readable by the user only, also when one that was opened up is replaced', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await storage.put('keystore', 'sealed');
    const file = path.join(storage.dir, hex('keystore'));
    expect(await mode(file)).toBe(0o600);
    await fs.chmod(file, 0o644);
    await storage.put('keystore', 'sealed again');
    expect(await mode(file)).toBe(0o600);
  });
});

describe('records', () => {
  it('concurrent writes of one record all land (each write has its own temp file) and the last one stands', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await Promise.all(Array.from({ length: 20 }, (_, i) => storage.put('index', `v${i}`)));
    expect(['v' + String(19), ...Array.from({ length: 19 }, (_, i) => `v${i}`)]).toContain(await storage.get('index'));
    expect((await fs.readdir(path.join(base, 'p'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('get returns what put stored; a missing record is undefined', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    expect(await storage.get('r/abc')).toBeUndefined();
    await storage.put('r/abc', 'value one');
    await storage.put('r/abc', 'two');
    expect(await storage.get('r/abc')).toBe('two');
  });

  it('a read error other than a missing file is raised, not taken for a missing record', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await fs.mkdir(path.join(storage.dir, hex('r/dir')));
    await expect(storage.get('r/dir')).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('record names never become paths: "/" and ".." stay inside the profile folder', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await storage.put('../../escaped', 'x');
    await storage.put('a/b/c', 'y');
    expect((await fs.readdir(base)).sort()).toEqual(['p']);
    expect((await fs.readdir(storage.dir)).sort()).toEqual([hex('../../escaped'), hex('a/b/c')].sort());
    expect(await storage.get('a/b/c')).toBe('y');
  });

  it('delete removes a record; deleting one that is not there is not an error', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await storage.put('r/a', '1');
    await storage.delete('r/a');
    await storage.delete('r/never');
    expect(await storage.get('r/a')).toBeUndefined();
    expect(await fs.readdir(storage.dir)).toEqual([]);
  });

  it('keys lists record names under a prefix, sorted, and skips files that are not records', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    for (const name of ['r/b', 'r/a', 'keystore', 'r/ünïcode', 'rx']) await storage.put(name, 'v');
    await fs.writeFile(path.join(storage.dir, `${hex('r/c')}.1234.tmp`), 'left by a crash');
    await fs.writeFile(path.join(storage.dir, '.DS_Store'), '');
    expect(await storage.keys('r/')).toEqual(['r/a', 'r/b', 'r/ünïcode']);
    expect(await storage.keys('')).toEqual(['keystore', 'r/a', 'r/b', 'r/ünïcode', 'rx']);
  });

  it('keys of a folder that does not exist yet is empty', async () => {
    expect(await new FileStorage(path.join(base, 'not-made')).keys('')).toEqual([]);
  });
});

describe('atomic replacement', () => {
  it('a put leaves no temporary file behind', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    await storage.put('r/a', 'first');
    await storage.put('r/a', 'second');
    expect(await fs.readdir(storage.dir)).toEqual([hex('r/a')]);
  });

  it('a reader never sees a record half-written while it is being replaced', async () => {
    const storage = await new FileStorage(path.join(base, 'p')).init();
    const versions = ['A', 'B'].map((c) => c.repeat(2 * 1024 * 1024));
    await storage.put('r/big', versions[0]!);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 30; i++) await storage.put('r/big', versions[i % 2]!);
      writing = false;
    })();
    const torn: number[] = [];
    while (writing) {
      const seen = await storage.get('r/big');
      if (seen !== versions[0] && seen !== versions[1]) torn.push(seen?.length ?? -1);
    }
    await writer;
    expect(torn).toEqual([]);
  });
});
