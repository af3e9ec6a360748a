/**
 * The Handover relay scenarios for run.ts's `relayScenarios` hook:
 *
 * - `handoverRelayScenario`: the real relay in a child process on the
 *   embedded store, then on a private redis-server with AOF `everysec` and
 *   `always`, over the whole plan (rows: system 'handover', so run.ts adds
 *   ratios to the bare and durable baselines). With `everysec` it also runs
 *   the relay's row of the latency target (right after its other 4 KiB × 1
 *   rows; the durable baseline ran its own in the baselines phase), and the
 *   reconnect-and-drain test (on every store in full mode).
 * - `twoProcessScenario`: two relay processes on one Redis (Socket.IO Redis
 *   adapter), sender connected to one and recipients to the other.
 */
import { performance } from 'node:perf_hooks';
import type { TestRedis } from '../test/support/redis';
import {
  BenchNetwork,
  type RelayEndpoints,
  connectHandoverTarget,
  recipientSocket,
  registerAndSignIn,
  sendEnvelope,
} from './handover-clients';
import { type HandoverRelayOptions, startHandoverRelay } from './handover-relay';
import { type CpuProbe, type LoadMode, runLoad } from './load';
import {
  type BenchContext,
  type Durability,
  type RelayConfig,
  type RelayRow,
  TARGET_LOAD_SHARE,
  loadOptionsFor,
  redisProbe,
  rowFromLoad,
  serverProbe,
  isHeadline,
  targetLoad,
} from './scenario';
import { durableAtLoad } from './baselines/scenario';
import { prestart, prestarted } from './prestart';
import type { ServerProcess } from './server-process';
import { progress, round } from './timing';
import { rawSocket } from '../test/support/relay';

/** Envelopes queued for an offline device in the drain test. */
export const DRAIN_COUNT = 1000;

export interface DrainResult {
  durability: Durability;
  queued: number;
  bodyBytes: number;
  /** Time to queue them (sender → relay, acked), for reference. */
  queueMs: number;
  /** From starting the connection to the socket being connected (socket ticket over HTTP, then the authenticated upgrade). */
  connectMs: number;
  firstDeliveryMs: number;
  allDeliveredMs: number;
  /** Until the relay confirmed the device's ack of the last one (inbox empty). */
  allAckedMs: number;
  envelopesPerS: number;
}

export interface TargetLoad {
  /** Offered load (msg/s) at which the relay and the durable baseline were compared. */
  ratePerS: number;
  share: number;
  /** The durable everysec 4 KiB × 1 saturation throughput it was derived from. */
  referenceMsgPerS: number;
}

/** Set once the target-load run has chosen its rate. */
export const targetLoadInfo: { value: TargetLoad | null } = { value: null };

/** Issue 16's latency target: the offered load at half the relay's own saturation (everysec, 4 KiB × 1). */
export interface HalfSaturationLoad {
  ratePerS: number;
  /** The relay's saturation throughput it was derived from, in this run. */
  relaySaturationMsgPerS: number;
}

export const halfSaturationInfo: { value: HalfSaturationLoad | null } = { value: null };

/** Half the relay's own saturation rate (rounded to 10 msg/s, apart from the rates already run), or null without that row. */
export function halfSaturationMode(rows: readonly RelayRow[], config: RelayConfig): { mode: LoadMode; saturation: number } | null {
  const saturation = rows.find((r) => r.system === 'handover' && r.durability === 'everysec' && r.mode === 'closed' && r.bodyBytes === config.bodyBytes && r.recipients === config.recipients);
  if (!saturation || saturation.messagesPerS <= 0) return null;
  let rate = Math.max(10, Math.round(saturation.messagesPerS / 2 / 10) * 10);
  // Its own row key: never the same load as a plan row or the issue 6 target row.
  while (rows.some((r) => r.offeredPerS === rate && r.bodyBytes === config.bodyBytes && r.recipients === config.recipients)) rate += 10;
  return { mode: { kind: 'open', ratePerS: rate }, saturation: saturation.messagesPerS };
}

/** Every Handover row so far (ctx.rows gets a scenario's rows only once it returns). */
const measured: RelayRow[] = [];

let sharedNetwork: BenchNetwork | undefined;

