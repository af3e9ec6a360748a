/**
 * Picks the store: Redis when a URL is configured (any number of relay
 * processes), the embedded store when a folder is given (one process,
 * durable), and the in-memory store only when asked for or given neither
 * (tests and throw-away demos: nothing survives a restart).
 */
import { EmbeddedStore } from './embedded-store';
import { MemoryStore } from './memory-store';
import { RedisStore, type StoreLogger } from './redis-store';
import type { RelayStore, StoreKind, StoreOptions } from './types';

export interface StoreConfig extends StoreOptions {
  /** Default: `redis` with a `redisUrl`, `embedded` with an `embeddedDir`, else `memory`. */
  kind?: StoreKind;
  redisUrl?: string;
  /** Redis only: prepended to every key; default `ho:`. */
  keyPrefix?: string;
  /** Redis only: a command with no reply by then fails with UNAVAILABLE. */
  commandTimeoutMs?: number;
  /** Redis only: how long to wait for the first connection. */
  connectTimeoutMs?: number;
  /** Embedded only: the database folder (created with mode 0700). */
  embeddedDir?: string;
  logger?: StoreLogger;
}

export async function createStore(config: StoreConfig = {}): Promise<RelayStore> {
  const { kind, redisUrl, embeddedDir, ...options } = config;
  const chosen = kind ?? (redisUrl ? 'redis' : embeddedDir ? 'embedded' : 'memory');
  if (chosen === 'redis') {
    if (!redisUrl) throw new Error('the Redis store needs a redisUrl');
    return RedisStore.connect({ ...options, url: redisUrl });
  }
  if (chosen === 'embedded') {
    if (!embeddedDir) throw new Error('the embedded store needs a folder (embeddedDir)');
    return EmbeddedStore.open({ ...options, dir: embeddedDir });
  }
  return new MemoryStore(options);
}

export type * from './types';
export { DEFAULT_MAX_INBOX_LENGTH, DEFAULT_RETENTION_MS } from './types';
export { EmbeddedStore, type EmbeddedStoreOptions } from './embedded-store';
export { MemoryStore } from './memory-store';
export { RedisStore, type RedisStoreOptions, type StoreLogger } from './redis-store';
export { removeRedisPrefix } from './redis-cleanup';
