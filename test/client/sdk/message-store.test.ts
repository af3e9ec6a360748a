/**
 * The message store keeps each message's original envelope (for history
 * sharing) apart from the thread record that every arriving message
 * rewrites: a long thread must not make each arrival decrypt and
 * re-encrypt every earlier envelope (the connection-cuts reliability run
 * stalled on exactly that). Forwarding still finds every original, old
 * profiles with inline originals keep working, and a purge leaves nothing.
 */
import { PWHASH_TEST_ONLY, type Crypto } from '../../../shared/crypto/types';
import { loadCrypto } from '../../../shared/crypto/sodium';
import { MemoryStorage } from '../../../client/sdk/storage';
import { Vault } from '../../../client/sdk/vault';
import { MessageStore } from '../../../client/sdk/message-store';
import type { OriginalEnvelope, StoredMessage } from '../../../client/sdk/messages';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

const THREAD = 'Th1sIsAThreadIdAAAAAAA';

function original(n: number): OriginalEnvelope {
  // Only its identity matters to the store; the shape is what the SDK keeps.
  return { signature: `sig-${n}`, ciphertext: 'x'.repeat(2000), contentKey: `key-${n}` } as unknown as OriginalEnvelope;
}

function message(n: number, withOriginal = true): StoredMessage {
  return {
    messageId: `msg-${String(n).padStart(4, '0')}`,
    threadId: THREAD,
    orgIds: ['ngo-a', 'shelter-b'],
    senderDeviceId: 'ngo-a:laptop',
    senderOrgId: 'ngo-a',
    recipientDeviceIds: ['shelter-b:desk'],
    sentAt: 1_800_000_000_000 + n,
    receivedAt: 1_800_000_000_000 + n,
    direction: 'in',
    payload: { n },
    ...(withOriginal ? { original: original(n) } : {}),
  };
}

async function store(): Promise<{ vault: Vault; messages: MessageStore }> {
  const vault = await Vault.create(crypto, new MemoryStorage(), 'pass', PWHASH_TEST_ONLY);
  return { vault, messages: new MessageStore(vault) };
}

it('keeps originals out of the thread record, in chunks, and gives them back for forwarding', async () => {
  const { vault, messages } = await store();
  for (let n = 0; n < 20; n++) await messages.add(message(n));
  await messages.addAll([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33].map((n) => message(n)));
  expect(await messages.add(message(34, false))).toBe(true);
  expect(await messages.add(message(3))).toBe(false); // a redelivery changes nothing

  const record = JSON.stringify(await vault.get(`thread/${THREAD}`));
  expect(record).not.toContain('sig-');
  expect(record).not.toContain('xxxx');
  expect(await vault.list(`originals/${THREAD}/`)).toHaveLength(3); // 34 originals in chunks of 16

  const plain = await messages.threadMessages(THREAD);
  expect(plain).toHaveLength(35);
  expect(plain.every((m) => m.original === undefined)).toBe(true);
  const full = await messages.threadMessagesWithOriginals(THREAD);
  expect(full.map((m) => m.original?.signature)).toEqual([...Array.from({ length: 34 }, (_, n) => `sig-${n}`), undefined]);
});

it('still finds originals kept inline by profiles from before', async () => {
  const { vault, messages } = await store();
  await vault.put(`thread/${THREAD}`, { v: 1, messages: [message(1)] });
  await messages.add(message(2));
  const full = await messages.threadMessagesWithOriginals(THREAD);
  expect(full.map((m) => m.original?.signature)).toEqual(['sig-1', 'sig-2']);
});

it('a purge deletes the thread and every chunk of its originals', async () => {
  const { vault, messages } = await store();
  for (let n = 0; n < 40; n++) await messages.add(message(n));
  expect(await messages.purgeThread(THREAD)).toBe(40);
  expect(await vault.list(`originals/`)).toEqual([]);
  expect(await vault.list(`thread/`)).toEqual([]);
  expect(await messages.threadMessagesWithOriginals(THREAD)).toEqual([]);
});
