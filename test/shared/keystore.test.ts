/**
 * The passphrase-sealed keystore: round trips, wrong passphrase, and
 * tampering with every byte of every field of the sealed JSON. Uses the
 * cheap PWHASH_TEST_ONLY limits so hundreds of unlock attempts stay fast.
 */
import { PWHASH_TEST_ONLY, type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { generateOneTimePrekeys, rotateSignedPrekeys, createDeviceKeys } from '../../shared/device-keys';
import { fromB64u, toB64u, utf8 } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson, openSecrets, sealSecrets } from '../../shared/keystore';
import { T0 } from '../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

const PASSPHRASE = 'correct horse battery staple';
const SECRET = { storageKey: 'k7Yx2T0pQ9wVn3cF8hJ1sL4mR6uE5aZbD0gI2oK3yW8', note: 'ünïcode ✓' };

/** The error code `fn` throws, or a marker that makes a failing expectation readable. */
function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

interface SealedShape {
  format: string;
  v: number;
  kdf: { alg: string; opsLimit: number; memLimit: number; salt: string };
  nonce: string;
  ciphertext: string;
}

/** A sealed keystore as parsed JSON, open to any edit a test makes. */
type Loose = SealedShape & Record<string, unknown>;
type Mutate = (s: Loose) => void;

function sealedJson(): Loose {
  return JSON.parse(sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY)) as Loose;
}

function flipByteAt(text: string, index: number): string {
  const bytes = fromB64u(text);
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return toB64u(bytes);
}

describe('round trip', () => {
  test('any JSON value comes back unchanged; the sealed text records its KDF limits', () => {
    const text = sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY);
    expect(openSecrets(crypto, text, PASSPHRASE)).toEqual(SECRET);
    const sealed = JSON.parse(text) as SealedShape;
    expect(sealed).toMatchObject({ format: 'handover-keystore', v: 1, kdf: { alg: 'argon2id13', ...PWHASH_TEST_ONLY } });
    expect(fromB64u(sealed.kdf.salt)).toHaveLength(16);
    expect(fromB64u(sealed.nonce)).toHaveLength(24);
  });

  test('the sealed text does not contain the secret, and two seals differ (fresh salt and nonce)', () => {
    const a = sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY);
    const b = sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY);
    expect(a).not.toContain(SECRET.storageKey);
    const [sa, sb] = [JSON.parse(a) as SealedShape, JSON.parse(b) as SealedShape];
    expect(sa.kdf.salt).not.toBe(sb.kdf.salt);
    expect(sa.nonce).not.toBe(sb.nonce);
    expect(sa.ciphertext).not.toBe(sb.ciphertext);
  });

  test('device keys survive seal -> open -> restore with every private key intact', () => {
    const keys = createDeviceKeys(crypto, { deviceId: 'sh-dev-1', orgId: 'shelter-ist' });
    rotateSignedPrekeys(crypto, keys, T0);
    generateOneTimePrekeys(crypto, keys, 5, T0);
    const json = deviceKeysToJson(keys);
    const sealed = sealSecrets(crypto, json, PASSPHRASE, PWHASH_TEST_ONLY);
    expect(sealed).not.toContain(toB64u(keys.identity.privateKey));
    const restored = deviceKeysFromJson(openSecrets(crypto, sealed, PASSPHRASE));
    expect(deviceKeysToJson(restored)).toEqual(json);
    expect(restored.sign.privateKey).toEqual(keys.sign.privateKey);
    expect(restored.pqPrekeys.get(2)?.keyPair.privateKey).toEqual(keys.pqPrekeys.get(2)?.keyPair.privateKey);
    expect([...restored.oneTimePrekeys.keys()]).toEqual([3, 4, 5, 6, 7]);
    expect(restored.currentSignedPrekeyId).toBe(1);
    expect(restored.nextPrekeyId).toBe(8);
  });

  test('an empty passphrase is refused when sealing -> BAD_REQUEST', () => {
    expect(thrownCode(() => sealSecrets(crypto, SECRET, '', PWHASH_TEST_ONLY))).toBe('BAD_REQUEST');
  });
});

describe('wrong passphrase', () => {
  test.each(['wrong', 'correct horse battery stapl', 'Correct horse battery staple', `${PASSPHRASE} `, ''])('%j -> WRONG_PASSPHRASE', (guess) => {
    const text = sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY);
    expect(thrownCode(() => openSecrets(crypto, text, guess))).toBe('WRONG_PASSPHRASE');
  });
});

