/**
 * Envelope verification (Ed25519 signature over the canonical header, and
 * the ciphertext's BLAKE2b hash) is the relay's heaviest CPU work per
 * envelope. A pool of worker threads does it so the event loop keeps
 * serving sockets and Redis, and a relay uses more than one core
 * (docs/PERFORMANCE.md). With 0 threads it runs inline.
 *
 * Nothing is dropped: the thread runs the same checks with the same crypto
 * seam; the main thread only routes requests and rebuilds typed errors.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Crypto, type FrameView, HandoverError, type SealedEnvelope } from '../../shared';
import { type CheckedEnvelope, checkEnvelope, checkFrame } from './check';
import type { VerifyReply, VerifyRequest } from './protocol';

export interface EnvelopeVerifier {
  /**
   * Resolves with the hash of the header's signing input and the header's
   * canonical JSON when the signature and ciphertext hash are good; rejects
   * with the typed error otherwise.
   */
  verify(envelope: SealedEnvelope, signPublicKey: Uint8Array): Promise<CheckedEnvelope>;
  /** Version 2: the same checks over a frame as received; resolves with the hash of its signing input. */
  verifyFrame(frame: FrameView, signPublicKey: Uint8Array): Promise<{ headerHash: string }>;
  readonly threads: number;
  close(): Promise<void>;
}

export function inlineVerifier(crypto: Crypto): EnvelopeVerifier {
  return {
    threads: 0,
    async verify(envelope, signPublicKey) {
      return checkEnvelope(crypto, envelope, signPublicKey);
    },
    async verifyFrame(frame, signPublicKey) {
      return checkFrame(crypto, frame, signPublicKey);
    },
    async close() {},
  };
}

interface Pending {
  resolve: (checked: { headerHash: string; headerJson?: string }) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Compiled (`npm run build`, dist/): the worker is plain JavaScript. From
 * TypeScript sources, worker threads do not inherit a loader (jest's or
 * tsx's), so each registers tsx itself.
 */
function spawnWorker(): Worker {
  if (__filename.endsWith('.js')) return new Worker(path.join(__dirname, 'verify-worker.js'));
  const tsx = require.resolve('tsx/cjs/api');
  const entry = path.join(__dirname, 'verify-worker.ts');
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, { eval: true });
}

export async function startVerifierPool(threads: number, options: { onThreadFailure?: (err: unknown) => void } = {}): Promise<EnvelopeVerifier> {
  if (threads < 1) throw new HandoverError('INTERNAL', 'a verifier pool needs at least one thread');
  let nextId = 1;
  let closing = false;
  const pool: Thread[] = [];

  const start = (): Promise<Thread> =>
    new Promise((resolve, reject) => {
      const thread: Thread = { worker: spawnWorker(), pending: new Map() };
      const { worker } = thread;
      let ready = false;
      worker.on('message', (msg: VerifyReply | { ready: true }) => {
        if ('ready' in msg) {
          ready = true;
          resolve(thread);
          return;
        }
        const waiting = thread.pending.get(msg.id);
        if (!waiting) return;
        thread.pending.delete(msg.id);
        if (msg.ok) waiting.resolve({ headerHash: msg.headerHash, ...(msg.headerJson === undefined ? {} : { headerJson: msg.headerJson }) });
        else waiting.reject(new HandoverError(msg.code, msg.message));
      });
      const fail = (err: unknown) => {
        if (!ready) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        // Requests on a dead thread fail as UNAVAILABLE (the SDK sends again); a new thread takes its place.
        for (const waiting of thread.pending.values()) waiting.reject(new HandoverError('UNAVAILABLE', 'verification failed on the relay; send again'));
        thread.pending.clear();
        const at = pool.indexOf(thread);
        if (at >= 0) pool.splice(at, 1);
        if (closing) return;
        options.onThreadFailure?.(err);
        start().then(
          (replacement) => (closing ? void replacement.worker.terminate() : pool.push(replacement)),
          (startErr: unknown) => options.onThreadFailure?.(startErr),
        );
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!closing) fail(new Error(`verification thread exited with code ${code}`));
      });
    });

  pool.push(...(await Promise.all(Array.from({ length: threads }, start))));

  const send = (request: (id: number) => VerifyRequest): Promise<{ headerHash: string; headerJson?: string }> => {
    // The least busy thread; all threads gone (failing to restart) means unavailable.
    let thread: Thread | undefined;
    for (const t of pool) if (!thread || t.pending.size < thread.pending.size) thread = t;
    if (!thread || closing) return Promise.reject(new HandoverError('UNAVAILABLE', 'the relay cannot verify envelopes right now; send again'));
    const id = nextId++;
    const target = thread;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.postMessage(request(id));
    });
  };

  return {
    threads,
    async verify(envelope, signPublicKey) {
      const checked = await send((id) => ({ id, header: envelope.header, signature: envelope.signature, ciphertext: envelope.ciphertext, signPublicKey }));
      if (checked.headerJson === undefined) throw new HandoverError('INTERNAL', 'a verification thread answered without the header');
      return { headerHash: checked.headerHash, headerJson: checked.headerJson };
    },
    async verifyFrame(frame, signPublicKey) {
      const checked = await send((id) => ({ id, frame: frame.frame, signPublicKey }));
      return { headerHash: checked.headerHash };
    },
    async close() {
      closing = true;
      const all = pool.splice(0);
      for (const t of all) for (const waiting of t.pending.values()) waiting.reject(new HandoverError('UNAVAILABLE', 'the relay is shutting down'));
      await Promise.all(all.map((t) => t.worker.terminate()));
    },
  };
}
