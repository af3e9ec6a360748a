/**
 * What a locked profile folder gives away (review finding 10): after real
 * messages arrived through a real relay, no file name and no file content
 * holds a thread id, a message id, an exact time or a name; a consent purge
 * leaves no per-message trace (not even the processed-id marks).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCrypto } from '../../shared/crypto/sodium';
import { FileStorage } from '../../client/sdk/file-storage';
import type { HandoverClient } from '../../client/sdk/client';
import { Vault } from '../../client/sdk/vault';
import { TestNetwork } from '../support/network';
import { enrolClient, eventually, type RelayFixture, startTestRelay } from '../support/relay';

const THREAD = 'ProfileAtRestThreadAAA';
let fx: RelayFixture;
let dir: string;
const clients: HandoverClient[] = [];

beforeAll(async () => {
  fx = await startTestRelay(new TestNetwork(await loadCrypto(), Date.now()), { logLevel: 'silent' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'handover-profile-'));
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await fx.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function folderText(): Promise<{ names: string[]; contents: string }> {
  const names = await fs.readdir(dir);
  const contents = (await Promise.all(names.map((n) => fs.readFile(path.join(dir, n), 'utf8')))).join('\n');
  return { names, contents };
}

it('finding 10: a locked profile shows no thread id, message id, time or name, and a purge leaves no per-message trace', async () => {
  const network = fx.network;
  const storage = await new FileStorage(dir).init();
  const shelter = await enrolClient(fx, network.addOrg('rest-shelter', 'shelter'), 'amina', { storage: storage as never });
  const ngo = await enrolClient(fx, network.addOrg('rest-ngo', 'ngo'), 'dana');
  clients.push(shelter, ngo);
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push(await ngo.send({ threadId: THREAD, orgIds: ['rest-shelter'], payload: { name: 'Aigerim Nurlanovna', i } }));
  await eventually(async () => (await shelter.threadMessages(THREAD)).length === 3, 10_000, 'deliveries');

  const before = await folderText();
  const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');
  for (const secret of [THREAD, ...sent.map((m) => m.messageId), ...sent.map((m) => String(m.sentAt)), 'Aigerim', 'rest-ngo']) {
    expect(before.names.join(' ')).not.toContain(secret);
    expect(before.names.join(' ')).not.toContain(hex(secret));
    expect(before.contents).not.toContain(secret);
  }

  expect(await shelter.purgeThread(THREAD)).toBe(3);
  const after = await folderText();
  // The thread's record and its one chunk of originals are gone, and nothing was added in their place.
  expect(after.names.length).toBe(before.names.length - 2);
  expect(after.names.every((n) => before.names.includes(n))).toBe(true);
  expect(await shelter.threadIds()).toEqual([]);
  // Nothing left in the profile names the purged messages (read back with the passphrase).
  const vault = await Vault.unlock(fx.crypto, storage, 'correct horse battery staple');
  const everything = JSON.stringify(await Promise.all((await vault.list('')).map((name) => vault.get(name))));
  for (const m of sent) expect(everything).not.toContain(m.messageId);
});
