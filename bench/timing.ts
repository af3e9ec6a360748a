/** Small timing helpers for the benchmarks: repeat, take the median, report per-op cost. */
import { performance } from 'node:perf_hooks';

export interface Timing {
  /** Median milliseconds per run. */
  medianMs: number;
  runs: number;
}

/** Run `fn` `runs` times (after `warmup` untimed runs) and return the median. */
export function time(fn: () => void, runs: number, warmup = Math.min(3, runs)): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)] ?? 0, runs };
}

/** Milliseconds per call of `fn`, measured over a batch of `calls` calls. */
export function perCall(fn: () => void, calls: number, batches = 5): number {
  return time(() => {
    for (let i = 0; i < calls; i++) fn();
  }, batches, 1).medianMs / calls;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