describe('tampering with the sealed file is detected', () => {
  const BYTE_FIELDS: Array<[string, number, (s: SealedShape, i: number) => void]> = [
    ['kdf.salt', 16, (s, i) => (s.kdf.salt = flipByteAt(s.kdf.salt, i))],
    ['nonce', 24, (s, i) => (s.nonce = flipByteAt(s.nonce, i))],
  ];
  test.each(BYTE_FIELDS)('every byte of %s (%i bytes) -> WRONG_PASSPHRASE', (_field, length, flip) => {
    for (let i = 0; i < length; i++) {
      const sealed = sealedJson();
      flip(sealed, i);
      expect([i, thrownCode(() => openSecrets(crypto, JSON.stringify(sealed), PASSPHRASE))]).toEqual([i, 'WRONG_PASSPHRASE']);
    }
  });

  test('every byte of the ciphertext (body and tag) -> WRONG_PASSPHRASE', () => {
    const length = fromB64u(sealedJson().ciphertext).length;
    expect(length).toBe(utf8(JSON.stringify(SECRET)).length + 16);
    for (let i = 0; i < length; i++) {
      const sealed = sealedJson();
      sealed.ciphertext = flipByteAt(sealed.ciphertext, i);
      expect([i, thrownCode(() => openSecrets(crypto, JSON.stringify(sealed), PASSPHRASE))]).toEqual([i, 'WRONG_PASSPHRASE']);
    }
  });

  const AEAD_CAUGHT: Array<[string, Mutate]> = [
    ['opsLimit raised', (s) => (s.kdf.opsLimit += 1)],
    ['memLimit doubled', (s) => (s.kdf.memLimit *= 2)],
    ['ciphertext truncated by one byte', (s) => (s.ciphertext = toB64u(fromB64u(s.ciphertext).slice(0, -1)))],
    ['ciphertext shortened below a tag', (s) => (s.ciphertext = toB64u(new Uint8Array(8)))],
    ['ciphertext from another keystore with the same passphrase', (s) => (s.ciphertext = sealedJson().ciphertext)],
  ];
  test.each(AEAD_CAUGHT)('%s -> WRONG_PASSPHRASE', (_name, mutate) => {
    const sealed = sealedJson();
    mutate(sealed);
    expect(thrownCode(() => openSecrets(crypto, JSON.stringify(sealed), PASSPHRASE))).toBe('WRONG_PASSPHRASE');
  });

  const SHAPE_CAUGHT: Array<[string, Mutate]> = [
    ['opsLimit 0', (s) => (s.kdf.opsLimit = 0)],
    ['memLimit below the floor', (s) => (s.kdf.memLimit = 4096)],
    ['opsLimit not an integer', (s) => (s.kdf.opsLimit = 1.5)],
    ['another KDF algorithm', (s) => (s.kdf.alg = 'argon2i13')],
    ['another format', (s) => (s.format = 'other-keystore')],
    ['another version', (s) => (s.v = 2)],
    ['an unknown field', (s) => (s.hint = 'the dog')],
    ['salt of 15 bytes', (s) => (s.kdf.salt = toB64u(new Uint8Array(15)))],
    ['nonce of 12 bytes', (s) => (s.nonce = toB64u(new Uint8Array(12)))],
    ['nonce not base64url', (s) => (s.nonce = `${s.nonce.slice(0, -1)}=`)],
    ['ciphertext non-canonical base64url', (s) => (s.ciphertext = 'AB')], // stray low bits
    ['ciphertext missing', (s) => delete (s as Partial<SealedShape>).ciphertext],
  ];
  test.each(SHAPE_CAUGHT)('%s -> KEYSTORE_CORRUPT', (_name, mutate) => {
    const sealed: Loose = sealedJson();
    mutate(sealed);
    expect(thrownCode(() => openSecrets(crypto, JSON.stringify(sealed), PASSPHRASE))).toBe('KEYSTORE_CORRUPT');
  });

  test('flipping any single character of the sealed text never opens it (WRONG_PASSPHRASE or KEYSTORE_CORRUPT)', () => {
    const text = sealSecrets(crypto, SECRET, PASSPHRASE, PWHASH_TEST_ONLY);
    const seen = new Map<string, number>();
    for (let i = 0; i < text.length; i++) {
      const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x01) + text.slice(i + 1);
      const code = thrownCode(() => openSecrets(crypto, changed, PASSPHRASE));
      expect([i, ['WRONG_PASSPHRASE', 'KEYSTORE_CORRUPT'].includes(code) ? 'refused' : code]).toEqual([i, 'refused']);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }
    // Both kinds of refusal occur: bytes that still parse are caught by the AEAD.
    expect(seen.get('WRONG_PASSPHRASE')).toBeGreaterThan(50);
    expect(seen.get('KEYSTORE_CORRUPT')).toBeGreaterThan(50);
  });
});

describe('not a keystore -> KEYSTORE_CORRUPT', () => {
  test.each(['', 'not json', '{', '[]', 'null', '42', '"handover-keystore"', '{"format":"handover-keystore"}'])('%j', (text) => {
    expect(thrownCode(() => openSecrets(crypto, text, PASSPHRASE))).toBe('KEYSTORE_CORRUPT');
  });

  test('damaged device keys inside a genuine keystore -> KEYSTORE_CORRUPT', () => {
    const keys = createDeviceKeys(crypto, { deviceId: 'sh-dev-1', orgId: 'shelter-ist' });
    const json = deviceKeysToJson(keys) as unknown as Record<string, unknown>;
    const badKey = { ...json, identity: { publicKey: toB64u(keys.identity.publicKey), privateKey: 'not base64url!' } };
    for (const damaged of [{ ...json, sign: null }, { ...json, nextPrekeyId: 0 }, { ...json, extra: 1 }, badKey, 'keys', null]) {
      const text = sealSecrets(crypto, damaged, PASSPHRASE, PWHASH_TEST_ONLY);
      expect(thrownCode(() => deviceKeysFromJson(openSecrets(crypto, text, PASSPHRASE)))).toBe('KEYSTORE_CORRUPT');
    }
  });
});
