/**
 * Raw Socket.IO peers for volume runs: senders that push pre-sealed
 * envelopes one at a time and retry the very same envelope until the relay
 * acknowledges it, and receivers that dedupe by message id, "persist"
 * (remember) and then ack — the SDK's discipline without its crypto cost.
 *
 * Each peer reconnects by itself (a fresh socket ticket for the same
 * session token, then a new socket) and, given several relay URLs, moves to
 * the next one after repeated failures: that is the failover a client needs
 * when a relay process dies.
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import type { Crypto } from '../../../shared/crypto/types';
import { fromB64u } from '../../../shared/encoding';
import { envelopeOfDelivery, wireOf } from '../../../shared/envelope-wire';
import type { SealedEnvelope } from '../../../shared/schemas';
import type { ClientToServerEvents, Delivery, ServerToClientEvents, WireError } from '../../../shared/socket-events';
import { type Refusal, socketTicket } from '../../support/relay';
import { sleep } from './wait';

export type PeerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface PeerOptions {
  name: string;
  /** Relay URLs, preferred first. */
  urls: string[];
  token: string;
  /** Bind to this local address (e.g. 127.0.0.2: "another IP"). */
  localAddress?: string;
  /** Connection failures in a row before moving to the next URL. */
  failoverAfter?: number;
}

/** Drop the TCP connection under a socket without any goodbye (a network cut). */
export function cutConnection(socket: PeerSocket): void {
  const transport = (socket.io.engine as unknown as { transport?: { ws?: { terminate?: () => void } } }).transport;
  if (transport?.ws?.terminate) transport.ws.terminate();
  else socket.io.engine.close();
}

export class Peer {
  socket: PeerSocket | undefined;
  private urlIndex = 0;
  private failuresInRow = 0;
  private stopped = false;
  private waiters: Array<() => void> = [];
  readonly stats = { connects: 0, disconnects: 0, connectErrors: 0, failovers: 0, refusals: {} as Record<string, number> };

  constructor(readonly opts: PeerOptions) {}

