/**
 * Assembles one relay process: store, trust, services, HTTP app, Socket.IO
 * (with the Redis adapter when Redis is configured), the expiry sweeper, and
 * a graceful close.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type NetworkInfo, type TrustAnchor, trustAnchor, type Crypto, toB64u } from '../shared';
import { loadNodeCrypto } from '../shared/node';
import type { RelayConfig } from './config';
import { type NetworkRoot, resolveNetworkRoot } from './dev-network';
import { errorSummary } from './errors';
import { ExpirySweeper } from './expiry/sweeper';
import { createHttpApp } from './http/app';
import { createLogger, type Logger } from './logger';
import { createMetrics, type RelayMetrics } from './metrics';
import { AuthService } from './services/auth';
import { EnvelopeService } from './services/envelopes';
import { type EnvelopeVerifier, inlineVerifier, startVerifierPool } from './verify/pool';
import { Registry, type RegistryEvents } from './services/registry';
import { RelayTrust } from './services/trust';
import { installRedisAdapter } from './socket/redis-adapter';
import { attachSocketServer, deviceRoom, type RelayServer } from './socket/server';
import { createStore, type RelayStore, type StoreConfig } from './store';

export interface RelayOptions {
  logger?: Logger;
  crypto?: Crypto;
  now?: () => number;
  /** Use this store instead of creating one from the config (tests). */
  store?: RelayStore;
  /** Default metrics (process CPU, memory) — off when several relays share a process. */
  processMetrics?: boolean;
}

export interface Relay {
  /** Where a client on this machine reaches the relay (loopback when it listens on every address). */
  readonly url: string;
  /** The address the listening socket is bound to, as the OS reports it (e.g. 127.0.0.1, 0.0.0.0, ::). */
  readonly address: string;
  readonly port: number;
  readonly config: RelayConfig;
  readonly store: RelayStore;
  readonly io: RelayServer;
  readonly httpServer: HttpServer;
  readonly root: NetworkRoot;
  readonly networkInfo: NetworkInfo;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** Stop accepting, finish in-flight sends (bounded by the shutdown grace), close sockets and the store. */
  close(): Promise<void>;
}

export async function startRelay(config: RelayConfig, options: RelayOptions = {}): Promise<Relay> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const crypto = options.crypto ?? (await loadNodeCrypto());
  const now = options.now ?? Date.now;
  const root = resolveNetworkRoot(crypto, config);
  const anchor = trustAnchor(crypto, root.rootPublicKey);
  const store = options.store ?? (await createStore(storeConfig(config, now, logger)));
  const metrics = createMetrics(options.processMetrics ?? false);
  let accepting = true;
  const isAccepting = () => accepting;
  const networkInfo = networkInfoOf(anchor, root, config);

  const trust = new RelayTrust(anchor, store, now);
  const auth = new AuthService(crypto, trust, store, config, now);
  const verifier = await startVerifier(config, crypto, logger);
  const envelopes = new EnvelopeService(verifier, trust, store, config, now);
  // The socket layer is created after the registry; events reach it through this indirection.
  let io: RelayServer | undefined;
  const registry = new Registry(trust, store, config, registryEvents(() => io), now);

  const app = createHttpApp({ config, store, auth, registry, metrics, logger, networkInfo, isAccepting });
  const httpServer = createServer(app);
  httpServer.headersTimeout = 20_000;
  httpServer.requestTimeout = 30_000;
  const sockets = attachSocketServer(httpServer, { config, store, auth, envelopes, metrics, logger, isAccepting, now });
  io = sockets.io;
  let closing: Promise<void> | undefined;
  const adapter = config.store === 'redis' && config.redisUrl
    ? installRedisAdapter(sockets.io, { redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger, isClosing: () => closing !== undefined })
    : undefined;
  if (adapter) sockets.enableCrossProcess();

  // Expired, undelivered envelopes: tell the sender instead of dropping them silently.
  const sweeper = new ExpirySweeper({
    store,
    now,
    notifySender: (sender, notice) => sockets.io.to(deviceRoom(sender)).emit('envelope:expired', notice),
    countExpired: (copies) => metrics.expired.inc(copies),
    logger,
  });
  sweeper.start(config.expirySweepMs);

  const { port, url, address } = await listen(httpServer, config);

  const close = () =>
    (closing ??= (async () => {
      const trace = (what: string) => logger.debug({ step: what }, 'shutdown');
      accepting = false;
      sweeper.stop();
      const deadline = Date.now() + config.shutdownGraceMs;
      while (sockets.inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      trace('in-flight sends finished');
      const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      sockets.io.disconnectSockets(true);
      await new Promise<void>((resolve) => sockets.io.close(() => resolve()));
      trace('sockets closed');
      httpServer.closeAllConnections();
      await httpClosed;
      trace('http closed');
      await verifier.close();
      if (!options.store) await store.close();
      trace('store closed');
      await adapter?.close();
    })());

  return { url, address, port, config, store, io: sockets.io, httpServer, root, networkInfo, metrics, logger, close };
}

