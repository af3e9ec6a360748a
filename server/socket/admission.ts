/**
 * Authentication of a socket before it exists (finding 7). engine.io calls
 * `allowRequest` for every new connection with the HTTP upgrade request;
 * when it refuses, it answers the upgrade with `400 Bad Request` (the body
 * is our JSON error) and closes the TCP connection without reading a frame.
 *
 * Checked on the upgrade: the relay still accepts, the address is under its
 * connection limit, and the URL carries a good single-use ticket
 * (`?ticket=`, from POST /v1/auth/socket-ticket). The admitted device is
 * kept with the request, and the socket middleware gives it to the socket.
 */
import type { IncomingMessage } from 'node:http';
import { HandoverError, type WireError } from '../../shared';
import type { RelayConfig } from '../config';
import { errorSummary, toWireError } from '../errors';
import type { Logger } from '../logger';
import type { RelayMetrics } from '../metrics';
import type { AuthService } from '../services/auth';
import type { ActiveDevice } from '../services/trust';
import type { RateLimitStore } from '../store';
import type { RelayServer } from './types';

/** The query parameter of the upgrade URL that carries the socket ticket. */
export const TICKET_PARAM = 'ticket';

export type AdmittedDevice = ActiveDevice & { sessionExpiresAt: number };

export interface AdmissionDeps {
  config: Pick<RelayConfig, 'trustProxyHops' | 'rateLimits'>;
  store: RateLimitStore;
  auth: Pick<AuthService, 'redeemSocketTicket'>;
  metrics: Pick<RelayMetrics, 'socketRefusals'>;
  logger: Pick<Logger, 'error'>;
  isAccepting: () => boolean;
  /** The relay's clock, on which sessions expire. */
  now: () => number;
}

type Answer = (err: string | null | undefined, success: boolean) => void;

export class UpgradeAdmission {
  /** The device each upgrade request was admitted for; a socket reads it from its request. */
  private readonly admitted = new WeakMap<IncomingMessage, AdmittedDevice>();

  constructor(private readonly deps: AdmissionDeps) {}

  /** engine.io's `allowRequest`: admit the upgrade, or refuse it with our JSON error as the 400 body. */
  readonly allowRequest = (req: IncomingMessage, answer: Answer): void => {
    this.admit(req).then(
      (device) => {
        this.admitted.set(req, device);
        answer(null, true);
      },
      (err: unknown) => {
        const wire = toWireError(err);
        this.deps.metrics.socketRefusals.inc({ code: wire.code });
        if (wire.code === 'INTERNAL') this.deps.logger.error({ err: errorSummary(err) }, 'socket admission failed');
        answer(JSON.stringify({ error: wire }), false);
      },
    );
  };

  /** Everything checked before the upgrade: the relay accepts, the address is under its limit, the ticket is good. */
  async admit(req: IncomingMessage): Promise<AdmittedDevice> {
    const { config, store, auth } = this.deps;
    if (!this.deps.isAccepting()) throw new HandoverError('UNAVAILABLE', 'the relay is shutting down; connect again', { retryAfterMs: 1000 });
    const ip = clientAddress(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], config.trustProxyHops);
    const limit = await store.hitRateLimit(`connect:${ip}`, 60_000, config.rateLimits.connectPerMinute);
    if (!limit.allowed) throw new HandoverError('RATE_LIMITED', 'too many connections from this address', { retryAfterMs: limit.retryAfterMs });
    return auth.redeemSocketTicket(ticketOf(req.url));
  }

  /**
   * Gives each socket the device its upgrade was admitted for, and ends the
   * socket when the session ends (the client signs in again). Never a
   * socket without a device.
   */
  install(io: RelayServer): void {
    refuseEngineSessionIds(io);
    io.use((socket, next) => {
      const device = this.admitted.get(socket.request);
      if (!device) {
        // Cannot happen (every connection passed allowRequest).
        this.deps.metrics.socketRefusals.inc({ code: 'UNAUTHENTICATED' });
        const refusal = new Error('not admitted') as Error & { data: WireError };
        refusal.data = { code: 'UNAUTHENTICATED', message: 'connect with a socket ticket' };
        next(refusal);
        return;
      }
      socket.data.deviceId = device.device.deviceId;
      socket.data.orgId = device.device.orgId;
      const timer = setTimeout(() => socket.disconnect(true), Math.max(0, device.sessionExpiresAt - this.deps.now()));
      timer.unref();
      socket.once('disconnect', () => clearTimeout(timer));
      next();
    });
  }
}

/**
 * engine.io lets a request naming an existing session id (`sid`) attach a
 * new WebSocket to it without asking allowRequest. A WebSocket-only client
 * never sends one (each connection is a new session), so any request
 * carrying `sid` is refused before verification: no connection can be
 * taken over with a leaked session id.
 */
function refuseEngineSessionIds(io: RelayServer): void {
  io.engine.use((req: IncomingMessage, _res: unknown, next: (err?: unknown) => void) => {
    next(hasSessionId(req.url) ? new Error('engine session ids are not accepted') : undefined);
  });
}

/** Whether a request URL names an engine.io session (`sid`), in any spelling of the query a parser might take. */
function hasSessionId(url: string | undefined): boolean {
  try {
    return new URL(url ?? '/', 'http://relay').searchParams.has('sid');
  } catch {
    return true;
  }
}

/** The ticket in an upgrade URL's query, or undefined (a repeated parameter counts as missing). */
export function ticketOf(url: string | undefined): string | undefined {
  try {
    const values = new URL(url ?? '/', 'http://relay').searchParams.getAll(TICKET_PARAM);
    return values.length === 1 ? values[0] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client's address as Express computes it with `trust proxy` = hops:
 * behind N trusted proxies, the Nth address from the right of
 * X-Forwarded-For; without proxies, the TCP peer (a forged header is ignored).
 */
export function clientAddress(peer: string, forwardedFor: string | string[] | undefined, hops: number): string {
  if (hops <= 0) return peer || 'unknown';
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? '');
  const chain = [...header.split(',').map((s) => s.trim()).filter(Boolean), peer];
  return chain[Math.max(0, chain.length - 1 - hops)] ?? peer ?? 'unknown';
}
