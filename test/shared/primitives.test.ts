/**
 * The small building blocks under the protocol: the crypto seam's own
 * contract (known answers, error codes), base64url / hex / length-prefix
 * encodings, canonical JSON and signing inputs, padding buckets and
 * fingerprints.
 */
import { DOMAIN, canonicalJson, signingInput } from '../../shared/canonical';
import { PWHASH_TEST_ONLY, SIZES, type Crypto } from '../../shared/crypto/types';
import { createCrypto, loadCrypto } from '../../shared/crypto/sodium';
import { fromB64u, fromHex, fromUtf8, lengthPrefixed, toB64u, toHex, utf8 } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';
import { fingerprint } from '../../shared/fingerprint';
import { LINEAR_STEP, MAX_BODY_BYTES, MIN_BUCKET, bucketFor, isBucket } from '../../shared/padding';
import { seededRandom } from '../support/deterministic';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

describe('crypto seam', () => {
  test('Ed25519 from a seed: RFC 8032 test 1', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const kp = crypto.signKeyPair(seed);
    expect(toHex(kp.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = crypto.sign(new Uint8Array(0), kp.privateKey);
    expect(toHex(sig)).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(crypto.verify(sig, new Uint8Array(0), kp.publicKey)).toBe(true);
    expect(crypto.verify(sig, new Uint8Array(1), kp.publicKey)).toBe(false);
    expect(thrownCode(() => crypto.signKeyPair(seed.subarray(1)))).toBe('BAD_REQUEST');
  });

  test('BLAKE2b known answers (RFC 7693 "abc"; empty input at 32 bytes); keyed hashing differs', () => {
    expect(toHex(crypto.hash(utf8('abc'), 64))).toBe(
      'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
    expect(toHex(crypto.hash(new Uint8Array(0)))).toBe('0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
    expect(crypto.hash(utf8('abc'), 32, new Uint8Array(32))).not.toEqual(crypto.hash(utf8('abc'), 32));
  });

  test('X25519: both sides agree; low-order points -> UNTRUSTED_KEY; wrong lengths -> BAD_REQUEST', () => {
    const a = crypto.dhKeyPair();
    const b = crypto.dhKeyPair();
    expect(crypto.dh(a.privateKey, b.publicKey)).toEqual(crypto.dh(b.privateKey, a.publicKey));
    expect(thrownCode(() => crypto.dh(a.privateKey, new Uint8Array(32)))).toBe('UNTRUSTED_KEY');
    const one = new Uint8Array(32);
    one[0] = 1;
    expect(thrownCode(() => crypto.dh(a.privateKey, one))).toBe('UNTRUSTED_KEY');
    expect(thrownCode(() => crypto.dh(a.privateKey, b.publicKey.subarray(1)))).toBe('BAD_REQUEST');
    expect(thrownCode(() => crypto.dhKeyPair(new Uint8Array(31)))).toBe('BAD_REQUEST');
  });

  test('X-Wing: sizes, round trip, deterministic from a seed, implicit rejection with the wrong key', () => {
    const seed = new Uint8Array(32).fill(3);
    const kp = crypto.kemKeyPair(seed);
    expect(kp.publicKey).toHaveLength(SIZES.kemPublicKey);
    expect(crypto.kemKeyPair(seed).publicKey).toEqual(kp.publicKey);
    const { ciphertext, sharedSecret } = crypto.kemEncapsulate(kp.publicKey);
    expect(ciphertext).toHaveLength(SIZES.kemCiphertext);
    expect(sharedSecret).toHaveLength(SIZES.kemSharedSecret);
    expect(crypto.kemDecapsulate(ciphertext, kp.privateKey)).toEqual(sharedSecret);
    // ML-KEM's implicit rejection: no error, just an unrelated secret.
    expect(crypto.kemDecapsulate(ciphertext, crypto.kemKeyPair().privateKey)).not.toEqual(sharedSecret);
    expect(thrownCode(() => crypto.kemDecapsulate(ciphertext.subarray(1), kp.privateKey))).toBe('DECRYPT_FAILED');
    expect(thrownCode(() => crypto.kemEncapsulate(kp.publicKey.subarray(1)))).toBe('BAD_REQUEST');
  });

  test('AEAD: round trip; wrong key, nonce, AD or a flipped bit -> DECRYPT_FAILED', () => {
    const key = crypto.random(32);
    const nonce = crypto.random(24);
    const ad = utf8('header');
    const ct = crypto.aeadEncrypt(utf8('secret'), ad, nonce, key);
    expect(ct).toHaveLength(6 + SIZES.aeadTag);
    expect(fromUtf8(crypto.aeadDecrypt(ct, ad, nonce, key))).toBe('secret');
    expect(thrownCode(() => crypto.aeadDecrypt(ct, ad, nonce, crypto.random(32)))).toBe('DECRYPT_FAILED');
    expect(thrownCode(() => crypto.aeadDecrypt(ct, ad, crypto.random(24), key))).toBe('DECRYPT_FAILED');
    expect(thrownCode(() => crypto.aeadDecrypt(ct, utf8('other'), nonce, key))).toBe('DECRYPT_FAILED');
    const flipped = ct.slice();
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(thrownCode(() => crypto.aeadDecrypt(flipped, ad, nonce, key))).toBe('DECRYPT_FAILED');
  });

  test('Argon2id: deterministic for the same inputs, different for any change; the salt must be 16 bytes', () => {
    const salt = new Uint8Array(16).fill(1);
    const k = crypto.passwordKey('pass', salt, PWHASH_TEST_ONLY);
    expect(k).toHaveLength(32);
    expect(crypto.passwordKey('pass', salt, PWHASH_TEST_ONLY)).toEqual(k);
    expect(crypto.passwordKey('pass2', salt, PWHASH_TEST_ONLY)).not.toEqual(k);
    expect(crypto.passwordKey('pass', new Uint8Array(16).fill(2), PWHASH_TEST_ONLY)).not.toEqual(k);
    expect(crypto.passwordKey('pass', salt, { ...PWHASH_TEST_ONLY, opsLimit: 2 })).not.toEqual(k);
    expect(thrownCode(() => crypto.passwordKey('pass', new Uint8Array(15), PWHASH_TEST_ONLY))).toBe('BAD_REQUEST');
  });

  test('pad/unpad (ISO/IEC 7816-4): 0x80 then zeros; bad padding -> DECRYPT_FAILED', () => {
    const padded = crypto.pad(utf8('abc'), 16);
    expect(toHex(padded)).toBe(`616263${'80'}${'00'.repeat(12)}`);
    expect(fromUtf8(crypto.unpad(padded, 16))).toBe('abc');
    expect(thrownCode(() => crypto.unpad(new Uint8Array(16), 16))).toBe('DECRYPT_FAILED');
  });

  test('equal is false on any difference, including length; wipe zeroes', () => {
    expect(crypto.equal(utf8('abc'), utf8('abc'))).toBe(true);
    expect(crypto.equal(utf8('abc'), utf8('abd'))).toBe(false);
    expect(crypto.equal(utf8('abc'), utf8('ab'))).toBe(false);
    const secret = utf8('secret');
    crypto.wipe(secret);
    expect(Array.from(secret)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('an injected random source drives every key: same seed, same keys', () => {
    const a = createCrypto({ random: seededRandom(crypto, 'seed-1') });
    const b = createCrypto({ random: seededRandom(crypto, 'seed-1') });
    const c = createCrypto({ random: seededRandom(crypto, 'seed-2') });
    expect(a.signKeyPair().publicKey).toEqual(b.signKeyPair().publicKey);
    expect(a.dhKeyPair().publicKey).toEqual(b.dhKeyPair().publicKey);
    expect(a.kemKeyPair().publicKey).toEqual(b.kemKeyPair().publicKey);
    expect(c.signKeyPair().publicKey).not.toEqual(createCrypto({ random: seededRandom(crypto, 'seed-1') }).signKeyPair().publicKey);
  });
});

describe('encodings', () => {
  test.each([
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ])('base64url of %j is %j (RFC 4648 vectors, unpadded)', (text, encoded) => {
    expect(toB64u(utf8(text))).toBe(encoded);
    expect(fromUtf8(fromB64u(encoded))).toBe(text);
  });

  test('uses the URL-safe alphabet', () => {
    expect(toB64u(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('-_-_');
  });

  test.each([
    ['padding', 'Zg=='],
    ['standard alphabet +', 'a+b/'],
    ['whitespace', 'Zm9v Yg'],
    ['length 1 mod 4', 'Zm9vY'],
    ['stray low bits (1 byte)', 'Zh'],
    ['stray low bits (2 bytes)', 'Zm9'],
    ['non-ASCII', 'Zm9é'],
  ])('refuses %s -> BAD_REQUEST', (_what, text) => {
    expect(thrownCode(() => fromB64u(text))).toBe('BAD_REQUEST');
  });

  test('hex round trip; odd length or non-hex -> BAD_REQUEST', () => {
    expect(toHex(fromHex('00ff10Ab'))).toBe('00ff10ab');
    expect(thrownCode(() => fromHex('abc'))).toBe('BAD_REQUEST');
    expect(thrownCode(() => fromHex('zz'))).toBe('BAD_REQUEST');
  });

  test('length prefixes keep concatenated fields apart', () => {
    expect(lengthPrefixed(utf8('ab'), utf8('c'))).not.toEqual(lengthPrefixed(utf8('a'), utf8('bc')));
    expect(toHex(lengthPrefixed(utf8('ab'), new Uint8Array(0)))).toBe('000000026162' + '00000000');
  });

  test('UTF-8 decoding is strict', () => {
    expect(() => fromUtf8(new Uint8Array([0xc3]))).toThrow();
    expect(fromUtf8(utf8('Қазақ ✓'))).toBe('Қазақ ✓');
  });
});

describe('canonical JSON and signing inputs', () => {
  test('RFC 8785: sorted keys, no whitespace, ECMAScript number forms', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0.1, y: 1e21, x: -0 } })).toBe('{"a":[true,null,"x"],"b":1,"c":{"x":0,"y":1e+21,"z":0.1}}');
    // Sorting is by UTF-16 code units: "\u00e9" sorts after "z", and upper case before lower case.
    expect(canonicalJson({ é: 1, z: 2, Z: 3 })).toBe('{"Z":3,"z":2,"é":1}');
    expect(canonicalJson('line\nbreak "q"')).toBe('"line\\nbreak \\"q\\""');
  });

  test('values that cannot be canonicalised -> BAD_REQUEST', () => {
    expect(thrownCode(() => canonicalJson(undefined))).toBe('BAD_REQUEST');
  });

  test('signingInput = UTF-8(label) || 0x00 || canonical JSON', () => {
    const input = signingInput(DOMAIN.envelope, { b: 2, a: 1 });
    expect(fromUtf8(input)).toBe('handover/v1/envelope\u0000{"a":1,"b":2}');
  });

  test('every domain label is distinct, versioned and free of the separator byte', () => {
    const labels = Object.values(DOMAIN);
    expect(new Set(labels).size).toBe(labels.length);
    for (const label of labels) {
      expect(label).toMatch(/^handover\/v[12]\/[a-z-]+$/);
    }
    // No label is a prefix of another, so label||0x00 never collides.
    for (const a of labels) for (const b of labels) if (a !== b) expect(b.startsWith(`${a}\u0000`)).toBe(false);
  });
});

describe('padding buckets', () => {
  test.each([
    [0, 1024],
    [1023, 1024],
    [1024, 2048],
    [2047, 2048],
    [4096, 8192],
    [32_767, 32_768],
    [65_535, 65_536],
    [65_536, 131_072],
    [131_071, 131_072],
    [131_072, 196_608],
    [MAX_BODY_BYTES, MAX_BODY_BYTES + LINEAR_STEP],
  ])('a %i-byte body pads to %i bytes', (length, bucket) => {
    expect(bucketFor(length)).toBe(bucket);
    expect(isBucket(bucket)).toBe(true);
  });

  test.each([0, 512, 1023, 1025, 3000, 65_537, 98_304, 131_073, 1.5 * MIN_BUCKET, 2048.5, -1024])('%d is not a bucket', (size) => {
    expect(isBucket(size)).toBe(false);
  });
});

describe('fingerprints', () => {
  const key = () => crypto.signKeyPair(new Uint8Array(32).fill(5)).publicKey;

  test('60 digits in 12 groups of 5, deterministic', () => {
    const fp = fingerprint(crypto, 'device', 'sh-dev-1', key());
    expect(fp).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(fingerprint(crypto, 'device', 'sh-dev-1', key())).toBe(fp);
    expect(fingerprint(createCrypto(), 'device', 'sh-dev-1', key())).toBe(fp);
  });

  test('differs for another key, id or kind, in nearly every group', () => {
    const base = fingerprint(crypto, 'device', 'sh-dev-1', key());
    const otherKey = key();
    otherKey[31] = (otherKey[31] ?? 0) ^ 1;
    const variants = [
      fingerprint(crypto, 'device', 'sh-dev-1', otherKey),
      fingerprint(crypto, 'device', 'sh-dev-2', key()),
      fingerprint(crypto, 'org', 'sh-dev-1', key()),
    ];
    for (const other of variants) {
      const same = base.split(' ').filter((g, i) => other.split(' ')[i] === g).length;
      expect(same).toBeLessThanOrEqual(1); // each group matches by chance with p = 1e-5
    }
  });

  test('a byte moved between id and key changes the fingerprint (fields are length-prefixed)', () => {
    const k = key();
    const shifted = new Uint8Array([0x62, ...k]); // "b" || key
    expect(fingerprint(crypto, 'org', 'ab', k)).not.toBe(fingerprint(crypto, 'org', 'a', shifted));
  });
});
