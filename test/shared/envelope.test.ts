import { PWHASH_TEST_ONLY, SIZES, type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { type DeviceKeys, generateOneTimePrekeys } from '../../shared/device-keys';
import { MAX_CLOCK_SKEW_MS, type OpenInput, envelopeSigningInput, openEnvelope, sealEnvelope } from '../../shared/envelope';
import { fromB64u, fromUtf8, toB64u, toHex, utf8 } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson, openSecrets, sealSecrets } from '../../shared/keystore';
import { MAX_BODY_BYTES, bucketFor } from '../../shared/padding';
import type { SealedEnvelope } from '../../shared/schemas';
import { DAY, T0, type TestDevice, TestNetwork } from '../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    if (isHandoverError(err) && err.code === code) return;
    throw new Error(`expected ${code}, got ${String(err)}`);
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

describe('envelope round trip', () => {
  test.each([1, 2, 20, 200])('%i recipient devices can all open; a non-recipient cannot', (n) => {
    const net = new TestNetwork(crypto);
    const ngo = net.addOrg('ngo-taraz');
    const shelter = net.addOrg('shelter-ist', 'shelter');
    const sender = net.addDevice(ngo, 'ngo-taraz:ngo-dev-1');
    const recipients = Array.from({ length: n }, (_, i) => net.addDevice(shelter, `sh-dev-${i}`, { oneTimePrekeys: i % 2 }));
    const outsider = net.addDevice(shelter, 'shelter-ist:sh-outsider');
    const body = utf8(JSON.stringify({ hello: 'world', n }));
    const envelope = sealEnvelope(crypto, {
      sender: net.senderKeys(sender),
      recipients: recipients.map((d) => net.recipientKeys(d)),
      threadId: 'AAAAAAAAAAAAAAAAAAAAAA',
      sentAt: T0,
      body,
    });
    for (const r of recipients) {
      const opened = openEnvelope(crypto, { envelope, recipient: r.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY });
      expect(fromUtf8(opened.body)).toBe(fromUtf8(body));
    }
    expectCode(
      () => openEnvelope(crypto, { envelope, recipient: outsider.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY }),
      'NOT_RECIPIENT',
    );
  });
});

/** The error code `fn` throws, or a marker that makes a failing expectation readable. */
function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

/** A sender and one recipient device; `oneTimePrekeys` decides whether the bundle carries one. */
function pair(oneTimePrekeys: number) {
  const net = new TestNetwork(crypto);
  const sender = net.addDevice(net.addOrg('ngo-taraz'), 'ngo-taraz:ngo-dev-1', { oneTimePrekeys: 0 });
  const recipient = net.addDevice(net.addOrg('shelter-ist', 'shelter'), 'sh-dev-1', { oneTimePrekeys });
  const seal = (body: Uint8Array, sentAt = T0): SealedEnvelope =>
    sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients: [net.recipientKeys(recipient)], threadId: THREAD, sentAt, body });
  const open = (envelope: SealedEnvelope, keys: DeviceKeys, extra: Partial<OpenInput> = {}) =>
    openEnvelope(crypto, { envelope, recipient: keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: MAX_AGE, ...extra });
  return { net, sender, recipient, seal, open };
}

function copyKeys(keys: DeviceKeys): DeviceKeys {
  return deviceKeysFromJson(deviceKeysToJson(keys));
}

const THREAD = toB64u(new Uint8Array(16).fill(9));
const MAX_AGE = 30 * DAY;
const BODY = utf8(JSON.stringify({ type: 'referral', note: 'test body, no real data' }));

