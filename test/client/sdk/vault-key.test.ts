/**
 * Opening a vault from its storage key (issue 15: the CLI's session agent
 * keeps the key so staff do not pay Argon2id on every command): the key
 * opens exactly its own profile, a copy handed out does not weaken the
 * vault's own (wiping the copy leaves the vault working), and any other key
 * is refused as WRONG_PASSPHRASE without touching the records.
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

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isHandoverError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

it('the exported storage key opens the same records without the passphrase, and wiping the copy leaves the vault working', async () => {
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, PASS, PWHASH_TEST_ONLY);
  await vault.put('thread/a', { n: 1 });
  const key = vault.exportStorageKey();
  const again = await Vault.unlockWithKey(crypto, storage, key);
  expect(await again.get('thread/a')).toEqual({ n: 1 });
  expect(await again.list('thread/')).toEqual(['thread/a']);
  key.fill(0);
  await again.put('thread/b', { n: 2 });
  expect(await vault.get('thread/a')).toEqual({ n: 1 });
  expect(await (await Vault.unlock(crypto, storage, PASS)).get('thread/b')).toEqual({ n: 2 });
});

it("another profile's key, a short key and a missing profile are refused", async () => {
  const mine = new MemoryStorage();
  const other = new MemoryStorage();
  await Vault.create(crypto, mine, PASS, PWHASH_TEST_ONLY);
  const otherKey = (await Vault.create(crypto, other, PASS, PWHASH_TEST_ONLY)).exportStorageKey();
  expect(await code(Vault.unlockWithKey(crypto, mine, otherKey))).toBe('WRONG_PASSPHRASE');
  expect(await code(Vault.unlockWithKey(crypto, mine, otherKey.subarray(0, 16)))).toBe('WRONG_PASSPHRASE');
  expect(await code(Vault.unlockWithKey(crypto, new MemoryStorage(), otherKey))).toBe('KEYSTORE_CORRUPT');
  // The refused attempt changed nothing: the profile still opens with its passphrase.
  expect(await (await Vault.unlock(crypto, mine, PASS)).list('')).toEqual([]);
});
