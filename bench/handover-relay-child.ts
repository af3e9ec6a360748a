/**
 * The real Handover relay as a benchmark server: `start()` for
 * bench/baselines/child.ts, so it runs in its own process next to the
 * load generator, exactly like the baselines.
 *
 * It is `startRelay` with the test defaults plus what a load test needs:
 * the bench network's root key, the chosen store, silent logs, and rate
 * limits raised far beyond any load here (the defaults, e.g. 600 envelopes
 * per device per minute and 120 socket connections per IP per minute,
 * would refuse a benchmark within a second: every bench client shares
 * 127.0.0.1 and one sender device).
 */
import { testConfig } from '../server/config';
import { createLogger } from '../server/logger';
import { startRelay } from '../server/relay';

export interface HandoverRelayOptions {
  /** base64url root public key of the network the bench devices belong to. */
  rootPublicKey: string;
  /** Redis store (and Socket.IO Redis adapter); the embedded store when absent. */
  redisUrl?: string;
  /** Several relay processes on one Redis must share it. */
  redisKeyPrefix?: string;
  /** Per-socket delivery window (count); the relay default when absent. */
  deliveryWindow?: number;
}

const UNLIMITED = 1_000_000_000;

export async function start(options: HandoverRelayOptions): Promise<{ url: string; close(): Promise<void> }> {
  const config = testConfig({
    rootPublicKey: options.rootPublicKey,
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    redisKeyPrefix: options.redisKeyPrefix ?? 'bench:',
    logLevel: 'silent',
    rateLimits: { ipPerMinute: UNLIMITED, sendPerMinute: UNLIMITED, bundlesPerMinute: UNLIMITED, connectPerMinute: UNLIMITED },
    // The drain test queues 1,000+ envelopes for one device; keep the cap above it.
    maxInboxLength: 100_000,
    shutdownGraceMs: 2_000,
    ...(options.deliveryWindow ? { deliveryWindow: options.deliveryWindow } : {}),
    // BENCH_VERIFY_THREADS compares verification threads with inline checks (default: the relay's default).
    ...(process.env.BENCH_VERIFY_THREADS ? { verifyThreads: Number(process.env.BENCH_VERIFY_THREADS) } : {}),
  });
  const relay = await startRelay(config, { logger: createLogger('silent') });
  return { url: relay.url, close: () => relay.close() };
}