/** One bench network for the whole run: its supplies are reused by every relay (each starts with an empty store). */
export function benchNetwork(ctx: BenchContext): BenchNetwork {
  sharedNetwork ??= new BenchNetwork(ctx.crypto);
  return sharedNetwork;
}

const sameLoad = (r: RelayRow, config: RelayConfig, load: string): boolean =>
  r.bodyBytes === config.bodyBytes && r.recipients === config.recipients && r.load === load;

/**
 * Envelopes a run may need (each costs a signature to make). Open loop: its
 * schedule. Closed loop: 1.5x the best this relay family did on the config
 * so far in this run, and at least 0.6x (quick: 0.4x) the durable
 * baseline's rate (the relay does the same work plus its checks, so it
 * cannot come near it). A run that still runs out ends early and its row is
 * marked capped; its rates stay valid over the shorter window.
 */
export function supplyNeed(ctx: BenchContext, config: RelayConfig, mode: LoadMode, system: string): number {
  const totalS = (ctx.plan.warmupMs + ctx.plan.durationMs) / 1000;
  if (mode.kind === 'open') return Math.ceil(mode.ratePerS * totalS) + 16;
  const load = `closed/${mode.window}`;
  const rates = (name: string): number[] => [...ctx.rows, ...measured].filter((r) => r.system === name && sameLoad(r, config, load)).map((r) => r.messagesPerS);
  const own = rates(system);
  const durable = rates('durable');
  const bare = rates('bare');
  // Quick runs meet cold relay processes (no warm-up), which reach well under half the durable baseline.
  const share = ctx.quick ? 0.4 : 0.6;
  const fromBaselines = durable.length ? Math.max(...durable) * share : bare.length ? Math.max(...bare) * share * 0.6 : 2000;
  // A disturbed earlier row must not starve a later relay: never below the baseline-based estimate.
  const rate = Math.max(fromBaselines, own.length ? Math.max(...own) * 1.5 : 0);
  return Math.ceil(rate * totalS) + mode.window;
}

interface RunningRelay {
  servers: ServerProcess[];
  endpoints: RelayEndpoints;
  probes: CpuProbe[];
  redis: TestRedis | undefined;
  close(): Promise<void>;
}

/**
 * Start `processes` relay children (on a fresh redis-server when
 * `durability` is a fsync policy) and register and sign in the bench
 * devices for every recipient count in the plan.
 */
async function startRelays(ctx: BenchContext, bench: BenchNetwork, durability: Exclude<Durability, 'none'>, processes: number): Promise<RunningRelay> {
  const redis = durability === 'memory' ? undefined : await ctx.startRedis({ appendfsync: durability });
  const options: HandoverRelayOptions = { rootPublicKey: bench.rootPublicKey, ...(redis ? { redisUrl: redis.url } : {}) };
  const started = await Promise.allSettled(Array.from({ length: processes }, () => startHandoverRelay(options)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const redisCpu = redis ? redisProbe(redis) : undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all(servers.map((s) => s.close()));
      redisCpu?.close();
      await redis?.destroy();
    })());
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  try {
    const first = servers[0] as ServerProcess;
    const last = servers[servers.length - 1] as ServerProcess;
    const devices = bench.devicesFor(ctx.plan.configs.map((c) => c.recipients));
    const tokens = await registerAndSignIn(first.url, ctx.crypto, bench.net, devices);
    // All relay processes together count as the server; one probe keeps the row's CPU columns comparable.
    const serverCpu: CpuProbe =
      servers.length === 1
        ? serverProbe(first)
        : { name: 'server', sampleMs: async () => (await Promise.all(servers.map((s) => s.cpuMs()))).reduce((a, b) => a + b, 0) };
    return {
      servers,
      endpoints: { senderUrl: first.url, recipientUrl: last.url, tokens, cursors: new Map() },
      probes: [serverCpu, ...(redisCpu ? [redisCpu] : [])],
      redis,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const describe = (system: string, durability: Durability, config: RelayConfig, mode: LoadMode): string =>
  `${system}/${durability} ${config.bodyBytes} B × ${config.recipients} ${mode.kind === 'closed' ? `closed ${mode.window}` : `open ${mode.ratePerS}/s`}`;

/**
 * Every mode of every config against running relays, low load first (the
 * open-loop run also warms the relay for the saturation run), then any
 * `extraMode` for the config.
 */
async function runPlan(
  ctx: BenchContext,
  bench: BenchNetwork,
  relay: RunningRelay,
  system: string,
  durability: Durability,
  configs: RelayConfig[],
  extraMode: (config: RelayConfig) => LoadMode | null = () => null,
): Promise<RelayRow[]> {
  const rows: RelayRow[] = [];
  for (const config of configs) {
    const target = await connectHandoverTarget(bench, relay.endpoints, config);
    try {
      const modes = [...config.modes].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'open' ? -1 : 1));
      const extra = extraMode(config);
      for (const mode of extra ? [...modes, extra] : modes) {
        const maxMessages = target.reserve(supplyNeed(ctx, config, mode, system));
        const result = await runLoad(target, loadOptionsFor(ctx.plan, describe(system, durability, config, mode), mode, relay.probes, maxMessages));
        const row = rowFromLoad({ system, durability, config }, result);
        rows.push(row);
        measured.push(row);
      }
    } finally {
      target.close();
    }
  }
  return rows;
}

