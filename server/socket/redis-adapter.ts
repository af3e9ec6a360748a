/**
 * The Socket.IO Redis adapter, which carries room emits and `inbox:new`
 * between relay processes on one Redis: its two connections, kept from
 * crashing the process when Redis drops, and closed without leaving a
 * command to reject.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { errorSummary } from '../errors';
import type { Logger } from '../logger';
import type { RelayServer } from './types';

export interface AdapterConnections {
  /** After io.close(): wait (bounded) for the adapter's last replies, then disconnect. */
  close(): Promise<void>;
}

export interface AdapterOptions {
  redisUrl: string;
  keyPrefix: string;
  logger: Pick<Logger, 'warn'>;
  /** True once the relay shuts down: connection errors are expected then, not logged. */
  isClosing: () => boolean;
}

export function installRedisAdapter(io: RelayServer, { redisUrl, keyPrefix, logger, isClosing }: AdapterOptions): AdapterConnections {
  const pub = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
  const sub = pub.duplicate();
  const clients = [pub, sub];
  for (const client of clients) {
    // The adapter fires some commands without awaiting them (unsubscribe on close,
    // publish on fan-out); when Redis drops, their rejections must not crash the process.
    markRejectionsHandled(client);
    client.on('error', (err: unknown) => {
      if (!isClosing()) logger.warn({ err: errorSummary(err) }, 'socket.io adapter redis error');
    });
  }
  io.adapter(createAdapter(pub, sub, { key: `${keyPrefix}sio` }));
  return {
    async close() {
      // io.close() makes the adapter unsubscribe without awaiting it; a PING answered means
      // those replies are in (Redis answers in order), so QUIT leaves no command to reject.
      // Bounded: a client that is reconnecting would otherwise queue the PING forever.
      const bounded = (work: Promise<unknown>) => Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
      await Promise.all(clients.map((client) => bounded(client.ping())));
      for (const client of clients) client.disconnect();
    },
  };
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
