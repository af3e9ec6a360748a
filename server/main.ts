/**
 * `npm start`: run one relay process from environment variables.
 * SIGTERM / SIGINT: stop accepting, finish in-flight sends, close Redis, exit 0.
 */
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { startRelay } from './relay';

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
    { url: relay.url, store: relay.store.kind, networkId: relay.networkInfo.networkId, development: relay.root.development },
    'handover relay listening',
  );
  if (relay.store.kind === 'memory') {
    logger.warn('no REDIS_URL: using the embedded in-memory store. NOTHING SURVIVES A RESTART. Set REDIS_URL for real use.');
  }
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

main().catch((err: unknown) => {
  process.stderr.write(`handover relay failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
