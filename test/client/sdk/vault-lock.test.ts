/**
 * Locking a vault (the web app's lock, HandoverClient.lock): its keys are
 * wiped and it refuses to read or write; the passphrase opens the records
 * again, unharmed.
 */
import { Vault } from '../../../client/sdk/vault';
import { MemoryStorage } from '../../../client/sdk/storage';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';

it('a locked vault reads and writes nothing; unlocking again finds every record', async () => {
  const crypto = await loadCrypto();
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, 'a passphrase for the test', PWHASH_TEST_ONLY);
  await vault.put('thread/1', { caseCode: 'LOCK-1' });
  vault.lock();
  await expect(vault.get('thread/1')).resolves.toBeUndefined(); // the decrypted index is gone too
  await expect(vault.put('thread/2', { caseCode: 'LOCK-2' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/locked/) });
  expect(storage.dump().join('\n')).not.toContain('LOCK-');
  const again = await Vault.unlock(crypto, storage, 'a passphrase for the test');
  expect(await again.get('thread/1')).toEqual({ caseCode: 'LOCK-1' });
  expect(await again.list('thread/')).toEqual(['thread/1']);
});

it('opens a sealed keystore apart (as the web app does in a Web Worker): the key it finds unlocks the vault', async () => {
  const crypto = await loadCrypto();
  const storage = new MemoryStorage();
  const vault = await Vault.create(crypto, storage, 'the worker passphrase', PWHASH_TEST_ONLY);
  await vault.put('profile', { deviceId: 'ngo:dana' });
  const sealed = await Vault.sealedKeystore(storage);
  if (sealed === undefined) throw new Error('no keystore record');
  expect(() => Vault.storageKeyOf(crypto, sealed, 'not the passphrase')).toThrow(expect.objectContaining({ code: 'WRONG_PASSPHRASE' }));
  const key = Vault.storageKeyOf(crypto, sealed, 'the worker passphrase');
  const opened = await Vault.unlockWithKey(crypto, storage, key);
  expect(await opened.get('profile')).toEqual({ deviceId: 'ngo:dana' });
  expect(await Vault.sealedKeystore(new MemoryStorage())).toBeUndefined();
});
