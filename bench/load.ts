/**
 * Generic load driver for relay benchmarks. A target knows how to send
 * message `seq` (resolving at the server's ack) and reports each delivery
 * at a recipient device; the driver decides when to send and measures.
 *
 * - closed loop: a fixed number of messages in flight (saturation). A
 *   message leaves the window once it is acked AND delivered to all its
 *   recipients, so nothing can queue up unboundedly inside the system.
 * - open loop: messages start on a fixed schedule whatever happens;
 *   latency counts from the scheduled start, so a stalled system cannot
 *   hide its backlog (no coordinated omission).
 *
 * Only messages started inside the measured window give latency samples;
 * throughput counts completions and deliveries that happen inside it.
 * Everything runs in this process: the measured server should run in
 * another (see server-process.ts).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { percentile, progress, round } from './timing';

export interface LoadTarget {
  /** Deliveries each message produces (recipient devices per message). */
  readonly fanOut: number;
  /**
   * Send message `seq`; resolve when the server acks it, reject if it
   * refuses. `seq` values are unique per target across runs; a target
   * maps them to whatever it sends (e.g. the next pre-sealed envelope).
   */
  send(seq: number): Promise<void>;
  /**
   * Called by the driver before each run; the target must then call
   * `delivered(seq)` once per recipient device that receives `seq`, at
   * once on receipt, or later passing `at` (a `performance.now()` taken on
   * receipt) if it does work in between. A later call replaces the
   * previous observer.
   */
  observe(delivered: (seq: number, at?: number) => void): void;
}

export type LoadMode = { kind: 'closed'; window: number } | { kind: 'open'; ratePerS: number };

/** A cumulative CPU counter (ms) sampled at the start and end of the measured window. */
export interface CpuProbe {
  readonly name: string;
  sampleMs(): Promise<number>;
}

export interface LoadOptions {
  /** For progress lines. */
  label: string;
  mode: LoadMode;
  /** Sent but not measured. */
  warmupMs: number;
  /** The measured window. */
  durationMs: number;
  /** Never send more than this many messages in this run (a pre-sealed supply is finite). */
  maxMessages?: number;
  /** A message not acked and fully delivered this long after its start is counted lost. Default 10 s. */
  timeoutMs?: number;
  /** Open loop: skip (and count) a scheduled message when this many are unfinished. Default 10 000. */
  maxOutstanding?: number;
  /** CPU counters to report per message; this process ('generator') is always added. */
  probes?: CpuProbe[];
}

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadResult {
  label: string;
  mode: LoadMode;
  /** The measured window: `durationMs`, or less if `maxMessages` ended the run early. */
  windowS: number;
  /** Messages acked and fully delivered inside the window. */
  messages: number;
  messagesPerS: number;
  /** Recipient deliveries inside the window, per second (messagesPerS × fanOut when all is well). */
  deliveriesPerS: number;
  /** Send start → delivery at a recipient, one sample per delivery. */
  e2e: LatencySummary;
  /** Send start → server ack. */
  ack: LatencySummary;
  /** Send start → ack and delivery at every recipient, one sample per message. */
  complete: LatencySummary;
  /** Sends the server refused (the promise rejected), with the first reason. */
  errors: number;
  firstError: string | null;
  /** Timed out before being acked and fully delivered. */
  lost: number;
  /** Open loop: scheduled but not started because too many were unfinished. */
  skipped: number;
  /** Deliveries of a message already complete, timed out, or never sent. */
  strayDeliveries: number;
  /** True if `maxMessages` stopped the run early. */
  capped: boolean;
  /** CPU ms per completed message, by probe name (includes 'generator' and, on Linux, 'machine'). */
  cpuMsPerMessage: Record<string, number>;
  /**
   * CPU use during the window as a fraction of one core, by probe name;
   * 'machine' is every process on every core, 'other' is machine minus all
   * other probes: CPU taken by processes outside the bench.
   */
  cpuUtilisation: Record<string, number>;
  /** This process's event-loop delay p99 during the window: high means the generator itself is saturated. */
  generatorLoopDelayP99Ms: number;
}

interface InFlight {
  start: number;
  inWindow: boolean;
  acked: boolean;
  delivered: number;
}

