/**
 * A backup sealed apart (the web app seals it in a Web Worker): what
 * backupContents gathers, sealed by sealBackup, is a backup restoreProfile
 * takes like any other; it never holds the device's keys.
 */
import { HandoverClient } from '../../../client/sdk/client';
import { sealBackup } from '../../../client/sdk/backup';
import { MemoryStorage } from '../../../client/sdk/storage';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { toB64u } from '../../../shared/encoding';

it('seals what backupContents gathers into a backup that restores as a new device', async () => {
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
  const contents = await client.backupContents();
  expect(contents.fromDeviceId).toBe('shelter-ist:bora');
  expect(contents.records.map(([name]) => name)).not.toContain('device-keys');
  // Handed to a worker and back: plain data survives a structured clone.
  const { text, summary } = sealBackup(crypto, structuredClone(contents), 'a separate recovery passphrase', PWHASH_TEST_ONLY);
  expect(summary.records).toBe(contents.records.length);
  expect(text).not.toContain('shelter-ist:bora');
  const { client: restored } = await HandoverClient.restoreProfile({
    crypto,
    storage: new MemoryStorage(),
    passphrase: 'a new profile passphrase',
    pwhashLimits: PWHASH_TEST_ONLY,
    backup: text,
    recoveryPassphrase: 'a separate recovery passphrase',
    deviceId: 'bora-laptop-2',
  });
  expect(restored.deviceId).toBe('shelter-ist:bora-laptop-2');
  expect(await restored.getRecord('web/unread')).toEqual({ t1: 2 });
  expect(() => sealBackup(crypto, { ...contents, v: 2 } as unknown as typeof contents, 'a separate recovery passphrase', PWHASH_TEST_ONLY)).toThrow();
});
