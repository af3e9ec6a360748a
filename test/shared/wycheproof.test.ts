/**
 * Project Wycheproof conformance (C2SP/wycheproof, Apache-2.0, copied into
 * test/vectors/wycheproof/ with its licence), run THROUGH the crypto
 * interface (`Crypto.dh`, `Crypto.verify`, `Crypto.aeadEncrypt/aeadDecrypt`),
 * so a change of library or of the seam is checked, not just libsodium.
 *
 * How each result class is handled:
 * - `valid`: must be accepted and give exactly the expected output.
 * - `invalid`: must be refused.
 * - `acceptable` (X25519 only): RFC 7748 allows either behaviour; our
 *   interface makes a definite choice and the test pins it:
 *     - a shared secret of all zeros (low-order public keys, flags
 *       LowOrderPublic / ZeroSharedSecret) is refused with UNTRUSTED_KEY,
 *       so a malicious prekey can never force a known DH output;
 *     - every other acceptable case (points on the twist, non-canonical
 *       encodings, special public keys) is computed as RFC 7748 defines it
 *       and must equal the expected shared secret.
 * - Parameters outside our interface (XChaCha20-Poly1305 groups with nonces
 *   other than 24 bytes) must be refused: BAD_REQUEST when encrypting,
 *   DECRYPT_FAILED when decrypting.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { type Crypto, SIZES } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { concatBytes, fromHex, toHex } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}
interface WycheproofFile<G> {
  algorithm: string;
  numberOfTests: number;
  testGroups: Array<G & { tests: WycheproofTest[] }>;
}
type XdhTest = WycheproofTest & { public: string; private: string; shared: string };
type EddsaTest = WycheproofTest & { msg: string; sig: string };
type AeadTest = WycheproofTest & { key: string; iv: string; aad: string; msg: string; ct: string; tag: string };

function load<G>(name: string): WycheproofFile<G> {
  return JSON.parse(readFileSync(join(__dirname, '..', 'vectors', 'wycheproof', name), 'utf8')) as WycheproofFile<G>;
}

const x25519 = load<{ curve: string }>('x25519_test.json');
const ed25519 = load<{ publicKey: { pk: string } }>('ed25519_test.json');
const xchacha = load<{ ivSize: number; keySize: number; tagSize: number }>('xchacha20_poly1305_test.json');

function count(file: WycheproofFile<unknown>, result: WycheproofTest['result']): number {
  return file.testGroups.reduce((n, g) => n + g.tests.filter((t) => t.result === result).length, 0);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
}

let crypto: Crypto;
/** What Node processes use: libsodium, with Ed25519 verification through OpenSSL. */
let nodeCrypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
  nodeCrypto = await loadNodeCrypto();
});

describe('the copied vector files are complete', () => {
  test.each([
    ['x25519_test.json', x25519, 'XDH'],
    ['ed25519_test.json', ed25519, 'EDDSA'],
    ['xchacha20_poly1305_test.json', xchacha, 'XCHACHA20-POLY1305'],
  ] as const)('%s: every listed test is present', (_name, file, algorithm) => {
    expect(file.algorithm).toBe(algorithm);
    expect(count(file, 'valid') + count(file, 'invalid') + count(file, 'acceptable')).toBe(file.numberOfTests);
  });
});

