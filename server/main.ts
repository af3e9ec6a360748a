/**
 * `npm start` / `npm run start:prod`: run one relay process from environment
 * variables. SIGTERM / SIGINT: stop accepting, finish in-flight sends, close
 * the store, exit 0 (package.json starts it with `exec`, so the signal a
 * supervisor sends to `npm start` reaches this process).
 */
import { ConfigError, loadConfig } from './config';
import { createLogger, type Logger } from './logger';
import { embeddedStoreDir, type Relay, startRelay } from './relay';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`handover relay: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const relay = await startRelay(config, { logger, processMetrics: true });
  logger.info(
    {
      url: relay.url,
      address: relay.address,
      port: relay.port,
      store: relay.store.kind,
      networkId: relay.networkInfo.networkId,
      development: relay.root.development,
    },
    'handover relay listening',
  );
  announceReach(logger, relay);
  announceStore(logger, relay);
  if (relay.root.development) {
    logger.warn(
      { rootKeyFile: relay.root.devKeyFile, rootPublicKey: relay.networkInfo.rootPublicKey },
      'DEVELOPMENT NETWORK: the root key pair lives in the file above. Try it with `handover network import-root <file>`. Never use it for real cases.',
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight work');
    relay
      .close()
      .then(() => {
        logger.info('relay stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'unclean shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Where the relay can be reached from, in words: loopback only is the default and surprises people. */
function announceReach(logger: Logger, relay: Relay): void {
  if (isLoopback(relay.address)) {
    logger.info({ address: relay.address }, 'reachable from this machine only; put a TLS reverse proxy in front (docs/OPERATIONS.md), or set HOST to listen on another address');
  } else {
    logger.info({ address: relay.address }, 'listening beyond this machine: serve it through a TLS reverse proxy (docs/OPERATIONS.md)');
  }
}

function announceStore(logger: Logger, relay: Relay): void {
  if (relay.store.kind === 'embedded') {
    logger.info(
      { dir: embeddedStoreDir(relay.config) },
      'embedded store: durable (fsync before every acknowledgement) for ONE relay process; run several processes on Redis (REDIS_URL)',
    );
  } else if (relay.store.kind === 'memory') {
    logger.warn('STORE=memory: NOTHING SURVIVES A RESTART (tests only)');
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

main().catch((err: unknown) => {
  process.stderr.write(`handover relay failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
