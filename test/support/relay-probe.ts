/**
 * Preloaded into a relay process started with `measure: true`
 * (relay-process.ts), so a benchmark can measure the relay from inside the
 * way bench/baselines/child.ts measures the baselines. Requests on the IPC
 * channel: {type:'cpu'} → {type:'cpu', ms} (user+system CPU so far),
 * {type:'mem'} → {type:'mem', ...process.memoryUsage(), gc} (after a full
 * GC when run with --expose-gc), {type:'mark'} → {type:'mark', us} (the
 * monotonic clock V8's CPU profiles use). The relay itself is server/main.ts,
 * untouched; if the parent goes away, the relay shuts down as on SIGTERM.
 */
type Request = { type: 'cpu' } | { type: 'mem' } | { type: 'mark' };

function answer(message: unknown): void {
  if (process.connected) process.send?.(message);
}

process.on('message', (message: Request) => {
  if (message.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    answer({ type: 'cpu', ms: (user + system) / 1000 });
  } else if (message.type === 'mem') {
    // Two passes: the first can leave finalizers (e.g. closed sockets) for the second.
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    answer({ type: 'mem', rss, heapUsed, heapTotal, external, arrayBuffers, gc: typeof gc === 'function' });
  } else if (message.type === 'mark') {
    answer({ type: 'mark', us: Number(process.hrtime.bigint() / 1000n) });
  }
});
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));

export {};
