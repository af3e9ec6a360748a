/**
 * The baseline relay scenarios: the bare relay, then the durable relay on a
 * private redis-server per fsync policy, each over the whole plan. Servers
 * run in child processes (started together up front, see prestart.ts); the
 * clients and the load driver run here.
 */
import path from 'node:path';
import { randomFillSync } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { type CpuProbe, type LoadMode, type LoadTarget, runLoad } from '../load';
import { type BenchContext, type Durability, type RelayConfig, type RelayRow, loadOptionsFor, redisProbe, rowFromLoad, serverProbe, isHeadline, targetLoad } from '../scenario';
import type { TestRedis } from '../../test/support/redis';
import { prestart, prestarted } from '../prestart';
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
  /** One more mode to run after a config's own, decided from the rows so far (the latency target). */
  extraMode: (config: RelayConfig, rows: readonly RelayRow[]) => LoadMode | null = () => null,
): Promise<RelayRow[]> {
  const rows: RelayRow[] = [];
  const probes = [serverProbe(server), ...extraProbes];
  for (const config of ctx.plan.configs) {
    const target = await connectBaselineClients(server.url, config);
    try {
      for (let i = 0, modes = [...config.modes]; i < modes.length; i++) {
        const mode = modes[i] as LoadMode;
        const label = `${system}${durability === 'none' ? '' : `/${durability}`} ${config.bodyBytes} B × ${config.recipients} ${mode.kind === 'closed' ? `closed ${mode.window}` : `open ${mode.ratePerS}/s`}`;
        const result = await runLoad(target, loadOptionsFor(ctx.plan, label, mode, probes));
        rows.push(rowFromLoad({ system, durability, config }, result));
        const extra = i === modes.length - 1 && i < config.modes.length ? extraMode(config, rows) : null;
        if (extra) modes.push(extra);
      }
    } finally {
      target.close();
    }
  }
  return rows;
}

interface DurableServer {
  server: ServerProcess;
  redis: TestRedis;
}

let bareStart: Promise<ServerProcess> | undefined;
const durableStarts = new Map<string, Promise<DurableServer>>();

/** Start the baseline servers (each durable one on its own fresh redis-server) side by side; see prestart.ts. */
export function startBaselineServers(ctx: BenchContext): void {
  bareStart ??= prestart(startServerProcess(BARE, {}));
  for (const appendfsync of ctx.plan.durabilities) {
    if (durableStarts.has(appendfsync)) continue;
    const started = (async (): Promise<DurableServer> => {
      const redis = await ctx.startRedis({ appendfsync });
      try {
        return { server: await startServerProcess(DURABLE, { redisUrl: redis.url }), redis };
      } catch (err) {
        await redis.destroy();
        throw err;
      }
    })();
    durableStarts.set(appendfsync, prestart(started));
  }
}

export async function bareRelayScenario(ctx: BenchContext): Promise<RelayRow[]> {
  progress('baseline: bare Socket.IO relay');
  startBaselineServers(ctx);
  await prestarted();
  const server = await (bareStart as Promise<ServerProcess>);
  try {
    return await runSystem(ctx, 'bare', 'none', server, []);
  } finally {
    await server.close();
  }
}

export async function durableRelayScenario(ctx: BenchContext): Promise<RelayRow[]> {
  const rows: RelayRow[] = [];
  startBaselineServers(ctx);
  await prestarted();
  try {
    for (const appendfsync of ctx.plan.durabilities) {
      progress(`baseline: durable relay, Redis AOF appendfsync ${appendfsync}`);
      const { server, redis } = await (durableStarts.get(appendfsync) as Promise<DurableServer>);
      const redisCpu = redisProbe(redis);
      try {
        // The latency target's reference: this baseline at a quarter of the load it just carried (see targetLoad).
        const extra = (config: RelayConfig, so: readonly RelayRow[]): LoadMode | null =>
          appendfsync === 'everysec' && isHeadline(config) ? (targetLoad(ctx.plan, so)?.mode ?? null) : null;
        rows.push(...(await runSystem(ctx, 'durable', appendfsync, server, [redisCpu], extra)));
      } finally {
        await server.close();
        redisCpu.close();
        await redis.destroy();
      }
    }
  } finally {
    // A failed run must not leave the other policies' servers behind.
    for (const started of durableStarts.values()) {
      await started.then(async ({ server, redis }) => {
        await server.close();
        await redis.destroy();
      }, () => undefined);
    }
  }
  return rows;
}

/**
 * The durable baseline (Redis everysec, on a fresh redis-server) at one
 * offered load: issue 16's latency reference, run after the relay's own
 * saturation is known (half of it), so it cannot be part of the plan.
 */
export async function durableAtLoad(ctx: BenchContext, config: RelayConfig, mode: LoadMode): Promise<RelayRow> {
  const redis = await ctx.startRedis({ appendfsync: 'everysec' });
  const redisCpu = redisProbe(redis);
  let server: ServerProcess | undefined;
  try {
    server = await startServerProcess(DURABLE, { redisUrl: redis.url });
    const target = await connectBaselineClients(server.url, config);
    try {
      const label = `durable/everysec ${config.bodyBytes} B × ${config.recipients} ${mode.kind === 'open' ? `open ${mode.ratePerS}/s` : 'closed'} (half the relay's saturation)`;
      const result = await runLoad(target, loadOptionsFor(ctx.plan, label, mode, [serverProbe(server), redisCpu]));
      return rowFromLoad({ system: 'durable', durability: 'everysec', config }, result);
    } finally {
      target.close();
    }
  } finally {
    await server?.close();
    redisCpu.close();
    await redis.destroy();
  }
}

