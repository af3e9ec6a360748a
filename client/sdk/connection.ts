/**
 * The SDK's socket to the relay, kept open by its own reconnect loop.
 *
 * The relay authenticates a socket before the WebSocket upgrade, with a
 * single-use ticket in the upgrade URL (`?ticket=`, from
 * POST /v1/auth/socket-ticket). socket.io-client's own reconnection cannot
 * wait for an HTTP call before each attempt, so it is off: every attempt —
 * the first and every reconnect — fetches a fresh ticket first. Between
 * failed attempts the loop backs off (250 ms doubling to 5 s, with jitter),
 * waits at least what a RATE_LIMITED or UNAVAILABLE answer asks, signs in
 * again when the session has ended, and stops for good on REVOKED or close().
 *
 * One Socket.IO socket object lives as long as the connection, so emits made
 * while it is reconnecting are buffered and sent once it is back.
 *
 * Every wait is bounded by one timeout (the app's, 10 s by default): the
 * ticket and sign-in calls, the socket's handshake, and `start()` itself,
 * which fails with the same UNAVAILABLE wording as the HTTP calls.
 */
import { io, type Socket } from 'socket.io-client';
import { type SocketTicketResponse, HandoverError, isHandoverError, type ClientToServerEvents, type ServerToClientEvents } from '../../shared';
import { DEFAULT_RELAY_TIMEOUT_MS, relayTimeoutError } from './relay-api';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The query parameter of the upgrade URL that carries the ticket. */
export const TICKET_PARAM = 'ticket';
export const RECONNECT_BASE_MS = 250;
export const RECONNECT_MAX_MS = 5000;
/** A relay asking for a longer wait than this is not obeyed further (a hostile relay could park the client). */
const MAX_RETRY_AFTER_MS = 60_000;

export interface ConnectionHooks {
  /** A fresh socket ticket (HTTP, with the current session). */
  ticket(): Promise<SocketTicketResponse>;
  /** Sign in again: the session has ended. */
  signIn(): Promise<void>;
}

export interface ConnectionOptions {
  /** How long the ticket call, the handshake and `start()` may each go unanswered. */
  timeoutMs?: number;
}

export class SocketConnection {
  readonly socket: ClientSocket;
  private readonly timeoutMs: number;
  /** Why the last attempt failed, for the message when `start()` gives up. */
  private lastFailure: HandoverError | undefined;
  private closed = false;
  /** Failed attempts since the last connection: sets the backoff. */
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** An attempt is between fetching its ticket and the socket's answer. */
  private attempting = false;
  private stoppedWith: HandoverError | undefined;
  private readonly stopListeners = new Set<(err: HandoverError) => void>();

  constructor(
    private readonly url: string,
    private readonly hooks: ConnectionHooks,
    private readonly random: () => number = Math.random,
    options: ConnectionOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
    this.socket = io(url, { transports: ['websocket'], reconnection: false, autoConnect: false, timeout: this.timeoutMs });
    this.socket.on('connect', () => {
      this.attempting = false;
      this.failures = 0;
      this.lastFailure = undefined;
    });
    this.socket.on('connect_error', (err) => {
      this.attempting = false;
      // socket.io reports its own handshake timeout as the message "timeout".
      this.lastFailure = err.message === 'timeout'
        ? relayTimeoutError(this.url, this.timeoutMs)
        : new HandoverError('UNAVAILABLE', `the relay at ${this.url} refused the socket: ${err.message}`);
      this.retryLater();
    });
    this.socket.on('disconnect', (reason) => {
      this.attempting = false;
      if (reason !== 'io client disconnect') this.retryLater();
    });
  }

  /**
   * Start connecting. Resolves once connected; rejects with REVOKED if the
   * relay says so, or with UNAVAILABLE after `timeoutMs` (the loop carries on).
   */
  start(timeoutMs = this.timeoutMs): Promise<void> {
    const connected = new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off('connect', onConnect);
        this.stopListeners.delete(onStop);
      };
      const onConnect = () => {
        done();
        resolve();
      };
      const onStop = (err: HandoverError) => {
        done();
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        // The last attempt's own failure says more (refused, revoked ticket) than "no answer".
        reject(this.lastFailure ?? relayTimeoutError(this.url, timeoutMs));
      }, timeoutMs);
      this.socket.on('connect', onConnect);
      this.stopListeners.add(onStop);
    });
    void this.attempt();
    return connected;
  }

  /** Be told when the loop stops by itself for good (REVOKED): the app says so instead of "offline". */
  onStopped(listener: (err: HandoverError) => void): void {
    this.stopListeners.add(listener);
  }

  /** Stop for good: no more attempts, the socket closes. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.disconnect();
  }

  /** Why the loop stopped by itself (REVOKED), if it did. */
  get stopped(): HandoverError | undefined {
    return this.stoppedWith;
  }

  private async attempt(): Promise<void> {
    if (this.closed || this.stoppedWith || this.attempting || this.socket.connected) return;
    this.attempting = true;
    let ticket: string;
    try {
      ticket = await this.freshTicket();
    } catch (err) {
      this.attempting = false;
      if (isHandoverError(err)) this.lastFailure = err;
      if (isHandoverError(err, 'REVOKED')) return this.stop(err);
      this.retryLater(retryAfterOf(err));
      return;
    }
    if (this.closed) {
      this.attempting = false;
      return;
    }
    this.socket.io.opts.query = { [TICKET_PARAM]: ticket };
    this.socket.connect();
  }

  /** A ticket; when the session has ended, sign in once and ask again. */
  private async freshTicket(): Promise<string> {
    try {
      return (await this.bounded(this.hooks.ticket())).ticket;
    } catch (err) {
      if (!isHandoverError(err, 'UNAUTHENTICATED')) throw err;
      await this.bounded(this.hooks.signIn());
      return (await this.bounded(this.hooks.ticket())).ticket;
    }
  }

  /** A hook that does not settle within the timeout counts as an unanswered relay for this attempt. */
  private bounded<T>(call: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(relayTimeoutError(this.url, this.timeoutMs)), this.timeoutMs);
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  private retryLater(retryAfterMs = 0): void {
    if (this.closed || this.stoppedWith || this.timer || this.attempting) return;
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(this.failures, 10));
    this.failures++;
    const jittered = base * (0.75 + this.random() * 0.5);
    const delay = Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
    // Not unref'd: like socket.io's own reconnection, a reconnecting client keeps the process alive.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, delay);
  }

  private stop(err: HandoverError): void {
    this.stoppedWith = err;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.disconnect();
    for (const listener of this.stopListeners) listener(err);
  }
}

/** The wait a RATE_LIMITED or UNAVAILABLE refusal asks for, or 0. */
function retryAfterOf(err: unknown): number {
  if (!isHandoverError(err) || (err.code !== 'RATE_LIMITED' && err.code !== 'UNAVAILABLE')) return 0;
  const ms = Number(err.details?.retryAfterMs);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}