describe('sealing', () => {
  test.each([0, 1, 1023, 1024, 5000, 65535, 65536, 70 * 1024])('a %i-byte body travels in its size bucket and comes back exactly', (size) => {
    const { recipient, seal, open } = pair(0);
    // Not crypto.random: libsodium-wrappers draws randomness 4 bytes at a time (~400 ms for 64 KiB).
    const body = Uint8Array.from({ length: size }, (_, i) => (i * 131 + 7) & 0xff);
    const envelope = seal(body);
    expect(envelope.ciphertext.length).toBe(bucketFor(size) + SIZES.aeadTag);
    expect(envelope.header.ciphertextLength).toBe(envelope.ciphertext.length);
    // Compared as hex: jest's element-wise equality is slow on 70 KiB arrays.
    expect(toHex(open(envelope, recipient.keys).body)).toBe(toHex(body));
  });

  test('every seal draws fresh randomness: message id, ephemeral key, body nonce, ciphertext', () => {
    const { seal } = pair(0);
    const a = seal(BODY);
    const b = seal(BODY);
    expect(a.header.messageId).not.toBe(b.header.messageId);
    expect(a.header.ephemeralKey).not.toBe(b.header.ephemeralKey);
    expect(a.header.bodyNonce).not.toBe(b.header.bodyNonce);
    expect(a.header.recipients[0]?.wrappedKey).not.toBe(b.header.recipients[0]?.wrappedKey);
    expect(a.ciphertext).not.toEqual(b.ciphertext);
  });

  test('a given message id (a retry) is kept; the header names the prekeys used', () => {
    const { net, sender, recipient } = pair(1);
    const messageId = toB64u(new Uint8Array(16).fill(1));
    const envelope = sealEnvelope(crypto, {
      sender: net.senderKeys(sender),
      recipients: [net.recipientKeys(recipient)],
      threadId: THREAD,
      sentAt: T0,
      body: BODY,
      messageId,
    });
    expect(envelope.header.messageId).toBe(messageId);
    expect(envelope.header.recipients).toEqual([
      expect.objectContaining({ deviceId: recipient.keys.deviceId, signedPrekeyId: 1, pqPrekeyId: 2, oneTimePrekeyId: 3 }),
    ]);
  });

  test('the public parts never contain the body', () => {
    const { seal } = pair(0);
    const secret = 'Survivor-name-Placeholder-1234';
    const envelope = seal(utf8(JSON.stringify({ name: secret })));
    expect(JSON.stringify(envelope.header)).not.toContain(secret);
    expect(Buffer.from(envelope.ciphertext).includes(Buffer.from(secret))).toBe(false);
  });

  test('refuses no recipients, a recipient listed twice, and an oversized body', () => {
    const { net, sender, recipient } = pair(2);
    const base = { sender: net.senderKeys(sender), threadId: THREAD, sentAt: T0, body: BODY };
    expect(thrownCode(() => sealEnvelope(crypto, { ...base, recipients: [] }))).toBe('BAD_REQUEST');
    const keys = net.recipientKeys(recipient);
    expect(thrownCode(() => sealEnvelope(crypto, { ...base, recipients: [keys, keys] }))).toBe('BAD_REQUEST');
    expect(thrownCode(() => sealEnvelope(crypto, { ...base, recipients: [keys], body: new Uint8Array(MAX_BODY_BYTES + 1) }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });
});

describe('replay and freshness', () => {
  test('a message id already seen -> REPLAY; the check gets the message id', () => {
    const { recipient, seal, open } = pair(0);
    const envelope = seal(BODY);
    const asked: string[] = [];
    const seen = (id: string) => {
      asked.push(id);
      return true;
    };
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { alreadySeen: seen }))).toBe('REPLAY');
    expect(asked).toEqual([envelope.header.messageId]);
    expect(open(envelope, copyKeys(recipient.keys), { alreadySeen: () => false }).body).toEqual(BODY);
  });

  test('a forged envelope is refused for its signature before its id is looked up', () => {
    const { recipient, seal, open } = pair(0);
    const envelope = seal(BODY);
    const forged = { ...envelope, header: { ...envelope.header, sentAt: envelope.header.sentAt + 1 } };
    expect(thrownCode(() => open(forged, copyKeys(recipient.keys), { alreadySeen: () => true }))).toBe('BAD_SIGNATURE');
  });

  test(`sent more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes in the future -> STALE_MESSAGE (the boundary itself opens)`, () => {
    const { recipient, seal, open } = pair(0);
    const envelope = seal(BODY, T0 + MAX_CLOCK_SKEW_MS);
    expect(open(envelope, copyKeys(recipient.keys), { now: T0 }).body).toEqual(BODY);
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { now: T0 - 1 }))).toBe('STALE_MESSAGE');
    expect(thrownCode(() => open(seal(BODY, T0 + DAY), copyKeys(recipient.keys), { now: T0 }))).toBe('STALE_MESSAGE');
  });

  test('older than maxAgeMs -> STALE_MESSAGE (the boundary itself opens)', () => {
    const { recipient, seal, open } = pair(0);
    const envelope = seal(BODY, T0 - MAX_AGE);
    expect(open(envelope, copyKeys(recipient.keys), { now: T0 }).body).toEqual(BODY);
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { now: T0 + 1 }))).toBe('STALE_MESSAGE');
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { now: T0, maxAgeMs: DAY }))).toBe('STALE_MESSAGE');
  });
});

