/**
 * Seeded randomness for known-answer tests ONLY: an endless stream of
 * BLAKE2b-512(seed || counter) blocks. Never used outside test/.
 */
import type { Crypto, RandomSource } from '../../shared/crypto/types';
import { concatBytes, utf8 } from '../../shared/encoding';

export function seededRandom(hashWith: Crypto, seed: string): RandomSource {
  let counter = 0;
  let pool: Uint8Array = new Uint8Array(0);
  return (length: number) => {
    while (pool.length < length) {
      const ctr = new Uint8Array(8);
      new DataView(ctr.buffer).setBigUint64(0, BigInt(counter++));
      pool = concatBytes(pool, hashWith.hash(concatBytes(utf8(seed), ctr), 64));
    }
    const out = pool.slice(0, length);
    pool = pool.slice(length);
    return out;
  };
}