/**
 * The issue's latency target (see `targetLoad` in scenario.ts): on the
 * everysec relay, after its other 4 KiB × 1 rows, the offered load the
 * durable baseline ran at the same point of its own plan.
 */
function targetModeFor(ctx: BenchContext, durability: Durability): (config: RelayConfig) => LoadMode | null {
  return (config) => {
    if (durability !== 'everysec' || !isHeadline(config)) return null;
    const target = targetLoad(ctx.plan, ctx.rows);
    if (!target) {
      progress('target load: skipped (no durable everysec 4 KiB × 1 saturation row)');
      return null;
    }
    const { ratePerS } = target.mode as { ratePerS: number };
    targetLoadInfo.value = { ratePerS, share: TARGET_LOAD_SHARE, referenceMsgPerS: target.reference.messagesPerS };
    progress(`target load: ${ratePerS} msg/s = ${TARGET_LOAD_SHARE} × durable everysec saturation (${target.reference.messagesPerS} msg/s)`);
    return target.mode;
  };
}

/**
 * Time for a device to come back and empty an inbox of `count` envelopes:
 * queue them while it is offline, then connect it and wait until the relay
 * has confirmed its ack of every one.
 */
export async function measureDrain(bench: BenchNetwork, relay: RunningRelay, durability: Durability, count = DRAIN_COUNT): Promise<DrainResult> {
  const bodyBytes = 4096;
  const supply = bench.supply(bodyBytes, 1);
  const device = bench.recipients(1)[0];
  const senderToken = relay.endpoints.tokens.get(bench.sender.keys.deviceId);
  const token = device && relay.endpoints.tokens.get(device.keys.deviceId);
  if (!senderToken || !token) throw new Error('drain test: bench devices are not signed in');
  const start = relay.endpoints.cursors.get(supply) ?? 0;
  supply.ensure(start + count);
  relay.endpoints.cursors.set(supply, start + count);

  progress(`drain (${durability}): queueing ${count} envelopes for an offline device`);
  const sender = await rawSocket(relay.endpoints.senderUrl, senderToken);
  const q0 = performance.now();
  try {
    let next = start;
    const worker = async (): Promise<void> => {
      while (next < start + count) await sendEnvelope(sender, supply.at(next++));
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    sender.close();
  }
  const queueMs = performance.now() - q0;

  const ids = new Set<string>();
  for (let i = start; i < start + count; i++) ids.add(supply.at(i).header.messageId);
  let delivered = 0;
  let acked = 0;
  let firstAt = 0;
  let deliveredAt = 0;
  let ackedAt = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const t0 = performance.now();
  const socket = await recipientSocket(
    relay.endpoints.recipientUrl,
    token,
    (messageId, at) => {
      if (!ids.has(messageId)) return;
      if (delivered++ === 0) firstAt = at;
      if (delivered === count) deliveredAt = at;
    },
    () => {
      if (++acked === count) {
        ackedAt = performance.now();
        done();
      }
    },
  );
  const connectedAt = performance.now();
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`drain: ${delivered}/${count} delivered, ${acked} acked after 60 s`)), 60_000).unref());
    await Promise.race([finished, timeout]);
  } finally {
    socket.close();
  }
  const result: DrainResult = {
    durability,
    queued: count,
    bodyBytes,
    queueMs: round(queueMs, 1),
    connectMs: round(connectedAt - t0, 1),
    firstDeliveryMs: round(firstAt - t0, 1),
    allDeliveredMs: round(deliveredAt - t0, 1),
    allAckedMs: round(ackedAt - t0, 1),
    envelopesPerS: round((count / (ackedAt - t0)) * 1000, 0),
  };
  progress(`drain (${durability}): connected in ${result.connectMs} ms, ${count} delivered in ${result.allDeliveredMs} ms, all acked in ${result.allAckedMs} ms`);
  return result;
}

