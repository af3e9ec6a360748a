/**
 * Unread marks: counted per thread, cleared when seen, kept in the device's
 * encrypted records (a vault behind the SDK client: here a real one), so a
 * new session — after a reload or a lock — finds them; a damaged record is
 * read as no marks, never as a crash.
 */
import { Vault } from '../../../client/sdk/vault';
import { MemoryStorage } from '../../../client/sdk/storage';
import { UNREAD_RECORD, UnreadMarks, type RecordStore } from '../../../client/web/src/unread';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';

/** The SDK client's putRecord/getRecord, over a real vault. */
const recordsOf = (vault: Vault): RecordStore => ({
  getRecord: (name) => vault.get(`app/${name}`),
  putRecord: (name, value) => vault.put(`app/${name}`, value),
});

it('counts, clears, and survives a lock and unlock of the vault', async () => {
  const crypto = await loadCrypto();
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, 'a passphrase for the test', PWHASH_TEST_ONLY);
  const marks = await UnreadMarks.load(recordsOf(vault));
  marks.add('thread-a');
  marks.add('thread-a');
  marks.add('thread-b');
  marks.seen('thread-b');
  marks.add('thread-c', 3);
  marks.retain(['thread-a', 'thread-b']);
  expect([marks.count('thread-a'), marks.count('thread-b'), marks.count('thread-c')]).toEqual([2, 0, 0]);
  await marks.flush();
  vault.lock();
  // Nothing readable while locked: the storage holds no thread id in clear.
  expect(storage.dump().join('\n')).not.toContain('thread-a');
  const again = await UnreadMarks.load(recordsOf(await Vault.unlock(crypto, storage, 'a passphrase for the test')));
  expect(again.count('thread-a')).toBe(2);
  expect(again.count('thread-b')).toBe(0);
});

it('writes one change at a time, the newest state last', async () => {
  const written: unknown[] = [];
  let release: () => void = () => undefined;
  const store: RecordStore = {
    getRecord: async () => undefined,
    putRecord: (_name, value) =>
      new Promise<void>((resolve) => {
        written.push(value);
        release = resolve;
      }),
  };
  const marks = await UnreadMarks.load(store);
  marks.add('t');
  await Promise.resolve();
  await Promise.resolve();
  marks.add('t');
  marks.add('t');
  release();
  await new Promise((r) => setTimeout(r, 0));
  release();
  await marks.flush();
  expect(written).toEqual([{ t: 1 }, { t: 3 }]);
});

it('reads a damaged record as no marks, and reports a failed write at flush', async () => {
  const marks = await UnreadMarks.load({ getRecord: async () => ({ a: -1, b: 'x', c: 2.5, d: 4 }), putRecord: async () => Promise.reject(new Error('disk full')) });
  expect([marks.count('a'), marks.count('b'), marks.count('c'), marks.count('d')]).toEqual([0, 0, 0, 4]);
  marks.add('d');
  await expect(marks.flush()).rejects.toThrow('disk full');
  await expect(marks.flush()).resolves.toBeUndefined();
  expect((await UnreadMarks.load({ getRecord: async () => [1, 2], putRecord: async () => undefined })).count('0')).toBe(0);
  expect(UNREAD_RECORD).toBe('web/unread');
});
