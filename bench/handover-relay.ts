/**
 * The real Handover relay as a benchmark server: the production entry
 * (server/main.ts) in its own process next to the load generator, started
 * the one way tests start relays (test/support/relay-process.ts), with the
 * probe that reads its CPU, memory and clock the way bench/baselines/child.ts
 * reads the baselines'.
 *
 * Configured for a load test: the bench network's root key, the chosen
 * store, and rate limits raised to the configuration's maxima (the
 * defaults, e.g. 600 envelopes per device per minute and 120 socket
 * connections per IP per minute, would refuse a benchmark within a second:
 * every bench client shares 127.0.0.1 and one sender device).
 */
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../test/support/relay-process';

export interface HandoverRelayOptions {
  /** base64url root public key of the network the bench devices belong to. */
  rootPublicKey: string;
  /** Redis store (and Socket.IO Redis adapter); the embedded store when absent. */
  redisUrl?: string;
  /** Several relay processes on one Redis must share it. */
  redisKeyPrefix?: string;
}

export function startHandoverRelay(options: HandoverRelayOptions, processOptions: { execArgv?: string[] } = {}): Promise<RelayProcess> {
  return spawnRelay(
    {
      HANDOVER_ROOT_PUBLIC_KEY: options.rootPublicKey,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      REDIS_KEY_PREFIX: options.redisKeyPrefix ?? 'bench:',
      ...OPEN_LIMITS,
      // The drain test queues 1,000+ envelopes for one device; keep the cap above it.
      MAX_INBOX_LENGTH: '100000',
      SHUTDOWN_GRACE_SECONDS: '2',
      // BENCH_VERIFY_THREADS compares verification threads with inline checks (default: the relay's default).
      ...(process.env.BENCH_VERIFY_THREADS ? { VERIFY_THREADS: process.env.BENCH_VERIFY_THREADS } : {}),
    },
    { ...processOptions, measure: true },
  );
}