/** Results that are not relay rows, collected for run.ts. */
export const drainResults: DrainResult[] = [];

type RelayKind = Exclude<Durability, 'none'> | '2proc';

/** Relays started by `startHandoverRelays`. */
const starting = new Map<RelayKind, Promise<RunningRelay>>();

/**
 * Start every relay process the Handover scenarios need, side by side, each
 * on its own fresh redis-server where it uses Redis: the embedded store, one
 * per fsync policy, and the two-process pair.
 */
export function startHandoverRelays(ctx: BenchContext): void {
  if (starting.size > 0) return;
  const bench = benchNetwork(ctx);
  for (const kind of ['memory', ...ctx.plan.durabilities] as const) starting.set(kind, prestart(startRelays(ctx, bench, kind, 1)));
  starting.set('2proc', prestart(startRelays(ctx, bench, 'everysec', 2)));
}

function relayFor(ctx: BenchContext, kind: RelayKind): Promise<RunningRelay> {
  startHandoverRelays(ctx);
  const started = starting.get(kind);
  if (!started) throw new Error(`no ${kind} relay in this plan`);
  return started;
}

/** Close relays a failed scenario left running (closing twice is harmless). */
async function closeAll(kinds: RelayKind[]): Promise<void> {
  await Promise.all(kinds.map((k) => starting.get(k)?.then((r) => r.close()).catch(() => undefined)));
}

/** Envelopes per relay for warm-up (full mode only: quick cannot afford the ~2 s a cold relay needs). */
const warmupCount = (ctx: BenchContext): number => (ctx.quick ? 0 : 3000);

/**
 * Sign, before any Handover run, what one relay's share of the plan will
 * take from each supply (sized from the baselines' rows, so it runs after
 * them; the slices let I/O progress meanwhile).
 */
async function prepareSupplies(ctx: BenchContext, bench: BenchNetwork): Promise<void> {
  const t0 = performance.now();
  let total = 0;
  for (const config of ctx.plan.configs) {
    let need = config.modes.reduce((sum, mode) => sum + supplyNeed(ctx, config, mode, 'handover'), 0);
    if (isHeadline(config)) {
      const target = targetLoad(ctx.plan, ctx.rows);
      need += warmupCount(ctx) + (target ? supplyNeed(ctx, config, target.mode, 'handover') : 0);
    }
    // The load's sender sockets take turns, one sender device each (see connectHandoverTarget).
    const perSender = Math.ceil(need / bench.senders.length);
    for (let i = 0; i < bench.senders.length; i++) {
      const supply = bench.supply(config.bodyBytes, config.recipients, i);
      // The drain test sends from the first sender only.
      const want = perSender + (i === 0 && isHeadline(config) ? DRAIN_COUNT : 0);
      total += Math.max(0, want - supply.size);
      await supply.ensureAsync(want);
    }
  }
  progress(`handover relay: ${total} envelopes signed ahead in ${round((performance.now() - t0) / 1000, 1)} s`);
}

/** A cold relay process needs a couple of seconds of load before its code is optimised; measure it warm. */
async function warmUp(ctx: BenchContext, bench: BenchNetwork, relay: RunningRelay, label: string): Promise<void> {
  const count = warmupCount(ctx);
  const config = ctx.plan.configs[0];
  if (count === 0 || !config) return;
  const target = await connectHandoverTarget(bench, relay.endpoints, { bodyBytes: 4096, recipients: 1, senders: config.senders });
  try {
    await runLoad(target, { label: `${label} warm-up`, mode: { kind: 'closed', window: 64 }, warmupMs: 0, durationMs: 10_000, maxMessages: target.reserve(count) });
  } finally {
    target.close();
  }
}

