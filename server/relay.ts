/**
 * Assembles one relay process: store, trust, services, HTTP app, Socket.IO
 * (with the Redis adapter when Redis is configured), the expiry sweeper, and
 * a graceful close.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import type { NetworkInfo } from '../shared/api';
import { trustAnchor } from '../shared/certificates';
import { loadNodeCrypto } from '../shared/crypto/node';
import type { Crypto } from '../shared/crypto/types';
import { toB64u } from '../shared/encoding';
import type { RelayConfig } from './config';
import { type NetworkRoot, resolveNetworkRoot } from './dev-network';
import { errorSummary } from './errors';
import { ExpirySweeper } from './expiry/sweeper';
import { createHttpApp } from './http/app';
import { createLogger, type Logger } from './logger';
import { createMetrics, type RelayMetrics } from './metrics';
import { AuthService } from './services/auth';
import { EnvelopeService } from './services/envelopes';
import { inlineVerifier, startVerifierPool } from './verify/pool';
import { Registry } from './services/registry';
import { RelayTrust } from './services/trust';
import { attachSocketServer, deviceRoom, type RelayServer } from './socket/server';
import { createStore, type RelayStore } from './store';

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
  readonly url: string;
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
  const store =
    options.store ??
    (await createStore({
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      keyPrefix: config.redisKeyPrefix,
      retentionMs: config.retentionMs,
      maxInboxLength: config.maxInboxLength,
      now,
      logger,
    }));
  const metrics = createMetrics(options.processMetrics ?? false);
  let accepting = true;
  let closing: Promise<void> | undefined;
  const isAccepting = () => accepting;

  const networkInfo: NetworkInfo = {
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

  const trust = new RelayTrust(anchor, store, now);
  const auth = new AuthService(crypto, trust, store, config, now);
  const verifier =
    config.verifyThreads > 0
      ? await startVerifierPool(config.verifyThreads, { onThreadFailure: (err) => logger.error({ err: errorSummary(err) }, 'verification thread failed; replacing it') })
      : inlineVerifier(crypto);
  const envelopes = new EnvelopeService(verifier, trust, store, config, now);
  // The socket layer is created after the registry; events reach it through this indirection.
  let io: RelayServer | undefined;
  const registry = new Registry(
    trust,
    store,
    config,
    {
      prekeysLow: (deviceId, remaining) => io?.to(deviceRoom(deviceId)).emit('prekeys:low', { remaining }),
      devicesRevoked: (deviceIds) => {
        if (io && deviceIds.length > 0) io.in(deviceIds.map(deviceRoom)).disconnectSockets(true);
      },
      revocationPublished: (issuer, seq) => io?.emit('revocations:changed', { issuer, seq }),
    },
    now,
  );

  const app = createHttpApp({ config, store, auth, registry, metrics, logger, networkInfo, isAccepting });
  const httpServer = createServer(app);
  httpServer.headersTimeout = 20_000;
  httpServer.requestTimeout = 30_000;
  const sockets = attachSocketServer(httpServer, { config, store, auth, envelopes, metrics, logger, isAccepting });
  io = sockets.io;

  let adapterClients: Redis[] = [];
  if (config.redisUrl) {
    const pub = new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
    const sub = pub.duplicate();
    // The adapter fires some commands without awaiting them (unsubscribe on close,
    // publish on fan-out); when Redis drops, their rejections must not crash the process.
    for (const client of [pub, sub]) markRejectionsHandled(client);
    for (const client of [pub, sub]) {
      client.on('error', (err: unknown) => {
        if (!closing) logger.warn({ err: errorSummary(err) }, 'socket.io adapter redis error');
      });
    }
    adapterClients = [pub, sub];
    io.adapter(createAdapter(pub, sub, { key: `${config.redisKeyPrefix}sio` }));
    sockets.enableCrossProcess();
  }

  // Expired, undelivered envelopes: tell the sender instead of dropping them silently.
  const sweeper = new ExpirySweeper({
    store,
    now,
    notifySender: (sender, notice) => io.to(deviceRoom(sender)).emit('envelope:expired', notice),
    countExpired: (copies) => metrics.expired.inc(copies),
    logger,
  });
  sweeper.start(config.expirySweepMs);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  const close = () =>
    (closing ??= (async () => {
      const trace = (what: string) => logger.debug({ step: what }, 'shutdown');
      accepting = false;
      sweeper.stop();
      const deadline = Date.now() + config.shutdownGraceMs;
      while (sockets.inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      trace('in-flight sends finished');
      const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      trace('sockets closed');
      httpServer.closeAllConnections();
      await httpClosed;
      trace('http closed');
      await verifier.close();
      if (!options.store) await store.close();
      trace('store closed');
      // io.close() makes the adapter unsubscribe without awaiting it; a PING answered means
      // those replies are in (Redis answers in order), so QUIT leaves no command to reject.
      // Bounded: a client that is reconnecting would otherwise queue the PING forever.
      const bounded = (work: Promise<unknown>) => Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
      await Promise.all(adapterClients.map((client) => bounded(client.ping())));
      for (const client of adapterClients) client.disconnect();
    })());

  return { url: `http://${host}:${port}`, port, config, store, io, httpServer, root, networkInfo, metrics, logger, close };
}

/** Give every command promise of this client a handler, so an orphaned one cannot become an unhandled rejection. */
function markRejectionsHandled(client: Redis): void {
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const result = send(...args);
    if (result instanceof Promise) result.catch(() => undefined);
    return result;
  }) as Redis['sendCommand'];
}