describe('forward secrecy: a used one-time prekey is gone for good', () => {
  let fixture: ReturnType<typeof pair>;
  let envelope: SealedEnvelope;
  let before: ReturnType<typeof deviceKeysToJson>;
  let usedPrivateKey: Uint8Array;

  beforeAll(() => {
    fixture = pair(2); // one-time prekeys 3 and 4; the bundle hands out 3
    envelope = fixture.seal(BODY);
    before = deviceKeysToJson(fixture.recipient.keys);
    usedPrivateKey = fixture.recipient.keys.oneTimePrekeys.get(3)!.keyPair.privateKey;
  });

  test('opening deletes exactly the used prekey and wipes its private half', () => {
    const { recipient, open } = fixture;
    const opened = open(envelope, recipient.keys);
    expect(opened.body).toEqual(BODY);
    expect(opened.usedOneTimePrekeyId).toBe(3);
    expect([...recipient.keys.oneTimePrekeys.keys()]).toEqual([4]);
    expect(usedPrivateKey.every((b) => b === 0)).toBe(true);
  });

  test('the same envelope can no longer be opened with the updated keys -> DECRYPT_FAILED', () => {
    expect(thrownCode(() => fixture.open(envelope, fixture.recipient.keys))).toBe('DECRYPT_FAILED');
  });

  test('nor after the keys went through the keystore (seal, unlock, restore)', () => {
    const sealed = sealSecrets(crypto, deviceKeysToJson(fixture.recipient.keys), 'correct horse', PWHASH_TEST_ONLY);
    const restored = deviceKeysFromJson(openSecrets(crypto, sealed, 'correct horse'));
    expect(restored.oneTimePrekeys.has(3)).toBe(false);
    expect(restored.oneTimePrekeys.has(4)).toBe(true);
    expect(thrownCode(() => fixture.open(envelope, restored))).toBe('DECRYPT_FAILED');
  });

  test('control: a copy of the keys taken before opening still opens it (the prekey is what is missing)', () => {
    const snapshot = deviceKeysFromJson(before);
    expect(fixture.open(envelope, snapshot).body).toEqual(BODY);
  });

  test('a new envelope to the next one-time prekey still opens', () => {
    const next = fixture.seal(BODY);
    expect(next.header.recipients[0]?.oneTimePrekeyId).toBe(4);
    expect(fixture.open(next, fixture.recipient.keys).usedOneTimePrekeyId).toBe(4);
    expect(fixture.recipient.keys.oneTimePrekeys.size).toBe(0);
  });

  test('a refill adds fresh prekeys under new ids, never reusing a used one', () => {
    const refill = generateOneTimePrekeys(crypto, fixture.recipient.keys, 3, T0);
    expect(refill.map((p) => p.id).some((id) => id === 3 || id === 4)).toBe(false);
  });
});

