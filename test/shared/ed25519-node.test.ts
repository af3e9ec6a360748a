/**
 * The relay and the Node CLI verify Ed25519 through OpenSSL
 * (shared/crypto/ed25519-node.ts). It must agree with libsodium on every
 * signature a real device produces and on every tampered one; Wycheproof
 * edge cases are in wycheproof.test.ts.
 */
import fc from 'fast-check';
import { nodeEd25519Verifier } from '../../shared/crypto/ed25519-node';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';

let sodium: Crypto;
let node: Crypto;
beforeAll(async () => {
  sodium = await loadCrypto();
  node = await loadNodeCrypto();
});

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const messageArb = fc.uint8Array({ maxLength: 2048 });

test('agrees with libsodium on genuine signatures and on any one flipped bit of signature, message or key', () => {
  fc.assert(
    fc.property(seedArb, messageArb, fc.constantFrom('signature', 'message', 'key', 'none'), fc.nat(), (seed, message, field, at) => {
      const keys = sodium.signKeyPair(seed);
      const signature = sodium.sign(message, keys.privateKey);
      const parts = { signature: signature.slice(), message: message.slice(), key: keys.publicKey.slice() };
      if (field !== 'none') {
        const target = parts[field];
        if (target.length === 0) return;
        const bit = at % (target.length * 8);
        target[bit >> 3]! ^= 1 << (bit & 7);
      }
      const expected = sodium.verify(parts.signature, parts.message, parts.key);
      expect(node.verify(parts.signature, parts.message, parts.key)).toBe(expected);
      if (field === 'none') expect(expected).toBe(true);
    }),
    { numRuns: 400 },
  );
});

test('a small key cache still verifies every key correctly after evictions', () => {
  const verify = nodeEd25519Verifier(2);
  const message = new TextEncoder().encode('cache');
  const signers = Array.from({ length: 5 }, (_, i) => sodium.signKeyPair(new Uint8Array(32).fill(i + 1)));
  for (let round = 0; round < 3; round++) {
    for (const [i, s] of signers.entries()) {
      expect(verify(sodium.sign(message, s.privateKey), message, s.publicKey)).toBe(true);
      const other = signers[(i + 1) % signers.length]!;
      expect(verify(sodium.sign(message, s.privateKey), message, other.publicKey)).toBe(false);
    }
  }
});

test('malformed input gives false, never an exception', () => {
  const verify = nodeEd25519Verifier();
  expect(verify(new Uint8Array(63), new Uint8Array(1), new Uint8Array(32))).toBe(false);
  expect(verify(new Uint8Array(64), new Uint8Array(1), new Uint8Array(31))).toBe(false);
  expect(verify(new Uint8Array(64).fill(0xff), new Uint8Array(1), new Uint8Array(32).fill(0xff))).toBe(false);
});
