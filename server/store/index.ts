/**
 * Picks the store: Redis when a URL is configured, otherwise the in-memory
 * store (single process; nothing survives a restart — the caller says so at start).
 */
import { MemoryStore } from './memory-store';
import { RedisStore, type StoreLogger } from './redis-store';
import type { RelayStore, StoreOptions } from './types';

export interface StoreConfig extends StoreOptions {
  redisUrl?: string;
  /** Redis only: prepended to every key; default `ho:`. */
  keyPrefix?: string;
  /** Redis only: a command with no reply by then fails with UNAVAILABLE. */
  commandTimeoutMs?: number;
  /** Redis only: how long to wait for the first connection. */
  connectTimeoutMs?: number;
  logger?: StoreLogger;
}

export async function createStore(config: StoreConfig = {}): Promise<RelayStore> {
  const { redisUrl, ...options } = config;
  if (!redisUrl) return new MemoryStore(options);
  return RedisStore.connect({ ...options, url: redisUrl });
}

export type * from './types';
export { DEFAULT_MAX_INBOX_LENGTH, DEFAULT_RETENTION_MS } from './types';
export { MemoryStore } from './memory-store';
export { RedisStore, type RedisStoreOptions, type StoreLogger } from './redis-store';