describe('the post-quantum secret is mixed into the key-encryption key', () => {
  let fixture: ReturnType<typeof pair>;
  let envelope: SealedEnvelope;

  beforeAll(() => {
    fixture = pair(1);
    envelope = fixture.seal(BODY);
  });

  /** A copy of the recipient's keys with one private key replaced by an unrelated one (public halves unchanged). */
  function withSwappedPrivateKey(which: 'identity' | 'signedPrekey' | 'oneTimePrekey' | 'pqPrekey'): DeviceKeys {
    const keys = copyKeys(fixture.recipient.keys);
    const entry = envelope.header.recipients[0]!;
    if (which === 'identity') return { ...keys, identity: { publicKey: keys.identity.publicKey, privateKey: crypto.dhKeyPair().privateKey } };
    const [map, id, fresh] =
      which === 'signedPrekey'
        ? [keys.signedPrekeys, entry.signedPrekeyId, crypto.dhKeyPair().privateKey]
        : which === 'oneTimePrekey'
          ? [keys.oneTimePrekeys, entry.oneTimePrekeyId!, crypto.dhKeyPair().privateKey]
          : [keys.pqPrekeys, entry.pqPrekeyId, crypto.kemKeyPair().privateKey];
    const old = map.get(id)!;
    map.set(id, { ...old, keyPair: { publicKey: old.keyPair.publicKey, privateKey: fresh } });
    return keys;
  }

  test('control: an unchanged copy of the keys opens the envelope', () => {
    expect(fixture.open(envelope, copyKeys(fixture.recipient.keys)).body).toEqual(BODY);
  });

  test('every classical key right, only the X-Wing private key different -> DECRYPT_FAILED', () => {
    // Same X25519 secrets, same public keys, same X-Wing ciphertext in the transcript:
    // only the decapsulated X-Wing shared secret differs, and the KEK with it.
    expect(thrownCode(() => fixture.open(envelope, withSwappedPrivateKey('pqPrekey')))).toBe('DECRYPT_FAILED');
  });

  test.each(['identity', 'signedPrekey', 'oneTimePrekey'] as const)('the X-Wing key right, the %s private key different -> DECRYPT_FAILED', (which) => {
    expect(thrownCode(() => fixture.open(envelope, withSwappedPrivateKey(which)))).toBe('DECRYPT_FAILED');
  });

  test('the sender re-encapsulates to the same X-Wing key (valid ciphertext, other secret) and re-signs -> DECRYPT_FAILED', () => {
    const { recipient, sender } = fixture;
    const header = structuredClone(envelope.header);
    header.recipients[0]!.pqCiphertext = toB64u(crypto.kemEncapsulate(fromB64u(recipient.pqPrekey.publicKey)).ciphertext);
    const resigned = { ...envelope, header, signature: toB64u(crypto.sign(envelopeSigningInput(header), sender.keys.sign.privateKey)) };
    expect(thrownCode(() => fixture.open(resigned, copyKeys(recipient.keys)))).toBe('DECRYPT_FAILED');
  });

  test('the sender altered the X-Wing ciphertext and re-signed -> DECRYPT_FAILED', () => {
    const { recipient, sender } = fixture;
    const header = structuredClone(envelope.header);
    const ct = fromB64u(header.recipients[0]!.pqCiphertext);
    ct[100] = (ct[100] ?? 0) ^ 0x80;
    header.recipients[0]!.pqCiphertext = toB64u(ct);
    const resigned = { ...envelope, header, signature: toB64u(crypto.sign(envelopeSigningInput(header), sender.keys.sign.privateKey)) };
    expect(thrownCode(() => fixture.open(resigned, copyKeys(recipient.keys)))).toBe('DECRYPT_FAILED');
  });

  test("the opener is given the wrong sender identity key -> DECRYPT_FAILED; the wrong signing key -> BAD_SIGNATURE", () => {
    const { open, sender, recipient } = fixture;
    const wrongIdentity = { signPublicKey: sender.keys.sign.publicKey, identityKey: crypto.dhKeyPair().publicKey };
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { sender: wrongIdentity }))).toBe('DECRYPT_FAILED');
    const wrongSigner = { signPublicKey: crypto.signKeyPair().publicKey, identityKey: sender.keys.identity.publicKey };
    expect(thrownCode(() => open(envelope, copyKeys(recipient.keys), { sender: wrongSigner }))).toBe('BAD_SIGNATURE');
  });
});

describe('a device that is not a recipient', () => {
  test('gets NOT_RECIPIENT, even holding keys of the same org', () => {
    const { net, recipient, seal, open } = pair(0);
    const colleague = net.addDevice(recipient.org, 'sh-dev-2');
    expect(thrownCode(() => open(seal(BODY), colleague.keys))).toBe('NOT_RECIPIENT');
  });

  test("cannot open by renaming itself to a recipient's id (keys differ) -> DECRYPT_FAILED", () => {
    const { net, recipient, seal, open } = pair(0);
    const impostor: TestDevice = net.addDevice(recipient.org, 'sh-dev-2');
    const renamed: DeviceKeys = { ...impostor.keys, deviceId: recipient.keys.deviceId };
    expect(thrownCode(() => open(seal(BODY), renamed))).toBe('DECRYPT_FAILED');
  });
});
