/**
 * What every relay scenario shares: the plan (which body sizes, recipient
 * counts and loads to run, so baseline and Handover rows line up), the
 * context run.ts hands each scenario, and the row a scenario returns.
 */
import { Redis } from 'ioredis';
import type { Crypto } from '../shared/crypto/types';
import { type StartRedisOptions, type TestRedis, startRedis } from '../test/support/redis';
import { type CpuProbe, type LoadMode, type LoadOptions, type LoadResult, describeMode } from './load';
import type { ServerProcess } from './server-process';

/** How the system under test keeps accepted messages: 'none' (bare), 'memory', or Redis AOF fsync policy. */
export type Durability = 'none' | 'memory' | 'everysec' | 'always';

export interface RelayConfig {
  bodyBytes: number;
  /** Recipient devices per message (every message goes to all of them). */
  recipients: number;
  /** Sender connections; messages are sent round-robin over them. */
  senders: number;
  modes: LoadMode[];
}

export interface RelayPlan {
  configs: RelayConfig[];
  /** Redis AOF fsync policies the durable systems are run with. */
  durabilities: Array<'everysec' | 'always'>;
  warmupMs: number;
  durationMs: number;
  timeoutMs: number;
}

export interface BenchContext {
  quick: boolean;
  crypto: Crypto;
  plan: RelayPlan;
  /** A private redis-server (free port, temp dir, AOF on); `destroy()` it when done. */
  startRedis(options: StartRedisOptions): Promise<TestRedis>;
  /** Rows of the scenarios that already ran (baselines first), e.g. to size a run from a baseline's throughput. */
  rows: readonly RelayRow[];
}

/** One scenario runs one system (or a family) over the plan and returns its rows. */
export type RelayScenario = (ctx: BenchContext) => Promise<RelayRow[]>;

/** Throughput and latency of a row relative to a reference row with the same body, recipients and load. */
export interface Ratios {
  /** row msg/s ÷ reference msg/s (above 1: more throughput). */
  throughput: number;
  /** row e2e p50 ÷ reference e2e p50 (above 1: slower). */
  p50: number;
  /** row e2e p99 ÷ reference e2e p99. */
  p99: number;
  /** row server CPU per message ÷ reference's, when both were measured. */
  serverCpu: number | null;
}

export interface RelayRow {
  /** 'bare' | 'durable' are the baselines; the Handover relay uses 'handover'. */
  system: string;
  durability: Durability;
  bodyBytes: number;
  recipients: number;
  senders: number;
  /** `closed/<window>` or `open/<rate>`: rows with equal body, recipients and load are compared. */
  load: string;
  mode: 'closed' | 'open';
  window: number | null;
  offeredPerS: number | null;
  messagesPerS: number;
  deliveriesPerS: number;
  e2eP50Ms: number;
  e2eP99Ms: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** Send start → ack and every delivery, p99. */
  completeP99Ms: number;
  serverCpuMsPerMsg: number | null;
  redisCpuMsPerMsg: number | null;
  generatorCpuMsPerMsg: number | null;
  /** CPU use of the server process during the window, as a fraction of one core. */
  serverCpuUtilisation: number | null;
  generatorCpuUtilisation: number | null;
  /** CPU taken by processes outside the bench during the window (fraction of one core): high means a noisy row. */
  otherCpuUtilisation: number | null;
  generatorLoopDelayP99Ms: number;
  errors: number;
  firstError: string | null;
  lost: number;
  skipped: number;
  /** Deliveries of messages already complete or timed out (e.g. redelivered): should be 0. */
  strayDeliveries: number;
  /** `maxMessages` ended the run early (the window is then shorter). */
  capped: boolean;
  /** Filled in by run.ts once every scenario has run. */
  vsBare: Ratios | null;
  /** Against the durable baseline with the same fsync policy (durable systems only). */
  vsDurable: Ratios | null;
}

/**
 * Open-loop rate for a config: at most 200 msg/s, 2000 deliveries/s and
 * 32 MiB/s of delivered bodies, so a bare relay on two shared cores is far
 * from saturation and the row shows latency under a steady, realistic load.
 */
export function openRateFor(bodyBytes: number, recipients: number): number {
  const cap = Math.min(200, 2000 / recipients, (32 * 1024 * 1024) / (bodyBytes * recipients));
  return Math.max(5, Math.floor(cap / 5) * 5);
}

const WINDOW = 64;
const SENDERS = 4;

