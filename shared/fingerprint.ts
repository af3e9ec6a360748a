/**
 * Human-comparable fingerprints for org and device keys: 60 decimal digits
 * in 12 groups of 5, read aloud over the phone to confirm a key (the shape
 * of Signal's safety numbers). Each 5-digit group comes from 5 hash bytes
 * taken modulo 100000, so the code carries about 200 bits.
 */
import { DOMAIN } from './canonical';
import type { Crypto } from './crypto/types';
import { concatBytes, lengthPrefixed, utf8 } from './encoding';

const ITERATIONS = 1024; // slows brute-force search for a colliding key

export function fingerprint(crypto: Crypto, kind: 'org' | 'device', id: string, publicKey: Uint8Array): string {
  let digest = crypto.hash(lengthPrefixed(utf8(DOMAIN.fingerprint), utf8(kind), utf8(id), publicKey), 64);
  for (let i = 1; i < ITERATIONS; i++) digest = crypto.hash(concatBytes(digest, publicKey), 64);
  const groups: string[] = [];
  for (let g = 0; g < 12; g++) {
    let n = 0;
    for (let b = 0; b < 5; b++) n = n * 256 + (digest[g * 5 + b] ?? 0);
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}