describe(`X25519 via Crypto.dh (${count(x25519, 'valid')} valid, ${count(x25519, 'acceptable')} acceptable, ${count(x25519, 'invalid')} invalid)`, () => {
  const cases = x25519.testGroups.flatMap((g) => g.tests as XdhTest[]);
  const ZERO = '00'.repeat(32);
  // Wycheproof gives raw (unclamped) private keys; X25519 clamps them itself.
  const run = (t: XdhTest) => {
    try {
      return toHex(crypto.dh(fromHex(t.private), fromHex(t.public)));
    } catch (err) {
      return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
    }
  };
  const mismatches = (list: XdhTest[], expected: (t: XdhTest) => string) =>
    list.filter((t) => run(t) !== expected(t)).map((t) => ({ tcId: t.tcId, flags: t.flags, got: run(t) }));

  const valid = cases.filter((t) => t.result === 'valid');
  const acceptableZero = cases.filter((t) => t.result === 'acceptable' && t.shared === ZERO);
  const acceptableOther = cases.filter((t) => t.result === 'acceptable' && t.shared !== ZERO);

  test(`${valid.length} valid cases give the expected shared secret`, () => {
    expect(valid.length).toBeGreaterThan(0);
    expect(mismatches(valid, (t) => t.shared)).toEqual([]);
  });

  test(`${acceptableZero.length} acceptable cases with an all-zero shared secret (low-order points) -> UNTRUSTED_KEY`, () => {
    expect(acceptableZero.length).toBeGreaterThan(0);
    expect(acceptableZero.every((t) => t.flags.includes('LowOrderPublic') || t.flags.includes('ZeroSharedSecret'))).toBe(true);
    expect(mismatches(acceptableZero, () => 'UNTRUSTED_KEY')).toEqual([]);
  });

  test(`${acceptableOther.length} other acceptable cases (twist, non-canonical, special points) give the RFC 7748 result`, () => {
    expect(acceptableOther.length).toBeGreaterThan(0);
    expect(mismatches(acceptableOther, (t) => t.shared)).toEqual([]);
  });

  test('the file has no invalid X25519 cases (so nothing else to refuse), and only curve25519 groups', () => {
    expect(x25519.testGroups.every((g) => g.curve === 'curve25519')).toBe(true);
    expect(count(x25519, 'invalid')).toBe(0);
    expect(valid.length + acceptableZero.length + acceptableOther.length).toBe(x25519.numberOfTests);
  });

  test('keys of the wrong length are refused -> BAD_REQUEST', () => {
    const t = valid[0]!;
    expect(codeOf(() => crypto.dh(fromHex(t.private).subarray(1), fromHex(t.public)))).toBe('BAD_REQUEST');
    expect(codeOf(() => crypto.dh(fromHex(t.private), concatBytes(fromHex(t.public), new Uint8Array(1))))).toBe('BAD_REQUEST');
  });
});

describe.each([
  ['libsodium', () => crypto],
  ['Node OpenSSL (relay, CLI)', () => nodeCrypto],
] as const)('Ed25519 via Crypto.verify, %s', (_name, current) => {
  const crypto = { verify: (sig: Uint8Array, msg: Uint8Array, pk: Uint8Array) => current().verify(sig, msg, pk) };
  describe(`(${count(ed25519, 'valid')} valid, ${count(ed25519, 'invalid')} invalid, ${count(ed25519, 'acceptable')} acceptable)`, () => {
  const cases = ed25519.testGroups.flatMap((g) => (g.tests as EddsaTest[]).map((t) => ({ ...t, pk: g.publicKey.pk })));
  const verify = (t: EddsaTest & { pk: string }) => crypto.verify(fromHex(t.sig), fromHex(t.msg), fromHex(t.pk));
  const valid = cases.filter((t) => t.result === 'valid');
  const invalid = cases.filter((t) => t.result === 'invalid');

  test(`${valid.length} valid signatures verify`, () => {
    expect(valid.filter((t) => !verify(t)).map((t) => t.tcId)).toEqual([]);
  });

  test(`${invalid.length} invalid signatures (malleable S, bad encodings, truncated, with garbage) are refused`, () => {
    expect(invalid.length).toBeGreaterThan(0);
    expect(invalid.filter((t) => verify(t)).map((t) => ({ tcId: t.tcId, flags: t.flags }))).toEqual([]);
  });

  test('no acceptable cases in this file', () => {
    expect(valid.length + invalid.length).toBe(ed25519.numberOfTests);
  });

  test('verify never throws, whatever it is given', () => {
    const t = valid[0]!;
    const [sig, msg, pk] = [fromHex(t.sig), fromHex(t.msg), fromHex(t.pk)];
    expect(crypto.verify(sig.subarray(1), msg, pk)).toBe(false);
    expect(crypto.verify(sig, msg, pk.subarray(1))).toBe(false);
    expect(crypto.verify(new Uint8Array(64), msg, new Uint8Array(32))).toBe(false);
  });
});
});

