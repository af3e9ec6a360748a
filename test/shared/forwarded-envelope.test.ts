/**
 * Opening a forwarded envelope with its revealed content key (history
 * sharing, PROTOCOL.md §4.10): the original author's signature and the
 * ciphertext hash still decide; the forwarder cannot change a byte, and a
 * wrong key opens nothing. The key the sender and each recipient keep is
 * the one that opens it.
 */
import { loadCrypto } from '../../shared/crypto/sodium';
import type { Crypto } from '../../shared/crypto/types';
import { fromUtf8, toB64u, utf8 } from '../../shared/encoding';
import { openEnvelope, openWithContentKey, sealEnvelope } from '../../shared/envelope';
import { isHandoverError } from '../../shared/errors';
import type { SealedEnvelope } from '../../shared/schemas';
import { DAY, T0, TestNetwork } from '../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

function setup() {
  const net = new TestNetwork(crypto);
  const sender = net.addDevice(net.addOrg('ngo-taraz'), 'dana');
  const recipient = net.addDevice(net.addOrg('shelter-ist', 'shelter'), 'amina');
  const body = utf8(JSON.stringify({ name: 'Aigerim' }));
  const sealed = sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients: [net.recipientKeys(recipient)], threadId: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: T0, body, keepContentKey: true });
  return { net, sender, recipient, sealed, body };
}

test('the key kept by the sender and the key a recipient gets on opening both open the forwarded envelope', () => {
  const { net, sender, recipient, sealed, body } = setup();
  expect(sealed.contentKey).toHaveLength(32);
  const opened = openEnvelope(crypto, { envelope: sealed, recipient: recipient.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY });
  expect(toB64u(opened.contentKey)).toBe(toB64u(sealed.contentKey!));
  const forwarded = openWithContentKey(crypto, { envelope: sealed, contentKey: opened.contentKey, senderSignPublicKey: sender.keys.sign.publicKey });
  expect(fromUtf8(forwarded.body)).toBe(fromUtf8(body));
});

test('without keepContentKey the sender keeps no key', () => {
  const net = new TestNetwork(crypto);
  const sender = net.addDevice(net.addOrg('ngo-taraz'), 'dana');
  const recipient = net.addDevice(net.addOrg('shelter-ist', 'shelter'), 'amina');
  const sealed = sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients: [net.recipientKeys(recipient)], threadId: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: T0, body: utf8('x') });
  expect('contentKey' in sealed).toBe(false);
});

describe('a forwarder that alters anything is refused', () => {
  const cases: Array<[string, (e: SealedEnvelope, k: Uint8Array) => { envelope: SealedEnvelope; key: Uint8Array; signer?: 'other' }, string]> = [
    ['the header (thread id)', (e, k) => ({ envelope: { ...e, header: { ...e.header, threadId: 'BAAAAAAAAAAAAAAAAAAAAA' } }, key: k }), 'BAD_SIGNATURE'],
    ['the header (sent at)', (e, k) => ({ envelope: { ...e, header: { ...e.header, sentAt: e.header.sentAt - 1 } }, key: k }), 'BAD_SIGNATURE'],
    ['a ciphertext byte', (e, k) => {
      const ciphertext = e.ciphertext.slice();
      ciphertext[5] = (ciphertext[5] ?? 0) ^ 1;
      return { envelope: { ...e, ciphertext }, key: k };
    }, 'BAD_SIGNATURE'],
    ['the content key (one bit)', (e, k) => {
      const key = k.slice();
      key[0] = (key[0] ?? 0) ^ 1;
      return { envelope: e, key };
    }, 'DECRYPT_FAILED'],
    ['a content key of the wrong length', (e, k) => ({ envelope: e, key: k.subarray(0, 16) }), 'DECRYPT_FAILED'],
    ['the signature (claims another author)', (e, k) => ({ envelope: e, key: k, signer: 'other' }), 'BAD_SIGNATURE'],
  ];
  test.each(cases)('%s', (_what, mutate, expected) => {
    const { net, sender, sealed } = setup();
    const { envelope, key, signer } = mutate(sealed, sealed.contentKey!);
    const other = net.addDevice(net.addOrg('ngo-evil'), 'mallory');
    const signerKey = signer === 'other' ? other.keys.sign.publicKey : sender.keys.sign.publicKey;
    expect(code(() => openWithContentKey(crypto, { envelope, contentKey: key, senderSignPublicKey: signerKey }))).toBe(expected);
  });
});
