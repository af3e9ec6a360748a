/**
 * Relay configuration: defaults, every variable parsed, bad values refused
 * with the variable named, production refusing to start without the network
 * root key, the key from a file (bare or JSON), and the development network
 * root created once (mode 0600) and reused.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { fromB64u, toB64u } from '../../shared/encoding';
import { ConfigError, RELAY_ENV_VARIABLES, defaultVerifyThreads, loadConfig, type RelayConfig, testConfig } from '../../server/config';
import { DEV_ROOT_FILE, resolveNetworkRoot } from '../../server/dev-network';
import { startRelay } from '../../server/relay';
import { createLogger } from '../../server/logger';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

let crypto: Crypto;
let tmp: string;
beforeAll(async () => {
  crypto = await loadCrypto();
  tmp = mkdtempSync(join(tmpdir(), 'handover-config-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = () => join(tmp, `case-${++dirs}`);
const aKey = () => toB64u(crypto.signKeyPair().publicKey);

/** The ConfigError message for these variables (fails if nothing is thrown). */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('defaultVerifyThreads', () => {
  it('verifies inline on 1-2 cores, then leaves two cores to the event loop and Redis, and stops at 4 threads', () => {
    expect([1, 2, 3, 4, 6, 16].map((cores) => defaultVerifyThreads(cores))).toEqual([0, 0, 1, 2, 4, 4]);
  });
});

