/**
 * The local vault on its own: records are encrypted and bound to their
 * names, names never reach the storage in clear (review finding 10), the
 * index survives a re-unlock, and tampering or a wrong passphrase is caught.
 */
import { PWHASH_TEST_ONLY, type Crypto } from '../../../shared/crypto/types';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { isHandoverError } from '../../../shared/errors';
import { MemoryStorage } from '../../../client/sdk/storage';
import { Vault } from '../../../client/sdk/vault';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

const PASS = 'correct horse battery staple';
const THREAD = 'Th1sIsAThreadIdAAAAAAA';

it('finding 10: record names and values never appear in the storage in clear', async () => {
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  await vault.put(`thread/${THREAD}`, { name: 'Aigerim Nurlanovna', at: 1796524294018 });
  await vault.put('messages/seen', { MsgIdMsgIdMsgIdMsgIdAA: 1796524294018 });
  const dump = storage.dump().join('\n');
  for (const secret of [THREAD, 'thread/', 'Aigerim', 'MsgIdMsgIdMsgIdMsgIdAA', '1796524294018', 'seen']) expect(dump).not.toContain(secret);
  // Keys are `keystore` plus opaque record keys.
  for (const key of await storage.keys('')) expect(key).toMatch(/^(keystore|r\/[A-Za-z0-9_-]{43})$/);
});

it('lists names from the encrypted index, also after locking and unlocking again', async () => {
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  await vault.put('thread/b', 2);
  await vault.put('thread/a', 1);
  await vault.put('other', 3);
  await vault.delete('other');
  const again = await Vault.unlock(crypto, storage, PASS);
  expect(await again.list('thread/')).toEqual(['thread/a', 'thread/b']);
  expect(await again.get('thread/a')).toBe(1);
  expect(await again.get('other')).toBeUndefined();
  // A deleted record leaves nothing behind: keystore, index and the two records.
  expect((await storage.keys('')).length).toBe(4);
});

it('a wrong passphrase is WRONG_PASSPHRASE; a missing profile is KEYSTORE_CORRUPT', async () => {
  const storage = new MemoryStorage();
  await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  const wrong = await Vault.unlock(crypto, storage, 'not the passphrase').catch((e: unknown) => e);
  expect(isHandoverError(wrong, 'WRONG_PASSPHRASE')).toBe(true);
  const none = await Vault.unlock(crypto, new MemoryStorage(), PASS).catch((e: unknown) => e);
  expect(isHandoverError(none, 'KEYSTORE_CORRUPT')).toBe(true);
});

it('records cannot be swapped or altered: each is bound to its name', async () => {
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  await vault.put('a', 'first');
  await vault.put('b', 'second');
  const keys = await storage.keys('r/');
  const values = await Promise.all(keys.map((k) => storage.get(k)));
  // Swap every pair of record values: nothing decrypts under another name.
  for (let i = 0; i < keys.length; i++) await storage.put(keys[i]!, values[(i + 1) % keys.length]!);
  const reopened = await Vault.unlock(crypto, storage, PASS).catch((e: unknown) => e);
  expect(isHandoverError(reopened) && ['DECRYPT_FAILED', 'KEYSTORE_CORRUPT'].includes(reopened.code)).toBe(true);
});

it('the storage key re-sealed under a new passphrase opens with it, not with the old one', async () => {
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  await vault.put('x', 'kept');
  await vault.changePassphrase('a completely new passphrase', PWHASH_TEST_ONLY);
  expect(await (await Vault.unlock(crypto, storage, 'a completely new passphrase')).get('x')).toBe('kept');
  expect(isHandoverError(await Vault.unlock(crypto, storage, PASS).catch((e: unknown) => e), 'WRONG_PASSPHRASE')).toBe(true);
});