describe(`XChaCha20-Poly1305 via Crypto.aeadEncrypt/aeadDecrypt (${count(xchacha, 'valid')} valid, ${count(xchacha, 'invalid')} invalid, ${count(xchacha, 'acceptable')} acceptable)`, () => {
  const inInterface = xchacha.testGroups.filter((g) => g.ivSize === SIZES.aeadNonce * 8 && g.keySize === 256 && g.tagSize === 128);
  const outside = xchacha.testGroups.filter((g) => !inInterface.includes(g));
  const cases = inInterface.flatMap((g) => g.tests as AeadTest[]);
  const valid = cases.filter((t) => t.result === 'valid');
  const invalid = cases.filter((t) => t.result === 'invalid');
  const outsideCases = outside.flatMap((g) => g.tests as AeadTest[]);

  test(`${valid.length} valid cases: encryption gives ct||tag and decryption gives the message`, () => {
    const failures = valid.filter((t) => {
      const [key, iv, aad, msg] = [fromHex(t.key), fromHex(t.iv), fromHex(t.aad), fromHex(t.msg)];
      const sealed = toHex(crypto.aeadEncrypt(msg, aad, iv, key));
      const opened = toHex(crypto.aeadDecrypt(fromHex(t.ct + t.tag), aad, iv, key));
      return sealed !== t.ct + t.tag || opened !== t.msg;
    });
    expect(failures.map((t) => t.tcId)).toEqual([]);
  });

  test(`${invalid.length} invalid cases (modified tags) -> DECRYPT_FAILED`, () => {
    expect(invalid.length).toBeGreaterThan(0);
    const codes = invalid.map((t) => codeOf(() => crypto.aeadDecrypt(fromHex(t.ct + t.tag), fromHex(t.aad), fromHex(t.iv), fromHex(t.key))));
    expect(new Set(codes)).toEqual(new Set(['DECRYPT_FAILED']));
  });

  test(`${outsideCases.length} cases with nonce sizes outside the interface (${outside.map((g) => g.ivSize / 8).join(', ')} bytes) are refused`, () => {
    expect(outsideCases.length).toBeGreaterThan(0);
    expect(outsideCases.every((t) => t.result === 'invalid' && t.flags.includes('InvalidNonceSize'))).toBe(true);
    for (const t of outsideCases) {
      const [key, iv, aad, msg] = [fromHex(t.key), fromHex(t.iv), fromHex(t.aad), fromHex(t.msg)];
      expect([t.tcId, codeOf(() => crypto.aeadEncrypt(msg, aad, iv, key))]).toEqual([t.tcId, 'BAD_REQUEST']);
      expect([t.tcId, codeOf(() => crypto.aeadDecrypt(fromHex(t.ct + t.tag), aad, iv, key))]).toEqual([t.tcId, 'DECRYPT_FAILED']);
    }
  });

  test('every case is accounted for', () => {
    expect(valid.length + invalid.length + outsideCases.length).toBe(xchacha.numberOfTests);
  });

  test('keys of the wrong size are refused too', () => {
    const t = valid[0]!;
    const [key, iv, aad, msg] = [fromHex(t.key), fromHex(t.iv), fromHex(t.aad), fromHex(t.msg)];
    expect(codeOf(() => crypto.aeadEncrypt(msg, aad, iv, key.subarray(1)))).toBe('BAD_REQUEST');
    expect(codeOf(() => crypto.aeadDecrypt(fromHex(t.ct + t.tag), aad, iv, key.subarray(1)))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => crypto.aeadDecrypt(fromHex(t.tag).subarray(1), aad, iv, key))).toBe('DECRYPT_FAILED');
  });
});

describe('summary', () => {
  test('counts run per file', () => {
    const summary = Object.fromEntries(
      (
        [
          ['x25519_test.json', x25519],
          ['ed25519_test.json', ed25519],
          ['xchacha20_poly1305_test.json', xchacha],
        ] as const
      ).map(([name, file]) => [name, { valid: count(file, 'valid'), invalid: count(file, 'invalid'), acceptable: count(file, 'acceptable') }]),
    );
    // Pinned so a changed vector file is noticed.
    expect(summary).toEqual({
      'x25519_test.json': { valid: 264, invalid: 0, acceptable: 254 },
      'ed25519_test.json': { valid: 88, invalid: 63, acceptable: 0 },
      'xchacha20_poly1305_test.json': { valid: 246, invalid: 69, acceptable: 0 },
    });
  });
});