describe('docs/OPERATIONS.md', () => {
  it('documents every variable the relay reads in its table', () => {
    const operations = readFileSync(join(__dirname, '../../docs/OPERATIONS.md'), 'utf8');
    const documented = new Set([...operations.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect(RELAY_ENV_VARIABLES.length).toBeGreaterThan(20);
    expect(RELAY_ENV_VARIABLES.filter((name) => !documented.has(name))).toEqual([]);
  });
});

describe('loadConfig', () => {
  it('defaults', () => {
    const expected: RelayConfig = {
      production: false,
      port: 8080,
      host: '127.0.0.1',
      store: 'embedded',
      redisKeyPrefix: 'ho:',
      dataDir: '.data',
      retentionMs: 30 * DAY,
      maxEnvelopeBytes: 16 * 1024 * 1024 + 64,
      maxRecipients: 200,
      maxInboxLength: 10_000,
      sessionTtlMs: 3600_000,
      challengeTtlMs: MIN,
      socketTicketTtlMs: 30_000,
      maxOneTimePrekeys: 500,
      oneTimePrekeyLowWater: 20,
      rateLimits: { ipPerMinute: 600, sendPerMinute: 600, bundlesPerMinute: 30, connectPerMinute: 120 },
      corsOrigins: [],
      trustProxyHops: 0,
      logLevel: 'info',
      expirySweepMs: MIN,
      shutdownGraceMs: 10_000,
      deliveryWindow: 256,
      deliveryWindowBytes: 32 * 1024 * 1024,
      maxConcurrentSends: 512,
      maxSendBufferBytes: 256 * 1024 * 1024,
      verifyThreads: defaultVerifyThreads(),
      acceptV1Sends: true,
      // A development relay serves the web app's build (server/http/web-app.ts).
      webApp: { dir: 'dist/web', development: true },
    };
    expect(loadConfig({})).toEqual(expected);
    // Optional settings are absent, not present as undefined.
    for (const key of ['redisUrl', 'rootPublicKey', 'rootPublicKeyFile']) expect(key in loadConfig({})).toBe(false);
  });

  it('reads every variable', () => {
    const key = aKey();
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '9000',
      HOST: '127.0.0.1',
      REDIS_URL: 'rediss://user:pw@redis.internal:6380/2',
      REDIS_KEY_PREFIX: 'handover-eu:',
      HANDOVER_ROOT_PUBLIC_KEY: key,
      HANDOVER_ROOT_PUBLIC_KEY_FILE: '/etc/handover/root.json',
      HANDOVER_DATA_DIR: '/var/lib/handover',
      RETENTION_DAYS: '14',
      MAX_ENVELOPE_BYTES: '1048576',
      MAX_RECIPIENTS: '50',
      MAX_INBOX_LENGTH: '500',
      SESSION_TTL_SECONDS: '900',
      RATE_LIMIT_IP_PER_MINUTE: '100',
      RATE_LIMIT_SEND_PER_MINUTE: '200',
      RATE_LIMIT_BUNDLES_PER_MINUTE: '10',
      RATE_LIMIT_CONNECT_PER_MINUTE: '20',
      CORS_ORIGINS: ' https://app.example.org , ,http://localhost:5173 ',
      TRUST_PROXY_HOPS: '2',
      LOG_LEVEL: 'warn',
      EXPIRY_SWEEP_SECONDS: '5',
      SHUTDOWN_GRACE_SECONDS: '30',
      MAX_CONCURRENT_SENDS: '64',
      MAX_SEND_BUFFER_MB: '32',
      VERIFY_THREADS: '3',
      ACCEPT_V1_SENDS: 'false',
    });
    expect(config).toMatchObject({
      production: true,
      port: 9000,
      host: '127.0.0.1',
      store: 'redis',
      redisUrl: 'rediss://user:pw@redis.internal:6380/2',
      redisKeyPrefix: 'handover-eu:',
      rootPublicKey: key,
      rootPublicKeyFile: '/etc/handover/root.json',
      dataDir: '/var/lib/handover',
      retentionMs: 14 * DAY,
      maxEnvelopeBytes: 1048576,
      maxRecipients: 50,
      maxInboxLength: 500,
      sessionTtlMs: 900_000,
      rateLimits: { ipPerMinute: 100, sendPerMinute: 200, bundlesPerMinute: 10, connectPerMinute: 20 },
      corsOrigins: ['https://app.example.org', 'http://localhost:5173'],
      trustProxyHops: 2,
      logLevel: 'warn',
      expirySweepMs: 5000,
      shutdownGraceMs: 30_000,
      maxConcurrentSends: 64,
      maxSendBufferBytes: 32 * 1024 * 1024,
      verifyThreads: 3,
      acceptV1Sends: false,
    });
  });

  it('treats empty variables as unset and ignores unrelated ones', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '', HANDOVER_ROOT_PUBLIC_KEY: '', PATH: '/usr/bin', HOME: '/root' })).toEqual(loadConfig({}));
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', ' 80'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_KEY_PREFIX', 'has space'],
    ['REDIS_KEY_PREFIX', 'x{tag}'],
    ['REDIS_KEY_PREFIX', 'p'.repeat(33)],
    ['HANDOVER_ROOT_PUBLIC_KEY', 'too-short'],
    ['HANDOVER_ROOT_PUBLIC_KEY', `${'A'.repeat(43)}=`],
    ['HANDOVER_ROOT_PUBLIC_KEY', 'A'.repeat(42) + '+'],
    ['RETENTION_DAYS', '0'],
    ['RETENTION_DAYS', '366'],
    ['MAX_ENVELOPE_BYTES', '1023'],
    ['MAX_RECIPIENTS', '0'],
    ['MAX_RECIPIENTS', '501'],
    ['MAX_INBOX_LENGTH', '9'],
    ['SESSION_TTL_SECONDS', '59'],
    ['SESSION_TTL_SECONDS', '1e3'],
    ['RATE_LIMIT_IP_PER_MINUTE', '0'],
    ['RATE_LIMIT_SEND_PER_MINUTE', 'lots'],
    ['RATE_LIMIT_BUNDLES_PER_MINUTE', '100001'],
    ['RATE_LIMIT_CONNECT_PER_MINUTE', '0'],
    ['TRUST_PROXY_HOPS', '11'],
    ['TRUST_PROXY_HOPS', 'true'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'INFO'],
    ['EXPIRY_SWEEP_SECONDS', '0'],
    ['SHUTDOWN_GRACE_SECONDS', '601'],
    ['STORE', 'sqlite'],
    ['STORE', 'Embedded'],
    ['ACCEPT_V1_SENDS', 'no'],
    ['ACCEPT_V1_SENDS', 'FALSE'],
  ])('refuses %s=%j, naming the variable', (name, value) => {
    const message = configError({ [name]: value });
    expect(message).toContain(`  ${name}: `);
    // Only that variable is blamed.
    expect(message.split('\n').filter((l) => l.startsWith('  '))).toHaveLength(1);
  });

  it('names every bad variable at once', () => {
    const message = configError({ PORT: 'x', LOG_LEVEL: 'loud', RETENTION_DAYS: '0' });
    for (const name of ['PORT', 'LOG_LEVEL', 'RETENTION_DAYS']) expect(message).toContain(`  ${name}: `);
  });

  it('does not echo the value of a bad variable (it may be a secret such as a Redis password)', () => {
    const message = configError({ REDIS_URL: 'http://user:hunter2-secret@redis:6379' });
    expect(message).not.toContain('hunter2-secret');
  });

  it('NODE_ENV=production without the root public key throws ConfigError; with it, starts in production mode', () => {
    const message = configError({ NODE_ENV: 'production' });
    expect(message).toMatch(/HANDOVER_ROOT_PUBLIC_KEY/);
    expect(message).toMatch(/development network is never created in production/);
    expect(() => loadConfig({ NODE_ENV: 'production', HANDOVER_DATA_DIR: tmp })).toThrow(ConfigError);
    expect(loadConfig({ NODE_ENV: 'production', HANDOVER_ROOT_PUBLIC_KEY: aKey() }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', HANDOVER_ROOT_PUBLIC_KEY_FILE: '/run/secrets/root' }).production).toBe(true);
    for (const env of ['development', 'test', 'staging', 'Production']) expect(loadConfig({ NODE_ENV: env }).production).toBe(false);
  });

  it('testConfig: loopback, free port, silent, the in-memory store (Redis when given a URL), with overrides', () => {
    expect(testConfig()).toMatchObject({ port: 0, host: '127.0.0.1', logLevel: 'silent', production: false, store: 'memory' });
    expect(testConfig({ redisUrl: 'redis://127.0.0.1:1' }).store).toBe('redis');
    expect(testConfig({ sessionTtlMs: 500 }).sessionTtlMs).toBe(500);
  });

  it('listens on loopback unless HOST says otherwise', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '::' }).host).toBe('::');
  });

  it('chooses the embedded store without REDIS_URL and Redis with it; STORE says so explicitly', () => {
    expect(loadConfig({}).store).toBe('embedded');
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:7000' }).store).toBe('redis');
    expect(loadConfig({ STORE: 'embedded' }).store).toBe('embedded');
    expect(loadConfig({ STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:7000' }).store).toBe('redis');
    expect(configError({ STORE: 'redis' })).toMatch(/STORE=redis needs REDIS_URL/);
    expect(configError({ STORE: 'embedded', REDIS_URL: 'redis://127.0.0.1:7000' })).toMatch(/both set/);
  });

  it('refuses the in-memory store outside tests, saying what to use instead', () => {
    for (const NODE_ENV of [undefined, 'production', 'development']) {
      const env: Record<string, string> = { STORE: 'memory', HANDOVER_ROOT_PUBLIC_KEY: aKey(), ...(NODE_ENV ? { NODE_ENV } : {}) };
      const message = configError(env);
      expect(message).toMatch(/STORE=memory keeps nothing across a restart and is for tests only \(NODE_ENV=test\)/);
      expect(message).toMatch(/embedded store[\s\S]*REDIS_URL/);
    }
    expect(loadConfig({ STORE: 'memory', NODE_ENV: 'test' }).store).toBe('memory');
  });
});

describe('the network root', () => {
  it('HANDOVER_ROOT_PUBLIC_KEY is used as is (and wins over a key file)', () => {
    const key = aKey();
    const root = resolveNetworkRoot(crypto, loadConfig({ HANDOVER_ROOT_PUBLIC_KEY: key, HANDOVER_ROOT_PUBLIC_KEY_FILE: join(tmp, 'missing') }));
    expect(root).toEqual({ rootPublicKey: fromB64u(key), development: false });
  });

  it('HANDOVER_ROOT_PUBLIC_KEY_FILE holding the bare key (with a trailing newline)', () => {
    const key = aKey();
    const file = join(tmp, 'root-bare.txt');
    writeFileSync(file, `${key}\n`);
    const root = resolveNetworkRoot(crypto, loadConfig({ HANDOVER_ROOT_PUBLIC_KEY_FILE: file }));
    expect(root.development).toBe(false);
    expect(toB64u(root.rootPublicKey)).toBe(key);
  });

  it('HANDOVER_ROOT_PUBLIC_KEY_FILE holding JSON with a publicKey field', () => {
    const key = aKey();
    const file = join(tmp, 'root.json');
    writeFileSync(file, `${JSON.stringify({ networkId: 'x', publicKey: key, createdAt: 1 }, null, 2)}\n`);
    const root = resolveNetworkRoot(crypto, loadConfig({ NODE_ENV: 'production', HANDOVER_ROOT_PUBLIC_KEY_FILE: file }));
    expect(root.development).toBe(false);
    expect(toB64u(root.rootPublicKey)).toBe(key);
  });

  it.each([
    ['a missing file', null],
    ['a file without a key', 'hello'],
    ['a key of the wrong length', toB64u(new Uint8Array(31))],
    ['JSON without a publicKey', '{"key": "x"}'],
    ['JSON with a non-string publicKey', '{"publicKey": 42}'],
  ])('HANDOVER_ROOT_PUBLIC_KEY_FILE with %s → ConfigError naming the variable', (_name, content) => {
    const file = join(tmp, `bad-${Math.random().toString(36).slice(2)}`);
    if (content !== null) writeFileSync(file, content);
    const config = loadConfig({ NODE_ENV: 'production', HANDOVER_ROOT_PUBLIC_KEY_FILE: file });
    expect(() => resolveNetworkRoot(crypto, config)).toThrow(ConfigError);
    expect(() => resolveNetworkRoot(crypto, config)).toThrow(/HANDOVER_ROOT_PUBLIC_KEY_FILE/);
  });

  it('a production config never falls back to a development root', () => {
    const dataDir = freshDir();
    expect(() => resolveNetworkRoot(crypto, testConfig({ production: true, dataDir }))).toThrow(ConfigError);
    expect(() => statSync(dataDir)).toThrow();
  });
});

describe('the development network', () => {
  const start = (config: RelayConfig) => startRelay(config, { crypto, logger: createLogger('silent') });

  it('is created in the data folder (file 0600, folder 0700) and reused on the next start', async () => {
    const dataDir = join(freshDir(), 'nested', 'data');
    const first = await start(testConfig({ dataDir }));
    let firstKey: string;
    try {
      expect(first.root.development).toBe(true);
      expect(first.networkInfo.development).toBe(true);
      const file = join(dataDir, DEV_ROOT_FILE);
      expect(first.root.devKeyFile).toBe(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const record = JSON.parse(readFileSync(file, 'utf8')) as { warning: string; publicKey: string; privateKey: string };
      expect(record.warning).toMatch(/DEVELOPMENT NETWORK ONLY/);
      expect(record.publicKey).toBe(first.networkInfo.rootPublicKey);
      // The private key matches the public key: it can really sign as the root.
      const sig = crypto.sign(new Uint8Array([1, 2, 3]), fromB64u(record.privateKey));
      expect(crypto.verify(sig, new Uint8Array([1, 2, 3]), fromB64u(record.publicKey))).toBe(true);
      firstKey = record.publicKey;
    } finally {
      await first.close();
    }
    const before = readFileSync(join(dataDir, DEV_ROOT_FILE), 'utf8');
    const second = await start(testConfig({ dataDir }));
    try {
      expect(second.root.development).toBe(true);
      expect(second.networkInfo.rootPublicKey).toBe(firstKey);
      expect(readFileSync(join(dataDir, DEV_ROOT_FILE), 'utf8')).toBe(before);
    } finally {
      await second.close();
    }
  });

  it('is not created when a root key is configured, nor in production without one', async () => {
    const dataDir = freshDir();
    mkdirSync(dataDir);
    const configured = await start(testConfig({ dataDir, rootPublicKey: aKey() }));
    try {
      expect(configured.root.development).toBe(false);
      expect(configured.networkInfo.development).toBe(false);
    } finally {
      await configured.close();
    }
    await expect(start(testConfig({ dataDir, production: true }))).rejects.toBeInstanceOf(ConfigError);
    expect(() => statSync(join(dataDir, DEV_ROOT_FILE))).toThrow();
  });
});
