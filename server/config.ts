/**
 * Relay configuration from environment variables, validated once at start.
 * A bad value stops the relay with a message naming the variable, instead of
 * a surprise later.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DAY_MS } from '../shared';


const intFrom = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const EnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: intFrom(0, 65535).default(8080),
  /** Loopback unless told otherwise: a newcomer's relay is not on the network by accident. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** embedded (default without REDIS_URL), redis (default with it), or memory (tests only). */
  STORE: z.enum(['embedded', 'redis', 'memory']).optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,32}$/).default('ho:'),
  /** The network root public key (base64url, 32 bytes). */
  HANDOVER_ROOT_PUBLIC_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 public key (43 characters)').optional(),
  /** A file holding the root public key (alternative to the variable). */
  HANDOVER_ROOT_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  /** The relay's data folder: the embedded store (`store/`) and a development network's root key pair. */
  HANDOVER_DATA_DIR: z.string().min(1).default('.data'),
  RETENTION_DAYS: intFrom(1, 365).default(30),
  MAX_ENVELOPE_BYTES: intFrom(1024, 64 * 1024 * 1024).default(16 * 1024 * 1024 + 64),
  MAX_RECIPIENTS: intFrom(1, 500).default(200),
  MAX_INBOX_LENGTH: intFrom(10, 1_000_000).default(10_000),
  SESSION_TTL_SECONDS: intFrom(60, 7 * 24 * 3600).default(3600),
  /** Requests per minute per client IP, over all HTTP routes. */
  RATE_LIMIT_IP_PER_MINUTE: intFrom(1, 1_000_000).default(600),
  /** Envelopes per minute per device. */
  RATE_LIMIT_SEND_PER_MINUTE: intFrom(1, 10_000_000).default(600),
  /** Bundle fetches per minute per (requesting device, target org). */
  RATE_LIMIT_BUNDLES_PER_MINUTE: intFrom(1, 100_000).default(30),
  /** Socket connections per minute per client IP. */
  RATE_LIMIT_CONNECT_PER_MINUTE: intFrom(1, 1_000_000).default(120),
  /** Comma-separated origins allowed by CORS (browser app). Empty: none. */
  CORS_ORIGINS: z.string().default(''),
  /** Trust X-Forwarded-For from this many proxies (behind a load balancer). */
  TRUST_PROXY_HOPS: intFrom(0, 10).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  EXPIRY_SWEEP_SECONDS: intFrom(1, 3600).default(60),
  /** Envelopes one relay process verifies and stores at once; more are refused with UNAVAILABLE + retryAfterMs. */
  MAX_CONCURRENT_SENDS: intFrom(1, 100_000).default(512),
  /** Ciphertext bytes (MiB) one relay process holds in sends under way; more are refused the same way. */
  MAX_SEND_BUFFER_MB: intFrom(16, 65_536).default(256),
  /** Accept protocol version 1 envelopes (JSON objects) on `envelope:send`; `false` once every client sends version 2 frames. */
  ACCEPT_V1_SENDS: z.enum(['true', 'false'], { message: 'must be true or false' }).default('true'),
  /** Threads verifying envelope signatures; 0 verifies on the event loop. Default: cores − 2 (none below 3 cores), at most 4. */
  VERIFY_THREADS: intFrom(0, 64).optional(),
  SHUTDOWN_GRACE_SECONDS: intFrom(0, 600).default(10),
  /** Where the built web app is (`npm run build:web`); a development relay serves it at `/`, a production relay never does. */
  WEB_APP_DIR: z.string().min(1).default('dist/web'),
  /** Minutes without input before the web app served in development locks itself. */
  WEB_IDLE_LOCK_MINUTES: intFrom(1, 24 * 60).optional(),
});

/** Every environment variable the relay reads (docs/OPERATIONS.md documents each; a test checks). */
export const RELAY_ENV_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

export type StoreChoice = 'embedded' | 'redis' | 'memory';

export interface RelayConfig {
  production: boolean;
  port: number;
  host: string;
  /** Where the relay keeps its state (see chooseStore). */
  store: StoreChoice;
  redisUrl?: string;
  redisKeyPrefix: string;
  rootPublicKey?: string;
  rootPublicKeyFile?: string;
  dataDir: string;
  retentionMs: number;
  maxEnvelopeBytes: number;
  maxRecipients: number;
  maxInboxLength: number;
  sessionTtlMs: number;
  challengeTtlMs: number;
  /** How long a socket ticket stays good (it opens one connection). */
  socketTicketTtlMs: number;
  maxOneTimePrekeys: number;
  oneTimePrekeyLowWater: number;
  rateLimits: {
    ipPerMinute: number;
    sendPerMinute: number;
    bundlesPerMinute: number;
    connectPerMinute: number;
  };
  corsOrigins: string[];
  trustProxyHops: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  expirySweepMs: number;
  shutdownGraceMs: number;
  /** Most envelopes delivered to one socket before it acks some. */
  deliveryWindow: number;
  /** Most envelope bytes delivered to one socket before it acks some. */
  deliveryWindowBytes: number;
  /** Backpressure: sends under way per process (count and ciphertext bytes) before new ones are refused. */
  maxConcurrentSends: number;
  maxSendBufferBytes: number;
  verifyThreads: number;
  /**
   * Version 1 envelopes are accepted on `envelope:send` (older clients during a rollout). Stored and
   * forwarded version 1 envelopes are delivered whatever this says; only new sends are refused.
   */
  acceptV1Sends: boolean;
  /** Development only: serve the web app's build at `/` with a "development" banner (server/http/web-app.ts). */
  webApp?: { dir: string; development: boolean; idleLockMinutes?: number };
}

