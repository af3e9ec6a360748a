/**
 * The web app's set-up seals the new keystore apart (Argon2id in a Web
 * Worker): the SDK's two halves of `Vault.create` — seal a new storage key,
 * then make the vault from it — give a vault the passphrase opens, and a
 * client created on it, as `createProfile` with a passphrase would.
 */
import { HandoverClient, MemoryStorage, PWHASH_TEST_ONLY, Vault } from '../../../client/sdk';
import { loadCrypto } from '../../../shared/crypto/sodium';

it('makes a vault from a keystore sealed apart, that the passphrase then opens', async () => {
  const crypto = await loadCrypto();
  const storage = new MemoryStorage();
  const { sealed, storageKey } = Vault.sealNewKeystore(crypto, 'a long browser passphrase', PWHASH_TEST_ONLY);
  expect(JSON.parse(sealed)).toMatchObject({ format: 'handover-keystore', kdf: { alg: 'argon2id13', opsLimit: PWHASH_TEST_ONLY.opsLimit } });
  const vault = await Vault.createSealed(crypto, storage, sealed, storageKey);
  const { client } = await HandoverClient.createProfile({
    crypto,
    storage,
    vault,
    orgId: 'ngo-taraz',
    deviceId: 'ngo-taraz:desk',
    label: 'Desk',
    rootPublicKey: 'AAAA',
    serverUrl: 'http://127.0.0.1:1',
  });
  expect(client.deviceId).toBe('ngo-taraz:desk');
  await client.lock();
  // The passphrase opens it as any vault, and finds the device.
  const opened = await HandoverClient.open({ crypto, storage, passphrase: 'a long browser passphrase' });
  expect(opened.deviceId).toBe('ngo-taraz:desk');
  await opened.lock();
  await expect(Vault.createSealed(crypto, storage, sealed, storageKey)).rejects.toThrow(/already exists/);
  await expect(HandoverClient.open({ crypto, storage, passphrase: 'not the passphrase' })).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
});