  get url(): string {
    return this.opts.urls[this.urlIndex % this.opts.urls.length] ?? '';
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  start(): this {
    this.stopped = false;
    this.open();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close();
  }

  /** Resolves with a connected socket (waits through reconnects). */
  async ready(): Promise<PeerSocket> {
    for (;;) {
      const s = this.socket;
      if (s?.connected) return s;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Hook for subclasses: listeners for each new socket. */
  protected attach(_socket: PeerSocket): void {}

  /** Every attempt starts with a fresh single-use ticket from the relay it connects to. */
  private open(): void {
    if (this.stopped) return;
    const url = this.url;
    socketTicket(url, this.opts.token, this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}).then(
      ({ ticket }) => this.openWith(url, ticket),
      (err: Refusal) => {
        this.stats.connectErrors++;
        const code = err.data?.code ?? 'transport';
        this.stats.refusals[code] = (this.stats.refusals[code] ?? 0) + 1;
        this.retry();
      },
    );
  }

  private openWith(url: string, ticket: string): void {
    if (this.stopped) return;
    const socket: PeerSocket = ioClient(url, {
      transports: ['websocket'],
      query: { ticket },
      reconnection: false,
      forceNew: true,
      timeout: 3000,
      ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
    });
    this.socket = socket;
    this.attach(socket);
    socket.on('connect', () => {
      this.stats.connects++;
      this.failuresInRow = 0;
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting) w();
    });
    socket.on('connect_error', (err: Error & { data?: WireError }) => {
      this.stats.connectErrors++;
      const code = err.data?.code ?? 'transport';
      this.stats.refusals[code] = (this.stats.refusals[code] ?? 0) + 1;
      socket.close();
      if (socket === this.socket) this.retry();
    });
    socket.on('disconnect', (reason) => {
      this.stats.disconnects++;
      if (socket === this.socket && reason !== 'io client disconnect') this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    this.failuresInRow++;
    if (this.opts.urls.length > 1 && this.failuresInRow >= (this.opts.failoverAfter ?? 3)) {
      this.urlIndex++;
      this.failuresInRow = 0;
      this.stats.failovers++;
    }
    setTimeout(() => this.open(), 50 + Math.floor(Math.random() * 100));
  }
}

/** What a receiver does with a delivery before processing it: nothing, or cut the connection. */
export type CutDecision = 'before-processing' | 'before-ack' | undefined;

export class Receiver extends Peer {
  /** Message ids in the order this device first processed them (after dedupe). */
  readonly processed: string[] = [];
  private readonly seen = new Set<string>();
  readonly rawById = new Map<string, number>();
  rawDeliveries = 0;
  corrupt = 0;
  cuts = 0;
  readonly ackErrors: string[] = [];
  cutPolicy: ((messageId: string) => CutDecision) | undefined;
  private readonly cutSockets = new WeakSet<PeerSocket>();

  constructor(
    opts: PeerOptions,
    readonly deviceId: string,
    private readonly crypto: Crypto,
  ) {
    super(opts);
  }

  protected override attach(socket: PeerSocket): void {
    socket.on('envelope:deliver', (d) => this.onDeliver(socket, d));
  }

  private onDeliver(socket: PeerSocket, delivery: Delivery): void {
    const { header, ciphertext } = envelopeOfDelivery(delivery);
    const id = header.messageId;
    this.rawDeliveries++;
    this.rawById.set(id, (this.rawById.get(id) ?? 0) + 1);
    // Frames already read off a connection we cut still get decoded; a crashed
    // client would never have processed them.
    if (this.cutSockets.has(socket)) return;
    const bytes = ciphertext instanceof Uint8Array ? ciphertext : new Uint8Array(ciphertext as ArrayBuffer);
    if (!this.crypto.equal(this.crypto.hash(bytes, 32), fromB64u(header.ciphertextHash))) this.corrupt++;
    const cut = this.cutPolicy?.(id);
    if (cut === 'before-processing') return this.cut(socket);
    if (!this.seen.has(id)) {
      this.seen.add(id);
      this.processed.push(id);
    }
    if (cut === 'before-ack') return this.cut(socket);
    void this.ack(socket, id);
  }

  private cut(socket: PeerSocket): void {
    this.cutSockets.add(socket);
    if (!socket.connected) return;
    this.cuts++;
    cutConnection(socket);
  }

  /** Ack until the relay takes it; a lost ack only means a harmless redelivery later. */
  private async ack(socket: PeerSocket, messageId: string): Promise<void> {
    for (let attempt = 0; attempt < 50 && socket.connected; attempt++) {
      try {
        const res = await socket.timeout(5000).emitWithAck('envelope:ack', { messageId });
        if (res.ok) return;
        if (res.error.code !== 'UNAVAILABLE') {
          this.ackErrors.push(res.error.code);
          return;
        }
      } catch {
        // no answer: try again while this connection lasts
      }
      await sleep(100);
    }
  }
}

export interface SendAttempt {
  messageId: string;
  at: number;
  ms: number;
  outcome: 'ok' | 'replay-accepted' | 'lost' | string;
}

export class Sender extends Peer {
  readonly acked: string[] = [];
  readonly attempts: SendAttempt[] = [];
  readonly fatal: Array<{ messageId: string; error: WireError }> = [];
  sendCuts = 0;
  /** Cut the connection this many ms after emitting (before the relay's answer), or not (undefined). */
  cutAfterEmit: (() => number | undefined) | undefined;

  constructor(
    opts: PeerOptions,
    readonly deviceId: string,
    private readonly ackTimeoutMs = 5000,
  ) {
    super(opts);
  }

  /** Send each envelope in order; the next only after the relay acknowledged this one. */
  async run(envelopes: readonly SealedEnvelope[], onAck?: (messageId: string) => void): Promise<void> {
    for (const envelope of envelopes) {
      const id = envelope.header.messageId;
      for (;;) {
        const socket = await this.ready();
        const started = Date.now();
        const result = await this.attempt(socket, envelope);
        const error = result === 'lost' || result.ok ? undefined : result.error;
        const outcome = result === 'lost' ? 'lost' : (error?.code ?? 'ok');
        const replayAccepted = error?.code === 'REPLAY' && error.details?.alreadyAccepted === true;
        this.attempts.push({ messageId: id, at: started, ms: Date.now() - started, outcome: replayAccepted ? 'replay-accepted' : outcome });
        if (outcome === 'ok' || replayAccepted) {
          this.acked.push(id);
          onAck?.(id);
          break;
        }
        if (!error || error.code === 'UNAVAILABLE') {
          await sleep(100);
          continue;
        }
        if (error.code === 'RATE_LIMITED') {
          await sleep(Number(error.details?.retryAfterMs ?? 1000));
          continue;
        }
        this.fatal.push({ messageId: id, error });
        break;
      }
    }
  }

  /** One emit; 'lost' when the connection drops or no answer comes in time. */
  private attempt(socket: PeerSocket, envelope: SealedEnvelope): Promise<{ ok: true } | { ok: false; error: WireError } | 'lost'> {
    return new Promise((resolve) => {
      const onDisconnect = () => resolve('lost');
      socket.once('disconnect', onDisconnect);
      socket
        .timeout(this.ackTimeoutMs)
        .emitWithAck('envelope:send', wireOf(envelope))
        .then(
          (res) => resolve(res as { ok: true } | { ok: false; error: WireError }),
          () => resolve('lost'),
        )
        .finally(() => socket.off('disconnect', onDisconnect));
      const cutAfterMs = this.cutAfterEmit?.();
      if (cutAfterMs !== undefined) {
        this.sendCuts++;
        setTimeout(() => cutConnection(socket), cutAfterMs);
      }
    });
  }
}