/**
 * Verification threads only pay when there are cores to spare: measured on
 * a 2-core machine also running Redis, one thread cost 9% of throughput
 * (docs/PERFORMANCE.md). So: none below 3 cores, then one per core beyond
 * two (the event loop's and Redis's / the OS's), at most 4.
 */
export function defaultVerifyThreads(cores = availableParallelism()): number {
  return Math.min(4, Math.max(0, cores - 2));
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): RelayConfig {
  // Empty variables count as unset, as most deploy tools write them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid relay configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.HANDOVER_ROOT_PUBLIC_KEY && !e.HANDOVER_ROOT_PUBLIC_KEY_FILE) {
    throw new ConfigError(
      'NODE_ENV=production needs the network root public key: set HANDOVER_ROOT_PUBLIC_KEY or HANDOVER_ROOT_PUBLIC_KEY_FILE ' +
        '(`handover network init` prints it). The development network is never created in production.',
    );
  }
  return {
    production,
    port: e.PORT,
    host: e.HOST,
    store: chooseStore(e.STORE, e.REDIS_URL, e.NODE_ENV),
    ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    ...(e.HANDOVER_ROOT_PUBLIC_KEY ? { rootPublicKey: e.HANDOVER_ROOT_PUBLIC_KEY } : {}),
    ...(e.HANDOVER_ROOT_PUBLIC_KEY_FILE ? { rootPublicKeyFile: e.HANDOVER_ROOT_PUBLIC_KEY_FILE } : {}),
    dataDir: e.HANDOVER_DATA_DIR,
    retentionMs: e.RETENTION_DAYS * DAY_MS,
    maxEnvelopeBytes: e.MAX_ENVELOPE_BYTES,
    maxRecipients: e.MAX_RECIPIENTS,
    maxInboxLength: e.MAX_INBOX_LENGTH,
    sessionTtlMs: e.SESSION_TTL_SECONDS * 1000,
    challengeTtlMs: 60_000,
    socketTicketTtlMs: 30_000,
    maxOneTimePrekeys: 500,
    oneTimePrekeyLowWater: 20,
    rateLimits: {
      ipPerMinute: e.RATE_LIMIT_IP_PER_MINUTE,
      sendPerMinute: e.RATE_LIMIT_SEND_PER_MINUTE,
      bundlesPerMinute: e.RATE_LIMIT_BUNDLES_PER_MINUTE,
      connectPerMinute: e.RATE_LIMIT_CONNECT_PER_MINUTE,
    },
    corsOrigins: e.CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean),
    trustProxyHops: e.TRUST_PROXY_HOPS,
    logLevel: e.LOG_LEVEL,
    expirySweepMs: e.EXPIRY_SWEEP_SECONDS * 1000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    deliveryWindow: 256,
    deliveryWindowBytes: 32 * 1024 * 1024,
    maxConcurrentSends: e.MAX_CONCURRENT_SENDS,
    maxSendBufferBytes: e.MAX_SEND_BUFFER_MB * 1024 * 1024,
    verifyThreads: e.VERIFY_THREADS ?? defaultVerifyThreads(),
    acceptV1Sends: e.ACCEPT_V1_SENDS === 'true',
    // The relay is assumed compromised: in production the app comes from the org's own host, never from the relay.
    ...(production ? {} : { webApp: { dir: e.WEB_APP_DIR, development: true, ...(e.WEB_IDLE_LOCK_MINUTES ? { idleLockMinutes: e.WEB_IDLE_LOCK_MINUTES } : {}) } }),
  };
}

/**
 * Redis when REDIS_URL is set, else the embedded store. The in-memory store
 * forgets everything on a restart while senders believe their referrals are
 * stored, so it is refused outside tests (NODE_ENV=test) rather than
 * warned about in a log nobody reads.
 */
function chooseStore(store: StoreChoice | undefined, redisUrl: string | undefined, nodeEnv: string | undefined): StoreChoice {
  if (store === 'memory' && nodeEnv !== 'test') {
    throw new ConfigError(
      'STORE=memory keeps nothing across a restart and is for tests only (NODE_ENV=test). ' +
        'Leave STORE unset for the embedded store (durable, in HANDOVER_DATA_DIR), or set REDIS_URL for Redis.',
    );
  }
  if (store === 'redis' && !redisUrl) throw new ConfigError('STORE=redis needs REDIS_URL (redis:// or rediss://).');
  if (store && store !== 'redis' && redisUrl) {
    throw new ConfigError(`STORE=${store} and REDIS_URL are both set: unset REDIS_URL to use the ${store} store, or STORE to use Redis.`);
  }
  return store ?? (redisUrl ? 'redis' : 'embedded');
}

/** Defaults for tests and embedding: loadConfig({}) on the in-memory store, plus overrides. */
export function testConfig(overrides: Partial<RelayConfig> = {}): RelayConfig {
  const store: StoreChoice = overrides.redisUrl ? 'redis' : 'memory';
  const { webApp: _served, ...base } = loadConfig({ PORT: '0', LOG_LEVEL: 'silent' });
  // Test relays serve no web app unless a test asks for it.
  return { ...base, store, ...overrides };
}
