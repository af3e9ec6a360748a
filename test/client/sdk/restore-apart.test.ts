/**
 * A backup opened apart (the web app opens it and seals the new keystore in
 * a Web Worker): what readBackup opened and what Vault.sealNewKeystore
 * sealed, handed over as plain data, restore like the backup's text and the
 * passphrase; a backup found unfit writes no vault.
 */
import { HandoverClient } from '../../../client/sdk/client';
import { readBackup, sealBackup } from '../../../client/sdk/backup';
import { MemoryStorage } from '../../../client/sdk/storage';
import { Vault } from '../../../client/sdk/vault';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { toB64u } from '../../../shared/encoding';

it('restores from contents opened and a keystore sealed elsewhere, and writes nothing for an unfit backup', async () => {
  const crypto = await loadCrypto();
  const root = crypto.signKeyPair();
  const { client } = await HandoverClient.createProfile({
    crypto,
    storage: new MemoryStorage(),
    passphrase: 'the profile passphrase',
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: 'shelter-ist',
    deviceId: 'shelter-ist:bora',
    label: 'Bora',
    rootPublicKey: toB64u(root.publicKey),
    serverUrl: 'http://127.0.0.1:1',
  });
  await client.putRecord('web/unread', { t1: 2 });
  const { text } = sealBackup(crypto, await client.backupContents(), 'a separate recovery passphrase', PWHASH_TEST_ONLY);
  expect(() => readBackup(crypto, text, 'not the recovery passphrase')).toThrow(expect.objectContaining({ code: 'WRONG_PASSPHRASE' }));

  // What a worker would post back: a structured clone of each.
  const contents = structuredClone(readBackup(crypto, text, 'a separate recovery passphrase'));
  const sealedKeystore = structuredClone(Vault.sealNewKeystore(crypto, 'a new profile passphrase', PWHASH_TEST_ONLY));

  // The backed-up device's own id is refused before any vault is written.
  const refused = new MemoryStorage();
  await expect(HandoverClient.restoreProfile({ crypto, storage: refused, sealedKeystore, contents, deviceId: 'bora' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  expect(await Vault.exists(refused)).toBe(false);
  // Contents that are not a backup's are refused too.
  await expect(HandoverClient.restoreProfile({ crypto, storage: new MemoryStorage(), sealedKeystore, contents: { ...contents, v: 2 } as unknown as typeof contents, deviceId: 'x' })).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT' });

  const storage = new MemoryStorage();
  const { client: restored } = await HandoverClient.restoreProfile({ crypto, storage, sealedKeystore, contents, deviceId: 'bora-laptop-2' });
  expect(restored.deviceId).toBe('shelter-ist:bora-laptop-2');
  expect(await restored.getRecord('web/unread')).toEqual({ t1: 2 });
  // The new passphrase opens it, like any profile.
  await restored.close();
  const reopened = await HandoverClient.open({ crypto, storage, passphrase: 'a new profile passphrase' });
  expect(reopened.deviceId).toBe('shelter-ist:bora-laptop-2');
  await reopened.close();
});

it('keeps no passphrase, backup or storage key among the options a client holds', async () => {
  const crypto = await loadCrypto();
  const root = crypto.signKeyPair();
  const storage = new MemoryStorage();
  const { client } = await HandoverClient.createProfile({
    crypto,
    storage,
    passphrase: 'the profile passphrase',
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: 'shelter-ist',
    deviceId: 'shelter-ist:bora',
    label: 'Bora',
    rootPublicKey: toB64u(root.publicKey),
    serverUrl: 'http://127.0.0.1:1',
  });
  const { text } = sealBackup(crypto, await client.backupContents(), 'a separate recovery passphrase', PWHASH_TEST_ONLY);
  await client.close();
  const opened = await HandoverClient.open({ crypto, storage, passphrase: 'the profile passphrase' });
  const { client: restored } = await HandoverClient.restoreProfile({
    crypto,
    storage: new MemoryStorage(),
    passphrase: 'a new profile passphrase',
    pwhashLimits: PWHASH_TEST_ONLY,
    backup: text,
    recoveryPassphrase: 'a separate recovery passphrase',
    deviceId: 'bora-2',
  });
  const contents = readBackup(crypto, text, 'a separate recovery passphrase');
  const { client: apart } = await HandoverClient.restoreProfile({
    crypto,
    storage: new MemoryStorage(),
    sealedKeystore: Vault.sealNewKeystore(crypto, 'a third passphrase', PWHASH_TEST_ONLY),
    contents,
    deviceId: 'bora-3',
  });
  for (const c of [client, opened, restored, apart]) {
    const kept = (c as unknown as { options: Record<string, unknown> }).options;
    expect(Object.keys(kept).sort()).toEqual(expect.arrayContaining(['crypto', 'storage']));
    for (const secret of ['passphrase', 'backup', 'recoveryPassphrase', 'contents', 'sealedKeystore', 'vault']) expect(kept).not.toHaveProperty(secret);
  }
  for (const c of [opened, restored, apart]) await c.close();
});