/** The embedded store's folder inside the relay's data folder. */
export function embeddedStoreDir(config: Pick<RelayConfig, 'dataDir'>): string {
  return path.resolve(config.dataDir, 'store');
}

function storeConfig(config: RelayConfig, now: () => number, logger: Logger): StoreConfig {
  return {
    kind: config.store,
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    embeddedDir: embeddedStoreDir(config),
    keyPrefix: config.redisKeyPrefix,
    retentionMs: config.retentionMs,
    maxInboxLength: config.maxInboxLength,
    now,
    logger,
  };
}

/** What GET /v1/network tells clients: the network, its root key and the limits they must respect. */
function networkInfoOf(anchor: TrustAnchor, root: NetworkRoot, config: RelayConfig): NetworkInfo {
  return {
    networkId: anchor.networkId,
    rootPublicKey: toB64u(root.rootPublicKey),
    development: root.development,
    limits: {
      maxEnvelopeBytes: config.maxEnvelopeBytes,
      maxRecipients: config.maxRecipients,
      retentionMs: config.retentionMs,
      maxOneTimePrekeys: config.maxOneTimePrekeys,
      oneTimePrekeyLowWater: config.oneTimePrekeyLowWater,
      sessionTtlMs: config.sessionTtlMs,
    },
  };
}

/** Envelope signatures checked on worker threads when configured, else on the event loop. */
async function startVerifier(config: RelayConfig, crypto: Crypto, logger: Logger): Promise<EnvelopeVerifier> {
  if (config.verifyThreads <= 0) return inlineVerifier(crypto);
  return startVerifierPool(config.verifyThreads, {
    onThreadFailure: (err) => logger.error({ err: errorSummary(err) }, 'verification thread failed; replacing it'),
  });
}

/** Registry changes reach connected devices through their rooms (in every process). */
function registryEvents(io: () => RelayServer | undefined): RegistryEvents {
  return {
    prekeysLow: (deviceId, remaining) => io()?.to(deviceRoom(deviceId)).emit('prekeys:low', { remaining }),
    devicesRevoked: (deviceIds) => {
      if (deviceIds.length > 0) io()?.in(deviceIds.map(deviceRoom)).disconnectSockets(true);
    },
    revocationPublished: (issuer, seq) => io()?.emit('revocations:changed', { issuer, seq }),
  };
}

/** Listens on HOST:PORT; reports the address the OS actually bound, and a URL a local client can use. */
async function listen(httpServer: HttpServer, config: RelayConfig): Promise<{ port: number; url: string; address: string }> {
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port, address, family } = httpServer.address() as AddressInfo;
  return { port, address, url: `http://${localHost(address, family)}:${port}` };
}

function localHost(address: string, family: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return family === 'IPv6' ? `[${address}]` : address;
}
