/**
 * The baseline relay scenarios: the bare relay, then the durable relay on a
 * private redis-server per fsync policy, each over the whole plan. Servers
 * run in child processes; the clients and the load driver run here.
 */
import path from 'node:path';
import { randomFillSync } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { type CpuProbe, type LoadTarget, runLoad } from '../load';
import { type BenchContext, type Durability, type RelayConfig, type RelayRow, loadOptionsFor, redisProbe, rowFromLoad, serverProbe } from '../scenario';
import { type ServerProcess, startServerProcess } from '../server-process';
import { progress } from '../timing';

const BARE = path.join(__dirname, 'bare-relay.ts');
const DURABLE = path.join(__dirname, 'durable-relay.ts');

export interface BaselineTarget extends LoadTarget {
  close(): void;
}

interface Delivery {
  id: number;
  entry?: string;
  payload: Buffer;
}

function connect(url: string, deviceId: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], query: { deviceId }, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Sender and recipient sockets for one config; each message goes to every recipient device. */
export async function connectBaselineClients(url: string, config: RelayConfig): Promise<BaselineTarget> {
  const recipientIds = Array.from({ length: config.recipients }, (_, i) => `r${i}`);
  const senders = await Promise.all(Array.from({ length: config.senders }, (_, i) => connect(url, `s${i}`)));
  const recipients = await Promise.all(recipientIds.map((id) => connect(url, id)));
  const payload = randomFillSync(Buffer.alloc(config.bodyBytes));
  let delivered: (seq: number, at?: number) => void = () => undefined;
  for (const socket of recipients) {
    socket.on('deliver', (msg: Delivery) => {
      delivered(msg.id);
      // The durable relay names a stream entry; acking it lets the relay delete it.
      if (msg.entry !== undefined) socket.emit('ack', { entry: msg.entry });
    });
  }
  return {
    fanOut: recipientIds.length,
    observe(fn) {
      delivered = fn;
    },
    send(seq) {
      const socket = senders[seq % senders.length] as Socket;
      return new Promise<void>((resolve, reject) => {
        socket.emit('send', { to: recipientIds, id: seq, payload }, (res: { ok: boolean; error?: string }) => {
          if (res.ok) resolve();
          else reject(new Error(res.error ?? 'refused'));
        });
      });
    },
    close() {
      for (const socket of [...senders, ...recipients]) socket.close();
    },
  };
}

async function runSystem(
  ctx: BenchContext,
  system: string,
  durability: Durability,
  server: ServerProcess,
  extraProbes: CpuProbe[],
): Promise<RelayRow[]> {
  const rows: RelayRow[] = [];
  const probes = [serverProbe(server), ...extraProbes];
  for (const config of ctx.plan.configs) {
    const target = await connectBaselineClients(server.url, config);
    try {
      for (const mode of config.modes) {
        const label = `${system}${durability === 'none' ? '' : `/${durability}`} ${config.bodyBytes} B × ${config.recipients} ${mode.kind === 'closed' ? `closed ${mode.window}` : `open ${mode.ratePerS}/s`}`;
        const result = await runLoad(target, loadOptionsFor(ctx.plan, label, mode, probes));
        rows.push(rowFromLoad({ system, durability, config }, result));
      }
    } finally {
      target.close();
    }
  }
  return rows;
}

export async function bareRelayScenario(ctx: BenchContext): Promise<RelayRow[]> {
  progress('baseline: bare Socket.IO relay');
  const server = await startServerProcess(BARE, {});
  try {
    return await runSystem(ctx, 'bare', 'none', server, []);
  } finally {
    await server.close();
  }
}

export async function durableRelayScenario(ctx: BenchContext): Promise<RelayRow[]> {
  const rows: RelayRow[] = [];
  for (const appendfsync of ctx.plan.durabilities) {
    progress(`baseline: durable relay, Redis AOF appendfsync ${appendfsync}`);
    const redis = await ctx.startRedis({ appendfsync });
    const redisCpu = redisProbe(redis);
    const server = await startServerProcess(DURABLE, { redisUrl: redis.url });
    try {
      rows.push(...(await runSystem(ctx, 'durable', appendfsync, server, [redisCpu])));
    } finally {
      await server.close();
      redisCpu.close();
      await redis.destroy();
    }
  }
  return rows;
}