const nextSeqByTarget = new WeakMap<LoadTarget, number>();

const generatorProbe: CpuProbe = {
  name: 'generator',
  sampleMs: async () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  },
};

/**
 * Busy CPU of the whole machine (all cores, from /proc/stat, 10 ms ticks),
 * so a row can show how much CPU processes outside the bench took during
 * its window. Reports nothing where /proc/stat is missing.
 */
const machineProbe: CpuProbe | null = (() => {
  const read = (): number | null => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
      // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
      return (user + nice + system + irq + softirq + steal) * 10; // USER_HZ is 100 on Linux
    } catch {
      return null;
    }
  };
  return read() === null ? null : { name: 'machine', sampleMs: async () => read() ?? 0 };
})();

export async function runLoad(target: LoadTarget, opts: LoadOptions): Promise<LoadResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxMessages = opts.maxMessages ?? Number.POSITIVE_INFINITY;
  const maxOutstanding = opts.maxOutstanding ?? 10_000;
  const probes = [generatorProbe, ...(machineProbe ? [machineProbe] : []), ...(opts.probes ?? [])];
  const { mode } = opts;
  const fanOut = target.fanOut;

  const inflight = new Map<number, InFlight>();
  const e2e: number[] = [];
  const ack: number[] = [];
  const complete: number[] = [];
  let sent = 0;
  let completedInWindow = 0;
  let deliveriesInWindow = 0;
  let errors = 0;
  let firstError: string | null = null;
  let lost = 0;
  let skipped = 0;
  let strayDeliveries = 0;
  let capped = false;
  let stopped = false;
  let drained: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => {
    drained = resolve;
  });

  const t0 = performance.now();
  const windowStart = t0 + opts.warmupMs;
  const windowEnd = windowStart + opts.durationMs;
  const inWindow = (t: number): boolean => t >= windowStart && t < windowEnd;

  const finish = (seq: number): void => {
    inflight.delete(seq);
    if (!stopped && mode.kind === 'closed') refill();
    if (stopped && inflight.size === 0) drained();
  };

  const maybeComplete = (seq: number, m: InFlight, now: number): void => {
    if (!m.acked || m.delivered < fanOut) return;
    if (m.inWindow) complete.push(now - m.start);
    if (inWindow(now)) completedInWindow++;
    finish(seq);
  };

  target.observe((seq, at) => {
    const now = at ?? performance.now();
    const m = inflight.get(seq);
    if (!m || m.delivered >= fanOut) {
      strayDeliveries++;
      return;
    }
    m.delivered++;
    if (inWindow(now)) deliveriesInWindow++;
    if (m.inWindow) e2e.push(now - m.start);
    maybeComplete(seq, m, now);
  });

  const launch = (start: number): void => {
    const seq = nextSeqByTarget.get(target) ?? 0;
    nextSeqByTarget.set(target, seq + 1);
    const m: InFlight = { start, inWindow: inWindow(start), acked: false, delivered: 0 };
    inflight.set(seq, m);
    sent++;
    let pending: Promise<void>;
    try {
      pending = target.send(seq);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => {
        if (inflight.get(seq) !== m) return; // timed out meanwhile
        const now = performance.now();
        m.acked = true;
        if (m.inWindow) ack.push(now - m.start);
        maybeComplete(seq, m, now);
      },
      (err: unknown) => {
        if (inflight.get(seq) !== m) return;
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        finish(seq);
      },
    );
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (inflight.size === 0) drained();
  };

  const canSend = (): boolean => {
    if (sent < maxMessages) return true;
    capped = true;
    stop();
    return false;
  };

  function refill(): void {
    if (mode.kind !== 'closed') return;
    while (!stopped && inflight.size < mode.window && canSend()) launch(performance.now());
  }

  let scheduleTimer: NodeJS.Timeout | undefined;
  if (mode.kind === 'open') {
    const interval = 1000 / mode.ratePerS;
    let k = 0;
    const tick = (): void => {
      const now = performance.now();
      while (!stopped) {
        const due = t0 + k * interval;
        if (due > now) break;
        if (due >= windowEnd) {
          stop();
          break;
        }
        k++;
        if (inflight.size >= maxOutstanding) {
          skipped++;
          continue;
        }
        if (canSend()) launch(due);
      }
      if (!stopped) scheduleTimer = setTimeout(tick, Math.max(1, t0 + k * interval - performance.now()));
    };
    tick();
  } else {
    refill();
  }

  // Lost messages must not hold a closed-loop window slot or the drain forever.
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const [seq, m] of inflight) {
      if (now - m.start > timeoutMs) {
        lost++;
        finish(seq);
      }
    }
  }, Math.min(250, timeoutMs / 4));

  const heartbeat = opts.warmupMs + opts.durationMs > 3000
    ? setInterval(() => {
        const t = (performance.now() - t0) / 1000;
        progress(`${opts.label}: ${t.toFixed(1)} s, sent ${sent}, in flight ${inflight.size}, errors ${errors}, lost ${lost}`);
      }, 2000)
    : undefined;

  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  const sampleAll = (): Promise<number[]> => Promise.all(probes.map((p) => p.sampleMs()));
  let startSamples: Promise<number[]> | null = null;
  let endSamples: Promise<number[]> | null = null;
  const windowTimers = [
    setTimeout(() => {
      startSamples = sampleAll();
      loopDelay.enable();
    }, opts.warmupMs),
    setTimeout(() => {
      endSamples = sampleAll();
      loopDelay.disable();
      stop();
    }, opts.warmupMs + opts.durationMs),
  ];

  await allDone;
  // Stopped early (capped): the window ends here, if it had begun at all.
  const windowMs = Math.max(0, Math.min(windowEnd, performance.now()) - windowStart);
  if (startSamples && !endSamples) endSamples = sampleAll();
  for (const timer of windowTimers) clearTimeout(timer);
  clearTimeout(scheduleTimer);
  clearInterval(sweeper);
  clearInterval(heartbeat);
  loopDelay.disable();

  const [before, after] = await Promise.all([startSamples ?? [], endSamples ?? []]);
  const windowS = windowMs / 1000;
  const cpuMsPerMessage: Record<string, number> = {};
  const cpuUtilisation: Record<string, number> = {};
  probes.forEach((probe, i) => {
    const a = before[i];
    const b = after[i];
    if (a === undefined || b === undefined) return;
    cpuMsPerMessage[probe.name] = completedInWindow > 0 ? round((b - a) / completedInWindow, 4) : 0;
    cpuUtilisation[probe.name] = windowMs > 0 ? round((b - a) / windowMs, 2) : 0;
  });
  if (cpuUtilisation.machine !== undefined) {
    const ours = Object.entries(cpuUtilisation).reduce((sum, [name, v]) => (name === 'machine' ? sum : sum + v), 0);
    cpuUtilisation.other = round(Math.max(0, cpuUtilisation.machine - ours), 2);
  }

  const result: LoadResult = {
    label: opts.label,
    mode,
    windowS: round(windowS, 3),
    messages: completedInWindow,
    messagesPerS: windowS > 0 ? round(completedInWindow / windowS, 1) : 0,
    deliveriesPerS: windowS > 0 ? round(deliveriesInWindow / windowS, 1) : 0,
    e2e: summarise(e2e),
    ack: summarise(ack),
    complete: summarise(complete),
    errors,
    firstError,
    lost,
    skipped,
    strayDeliveries,
    capped,
    cpuMsPerMessage,
    cpuUtilisation,
    generatorLoopDelayP99Ms: Number.isFinite(loopDelay.percentile(99)) ? round(loopDelay.percentile(99) / 1e6, 2) : 0,
  };
  progress(
    `${opts.label}: ${result.messagesPerS} msg/s, ${result.deliveriesPerS} deliveries/s, e2e p50 ${result.e2e.p50Ms} ms p99 ${result.e2e.p99Ms} ms` +
      (errors || lost || skipped ? `, errors ${errors} lost ${lost} skipped ${skipped}` : '') +
      (capped ? ' (capped by maxMessages)' : ''),
  );
  return result;
}

export function summarise(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50), 2),
    p90Ms: round(percentile(sorted, 90), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? 0, 2),
  };
}

export function describeMode(mode: LoadMode): string {
  return mode.kind === 'closed' ? `closed/${mode.window}` : `open/${mode.ratePerS}`;
}
