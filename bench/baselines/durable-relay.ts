/**
 * Baseline: the bare relay plus the least a store-and-forward relay must do.
 * Before acking a `send` it appends the message to each recipient's Redis
 * stream (one XADD per recipient, pipelined in one round trip); each
 * delivery names its stream entry and the recipient's `ack` XDELs it.
 * The durability cost (AOF everysec / always) is set on the redis-server.
 */
import { Redis } from 'ioredis';
import type { Socket } from 'socket.io';
import { type BaselineOptions, type RunningServer, type SendAck, type SendMessage, closeSocketIo, listenSocketIo } from './bare-relay';

const inboxKey = (deviceId: string): string => `bench:inbox:{${deviceId}}`;

export async function start(options: BaselineOptions = {}): Promise<RunningServer> {
  if (!options.redisUrl) throw new Error('durable relay needs redisUrl');
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  await redis.ping();
  const { io, url } = await listenSocketIo(options.port);
  io.on('connection', (socket: Socket) => {
    const deviceId = socket.data.deviceId as string;
    socket.on('send', async (msg: SendMessage, ack: SendAck) => {
      const pipeline = redis.pipeline();
      for (const to of msg.to) pipeline.xadd(inboxKey(to), '*', 'id', String(msg.id), 'payload', msg.payload);
      const results = (await pipeline.exec()) ?? [];
      msg.to.forEach((to, i) => {
        const [err, entry] = results[i] ?? [new Error('no reply'), null];
        if (!err) io.to(to).emit('deliver', { id: msg.id, entry, payload: msg.payload });
      });
      const failed = results.find(([err]) => err)?.[0];
      ack(failed ? { ok: false, error: failed.message } : { ok: true });
    });
    socket.on('ack', (msg: { entry: string }) => {
      void redis.xdel(inboxKey(deviceId), msg.entry).catch(() => undefined);
    });
  });
  return {
    url,
    async close() {
      await closeSocketIo(io);
      await redis.quit();
    },
  };
}
