/**
 * Child-process entry for a measured server, so it has its own event loop
 * (and its own CPU account) apart from the load generator in the parent.
 *
 *   node --import tsx bench/baselines/child.ts <module path> '<options JSON>'
 *
 * The module exports `start(options) => Promise<{ url, close() }>` (both
 * baselines do; the relay runs as server/main.ts instead, see
 * test/support/relay-probe.ts for its side of this protocol). Protocol on the IPC
 * channel: the child sends {type:'ready', url} or {type:'failed', error};
 * the parent sends {type:'cpu'} (answered with {type:'cpu', ms}, the
 * child's user+system CPU so far) and {type:'close'} (answered with
 * {type:'closed'}, then exit), {type:'mem'} (answered with {type:'mem', ...}:
 * process.memoryUsage() after a full GC when the child runs with
 * --expose-gc) and {type:'mark'} (answered with {type:'mark', us}: the
 * monotonic clock in µs, the clock V8's CPU profiles use).
 */
interface Startable {
  start(options: unknown): Promise<{ url: string; close(): Promise<void> }>;
}

type ParentMessage = { type: 'cpu' } | { type: 'close' } | { type: 'mem' } | { type: 'mark' };

function send(message: unknown): void {
  // The parent may be gone (killed): then there is no one to tell.
  if (process.connected) process.send?.(message);
}

async function main(): Promise<void> {
  const [modulePath, optionsJson] = process.argv.slice(2);
  if (!modulePath || !process.send) throw new Error('usage: child.ts <module> <options JSON> (with an IPC channel)');
  const mod = (await import(modulePath)) as Partial<Startable> & { default?: Partial<Startable> };
  const start = mod.start ?? mod.default?.start;
  if (typeof start !== 'function') throw new Error(`${modulePath} exports no start()`);
  const server = await start(JSON.parse(optionsJson ?? '{}'));
  let closing = false;
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await server.close().catch(() => undefined);
    send({ type: 'closed' });
    if (process.connected) process.disconnect?.();
    process.exit(0);
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', ms: (user + system) / 1000 });
    } else if (message.type === 'mem') {
      // Two passes: the first can leave finalizers (e.g. closed sockets) for the second.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
      send({ type: 'mem', rss, heapUsed, heapTotal, external, arrayBuffers, gc: typeof gc === 'function' });
    } else if (message.type === 'mark') {
      send({ type: 'mark', us: Number(process.hrtime.bigint() / 1000n) });
    } else if (message.type === 'close') {
      void close();
    }
  });
  // The parent died or let go of us: do not linger.
  process.on('disconnect', () => void close());
  send({ type: 'ready', url: server.url });
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