export function makePlan(quick: boolean): RelayPlan {
  const config = (bodyBytes: number, recipients: number, open: boolean): RelayConfig => ({
    bodyBytes,
    recipients,
    senders: SENDERS,
    modes: [
      { kind: 'closed', window: WINDOW },
      ...(open ? [{ kind: 'open' as const, ratePerS: openRateFor(bodyBytes, recipients) }] : []),
    ],
  });
  if (quick) {
    return {
      configs: [config(4096, 1, true), config(4096, 5, false), config(64 * 1024, 1, false)],
      durabilities: ['everysec', 'always'],
      // ~30 load runs (baselines and Handover) must fit in the 60 s budget with everything else.
      warmupMs: 200,
      durationMs: 650,
      timeoutMs: 5000,
    };
  }
  const configs: RelayConfig[] = [];
  for (const bodyBytes of [4096, 64 * 1024]) for (const recipients of [1, 5, 20]) configs.push(config(bodyBytes, recipients, true));
  return { configs, durabilities: ['everysec', 'always'], warmupMs: 1000, durationMs: 4000, timeoutMs: 10_000 };
}

export function loadOptionsFor(plan: RelayPlan, label: string, mode: LoadMode, probes: CpuProbe[] = [], maxMessages?: number): LoadOptions {
  return {
    label,
    mode,
    warmupMs: plan.warmupMs,
    durationMs: plan.durationMs,
    timeoutMs: plan.timeoutMs,
    probes,
    ...(maxMessages === undefined ? {} : { maxMessages }),
  };
}

export function rowFromLoad(
  meta: { system: string; durability: Durability; config: RelayConfig },
  result: LoadResult,
): RelayRow {
  const { mode } = result;
  const cpu = (name: string): number | null => result.cpuMsPerMessage[name] ?? null;
  return {
    system: meta.system,
    durability: meta.durability,
    bodyBytes: meta.config.bodyBytes,
    recipients: meta.config.recipients,
    senders: meta.config.senders,
    load: describeMode(mode),
    mode: mode.kind,
    window: mode.kind === 'closed' ? mode.window : null,
    offeredPerS: mode.kind === 'open' ? mode.ratePerS : null,
    messagesPerS: result.messagesPerS,
    deliveriesPerS: result.deliveriesPerS,
    e2eP50Ms: result.e2e.p50Ms,
    e2eP99Ms: result.e2e.p99Ms,
    ackP50Ms: result.ack.p50Ms,
    ackP99Ms: result.ack.p99Ms,
    completeP99Ms: result.complete.p99Ms,
    serverCpuMsPerMsg: cpu('server'),
    redisCpuMsPerMsg: cpu('redis'),
    generatorCpuMsPerMsg: cpu('generator'),
    serverCpuUtilisation: result.cpuUtilisation.server ?? null,
    generatorCpuUtilisation: result.cpuUtilisation.generator ?? null,
    otherCpuUtilisation: result.cpuUtilisation.other ?? null,
    generatorLoopDelayP99Ms: result.generatorLoopDelayP99Ms,
    errors: result.errors,
    firstError: result.firstError,
    lost: result.lost,
    skipped: result.skipped,
    strayDeliveries: result.strayDeliveries,
    capped: result.capped,
    vsBare: null,
    vsDurable: null,
  };
}

/** CPU of a server started with `startServerProcess`, reported as 'server'. */
export function serverProbe(server: ServerProcess): CpuProbe {
  return { name: 'server', sampleMs: () => server.cpuMs() };
}

/** CPU of a redis-server (main thread and helpers, from INFO cpu), reported as 'redis'. Close the returned client when done. */
export function redisProbe(redis: TestRedis): CpuProbe & { close(): void } {
  const client: Redis = redis.client();
  return {
    name: 'redis',
    async sampleMs() {
      const info = await client.info('cpu');
      const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
    },
    close: () => client.disconnect(),
  };
}

export { startRedis };

/** The latency target runs at this share of the durable baseline's saturated msg/s: half of the 50% throughput target. */
export const TARGET_LOAD_SHARE = 0.25;

/**
 * The latency target: p99 at half the target throughput (which is
 * 50% of the durable baseline's, Redis everysec, 4 KiB, 1 recipient) within
 * 2x of the durable baseline's p99 at that same load. Both systems run it,
 * open loop, right after their other 4 KiB × 1 rows (so both meet their
 * Redis in a similar state); null until the durable everysec saturation row
 * exists.
 */
/** The config the relay targets are about: 4 KiB, 1 recipient device. */
export const isHeadline = (config: RelayConfig): boolean => config.bodyBytes === 4096 && config.recipients === 1;

export function targetLoad(plan: RelayPlan, rows: readonly RelayRow[]): { config: RelayConfig; mode: LoadMode; reference: RelayRow } | null {
  const base = plan.configs.find(isHeadline);
  const reference = rows.find((r) => r.system === 'durable' && r.durability === 'everysec' && r.bodyBytes === 4096 && r.recipients === 1 && r.mode === 'closed');
  if (!base || !reference) return null;
  let rate = Math.max(10, Math.round((reference.messagesPerS * TARGET_LOAD_SHARE) / 10) * 10);
  // Keep it apart from the plan's own open-loop row so ratios pair the right rows.
  if (base.modes.some((m) => m.kind === 'open' && m.ratePerS === rate)) rate += 10;
  const mode: LoadMode = { kind: 'open', ratePerS: rate };
  return { config: { ...base, modes: [mode] }, mode, reference };
}
