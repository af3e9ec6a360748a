/**
 * Removes everything a relay wrote under one Redis key prefix: what a demo
 * or a throw-away run calls when it is done, so it leaves nothing behind
 * on a Redis it shares. Refuses an empty prefix and the relay's default
 * (`ho:`), which belong to real deployments.
 */
import { Redis } from 'ioredis';
import { HandoverError } from '../../shared';
import { redisKeys } from './redis-keys';

const PROTECTED_PREFIXES = new Set(['', 'ho:']);

/** Deletes every key starting with `keyPrefix`; returns how many. */
export async function removeRedisPrefix(url: string, keyPrefix: string): Promise<number> {
  redisKeys(keyPrefix); // the same alphabet as the store's: no glob characters
  if (PROTECTED_PREFIXES.has(keyPrefix)) {
    throw new HandoverError('BAD_REQUEST', `refusing to remove every key under "${keyPrefix}": that prefix is a real relay's; use a prefix of your own`);
  }
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let removed = 0;
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (found.length > 0) removed += await redis.unlink(...found);
    } while (cursor !== '0');
    return removed;
  } finally {
    redis.disconnect();
  }
}