/**
 * Issue 16's latency target, relay side: the headline config, open loop at
 * half the saturation rate this relay just reached (its envelopes signed
 * now, as the rate was not known before). Returns what the durable
 * baseline must then run.
 */
async function relayAtHalfSaturation(
  ctx: BenchContext,
  bench: BenchNetwork,
  relay: RunningRelay,
  rows: RelayRow[],
): Promise<{ config: RelayConfig; mode: LoadMode } | undefined> {
  const base = ctx.plan.configs.find(isHeadline);
  const half = base ? halfSaturationMode(rows, base) : null;
  if (!base || !half) {
    progress('half-saturation load: skipped (no everysec 4 KiB × 1 saturation row)');
    return undefined;
  }
  const { mode } = half;
  const rate = (mode as { ratePerS: number }).ratePerS;
  halfSaturationInfo.value = { ratePerS: rate, relaySaturationMsgPerS: half.saturation };
  progress(`half-saturation load: ${rate} msg/s = half the relay's saturation (${half.saturation} msg/s)`);
  const config = { ...base, modes: [mode] };
  const target = await connectHandoverTarget(bench, relay.endpoints, config);
  try {
    const maxMessages = target.reserve(supplyNeed(ctx, config, mode, 'handover'));
    const result = await runLoad(target, loadOptionsFor(ctx.plan, describe('handover', 'everysec', config, mode) + ' (half saturation)', mode, relay.probes, maxMessages));
    const row = rowFromLoad({ system: 'handover', durability: 'everysec', config }, result);
    rows.push(row);
    measured.push(row);
  } finally {
    target.close();
  }
  return { config, mode };
}

export async function handoverRelayScenario(ctx: BenchContext): Promise<RelayRow[]> {
  const bench = benchNetwork(ctx);
  const rows: RelayRow[] = [];
  const durabilities: Array<Exclude<Durability, 'none'>> = ['memory', ...ctx.plan.durabilities];
  startHandoverRelays(ctx);
  let halfLoad: { config: RelayConfig; mode: LoadMode } | undefined;
  try {
    await prepareSupplies(ctx, bench);
    await prestarted();
    for (const durability of durabilities) {
      progress(`handover relay: ${durability === 'memory' ? 'embedded store' : `Redis AOF appendfsync ${durability}`}`);
      const relay = await relayFor(ctx, durability);
      try {
        await warmUp(ctx, bench, relay, `handover/${durability}`);
        rows.push(...(await runPlan(ctx, bench, relay, 'handover', durability, ctx.plan.configs, targetModeFor(ctx, durability))));
        if (durability === 'everysec') halfLoad = await relayAtHalfSaturation(ctx, bench, relay, rows);
        if (durability === 'everysec' || !ctx.quick) drainResults.push(await measureDrain(bench, relay, durability));
      } finally {
        await relay.close();
      }
      // The durable baseline at the same load, once the relay no longer runs beside it.
      if (halfLoad) rows.push(await durableAtLoad(ctx, halfLoad.config, halfLoad.mode));
      halfLoad = undefined;
    }
  } finally {
    await closeAll(durabilities);
  }
  return rows;
}

export async function twoProcessScenario(ctx: BenchContext): Promise<RelayRow[]> {
  const bench = benchNetwork(ctx);
  // Quick: the headline config at saturation only; full: every 4 KiB config.
  const configs = ctx.quick
    ? ctx.plan.configs.slice(0, 1).map((c) => ({ ...c, modes: c.modes.filter((m) => m.kind === 'closed') }))
    : ctx.plan.configs.filter((c) => c.bodyBytes === 4096);
  progress('handover relay: two processes on one Redis (everysec), sender on one, recipients on the other');
  try {
    const relay = await relayFor(ctx, '2proc');
    await prestarted();
    await warmUp(ctx, bench, relay, 'handover-2proc');
    return await runPlan(ctx, bench, relay, 'handover-2proc', 'everysec', configs);
  } finally {
    await closeAll(['2proc']);
  }
}
