/**
 * The Socket.IO side of the relay: authenticated handshakes, each device's
 * sockets in their own room, send / ack / sync with acknowledgements, and
 * delivery through a per-socket pump. With Redis, the Socket.IO Redis
 * adapter carries room emits and the `inbox:new` notice between processes.
 *
 * Authentication and the per-address limit run on the HTTP upgrade request,
 * before any WebSocket exists (finding 7): engine.io calls `allowRequest`
 * for every new connection and, when it refuses, answers the upgrade with
 * `400 Bad Request` (the body is our JSON error) and closes the TCP
 * connection without reading a frame. The upgrade carries a single-use
 * ticket (`?ticket=`, from POST /v1/auth/socket-ticket); WebSocket is the
 * only transport, so no unauthenticated long-polling request is parsed.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { z } from 'zod';
import { HandoverError, isHandoverError } from '../../shared/errors';
import { parseEnvelope } from '../../shared/envelope';
import { MessageId } from '../../shared/schemas';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData, WireError } from '../../shared/socket-events';
import type { RelayConfig } from '../config';
import { errorSummary, parseInput, toWireError } from '../errors';
import type { Logger } from '../logger';
import type { RelayMetrics } from '../metrics';
import type { AuthService } from '../services/auth';
import type { ActiveDevice } from '../services/trust';
import { type AcceptedEnvelope, decodeStored, type EnvelopeService } from '../services/envelopes';
import type { RelayStore } from '../store';
import { NOTICE_ID } from '../store/validate';
import { readKeptExpiryNotices } from '../expiry/notice';
import { DeliveryPump, type PendingItem } from './delivery';

export type RelayServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type RelaySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketDeps {
  config: RelayConfig;
  store: RelayStore;
  auth: AuthService;
  envelopes: EnvelopeService;
  metrics: RelayMetrics;
  logger: Logger;
  isAccepting: () => boolean;
}

export const deviceRoom = (deviceId: string): string => `dev:${deviceId}`;

const AckPayload = z.strictObject({ messageId: MessageId });
const NoticeAckPayload = z.strictObject({ noticeId: z.string().regex(NOTICE_ID) });
/** Kept notices sent on connect; more wait for the next connect. */
const NOTICES_PER_CONNECT = 1000;

/** Refusals per socket per minute before the relay hangs up on it. */
const ABUSE_LIMIT = 200;
/** What a sender refused for backpressure is told to wait before sending again. */
const BUSY_RETRY_MS = 250;

export interface SocketLayer {
  io: RelayServer;
  /** Deliver a newly stored envelope to its recipients, in this process and the others. */
  fanOut(accepted: AcceptedEnvelope): void;
  /** Have the recipients' pumps (here and in other processes) read their inboxes again. */
  nudge(recipientDeviceIds: string[]): void;
  /** Sends in progress (shutdown waits for them). */
  inFlight(): number;
  /** Called once the Redis adapter is installed: from then on notices also go to the other processes. */
  enableCrossProcess(): void;
}

/** The query parameter of the upgrade URL that carries the socket ticket. */
export const TICKET_PARAM = 'ticket';

type AdmittedDevice = ActiveDevice & { sessionExpiresAt: number };

export function attachSocketServer(httpServer: HttpServer, deps: SocketDeps): SocketLayer {
  const { config, store, auth, envelopes, metrics, logger } = deps;
  /** The device each upgrade request was admitted for; a socket reads it from its request. */
  const admitted = new WeakMap<IncomingMessage, AdmittedDevice>();

  /** Everything checked before the upgrade: the relay accepts, the address is under its limit, the ticket is good. */
  const admit = async (req: IncomingMessage): Promise<AdmittedDevice> => {
    if (!deps.isAccepting()) throw new HandoverError('UNAVAILABLE', 'the relay is shutting down; connect again', { retryAfterMs: 1000 });
    const ip = clientAddress(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], config.trustProxyHops);
    const limit = await store.hitRateLimit(`connect:${ip}`, 60_000, config.rateLimits.connectPerMinute);
    if (!limit.allowed) throw new HandoverError('RATE_LIMITED', 'too many connections from this address', { retryAfterMs: limit.retryAfterMs });
    return auth.redeemSocketTicket(ticketOf(req.url));
  };

  const io: RelayServer = new Server(httpServer, {
    transports: ['websocket'],
    // A whole envelope arrives as one message: its ciphertext plus a header of up to ~2 KiB per recipient.
    // Only an admitted (authenticated) connection can send a frame at all.
    maxHttpBufferSize: config.maxEnvelopeBytes + config.maxRecipients * 2048 + 64 * 1024,
    cors: { origin: config.corsOrigins, methods: ['GET', 'POST'] },
    serveClient: false,
    connectTimeout: 10_000,
    allowRequest: (req, answer) => {
      admit(req).then(
        (device) => {
          admitted.set(req, device);
          answer(null, true);
        },
        (err: unknown) => {
          const wire = toWireError(err);
          metrics.socketRefusals.inc({ code: wire.code });
          if (wire.code === 'INTERNAL') logger.error({ err: errorSummary(err) }, 'socket admission failed');
          // engine.io sends this text as the body of its 400 answer to the upgrade.
          answer(JSON.stringify({ error: wire }), false);
        },
      );
    },
  });
  // engine.io lets a request naming an existing session id (`sid`) attach a
  // new WebSocket to it without asking allowRequest. A WebSocket-only client
  // never sends one (each connection is a new session), so any request
  // carrying `sid` is refused before verification: no connection can be
  // taken over with a leaked session id.
  io.engine.use((req: IncomingMessage, _res: unknown, next: (err?: unknown) => void) => {
    next(hasSessionId(req.url) ? new Error('engine session ids are not accepted') : undefined);
  });
  const pumps = new Map<string, Set<DeliveryPump>>();
  let inFlight = 0;
  let inFlightBytes = 0;
  let crossProcess = false;

  const deliverLocal = (recipientDeviceIds: readonly string[], item: PendingItem) => {
    for (const deviceId of recipientDeviceIds) for (const pump of pumps.get(deviceId) ?? []) pump.offer(item);
  };
  // Another process stored an envelope for devices that may have sockets here:
  // the notice carries ids only (the adapter sends it as JSON), so the pump reads the inbox.
  io.on('inbox:new', (notice) => {
    if (!notice || !Array.isArray(notice.recipientDeviceIds)) return;
    for (const deviceId of notice.recipientDeviceIds) {
      if (typeof deviceId !== 'string') continue;
      for (const pump of pumps.get(deviceId) ?? []) void pump.replay().catch(() => undefined);
    }
  });

  io.use((socket, next) => {
    const device = admitted.get(socket.request);
    if (!device) {
      // Cannot happen (every connection passed allowRequest); never a socket without a device.
      metrics.socketRefusals.inc({ code: 'UNAUTHENTICATED' });
      const refusal = new Error('not admitted') as Error & { data: WireError };
      refusal.data = { code: 'UNAUTHENTICATED', message: 'connect with a socket ticket' };
      next(refusal);
      return;
    }
    socket.data.deviceId = device.device.deviceId;
    socket.data.orgId = device.device.orgId;
    // The socket lives no longer than its session; the client signs in again.
    const timer = setTimeout(() => socket.disconnect(true), Math.max(0, device.sessionExpiresAt - Date.now()));
    timer.unref();
    socket.once('disconnect', () => clearTimeout(timer));
    next();
  });

  io.on('connection', (socket: RelaySocket) => {
    const { deviceId } = socket.data;
    metrics.socketsConnected.inc();
    void socket.join(deviceRoom(deviceId));
    const pump = new DeliveryPump(
      deviceId,
      store,
      {
        emit: (item) => {
          metrics.deliveries.inc();
          socket.emit('envelope:deliver', item.delivery ?? decodeStored(item.blob));
        },
      },
      { count: config.deliveryWindow, bytes: config.deliveryWindowBytes },
    );
    const mine = pumps.get(deviceId) ?? new Set();
    mine.add(pump);
    pumps.set(deviceId, mine);

    let refusals = 0;
    const refusalReset = setInterval(() => (refusals = 0), 60_000);
    refusalReset.unref();
    const refuse = (event: string, err: unknown): WireError => {
      const wire = toWireError(err);
      metrics.socketRefusals.inc({ code: wire.code });
      if (wire.code === 'INTERNAL') logger.error({ err: errorSummary(err), event, deviceId }, 'socket handler failed');
      // The relay's own conditions (busy, storage down) are not the client's fault.
      if (wire.code !== 'UNAVAILABLE' && ++refusals > ABUSE_LIMIT) {
        logger.warn({ deviceId, event }, 'too many refused events; disconnecting');
        socket.disconnect(true);
      }
      return wire;
    };

    /** Wrap a handler: the last argument must be an ack callback; errors become typed refusals. */
    const on = <E extends keyof ClientToServerEvents>(event: E, handler: (...args: unknown[]) => Promise<Record<string, unknown>>) => {
      socket.on(event, ((...args: unknown[]) => {
        const ack = args[args.length - 1];
        if (typeof ack !== 'function') {
          refuse(event, new HandoverError('BAD_REQUEST', `${event} needs an acknowledgement callback`));
          return;
        }
        const reply = ack as (r: unknown) => void;
        handler(...args.slice(0, -1))
          .then((result) => reply({ ok: true, ...result }))
          .catch((err: unknown) => reply({ ok: false, error: refuse(event, err) }));
      }) as never);
    };

    on('envelope:send', async (envelope) => {
      if (!deps.isAccepting()) throw new HandoverError('UNAVAILABLE', 'the relay is shutting down; send again after reconnecting');
      // Backpressure: above capacity, accepting more only starves delivery of
      // what was already accepted. Refuse early (before any parsing or
      // storage); the SDK waits retryAfterMs and sends the same envelope again.
      const bytes = ciphertextLength(envelope);
      if (inFlight >= config.maxConcurrentSends || (inFlight > 0 && inFlightBytes + bytes > config.maxSendBufferBytes)) {
        metrics.sendsShed.inc();
        throw new HandoverError('UNAVAILABLE', 'the relay is busy; send again shortly', { retryAfterMs: BUSY_RETRY_MS });
      }
      inFlight++;
      inFlightBytes += bytes;
      const started = process.hrtime.bigint();
      try {
        const limit = await store.hitRateLimit(`send:${deviceId}`, 60_000, config.rateLimits.sendPerMinute);
        if (!limit.allowed) throw new HandoverError('RATE_LIMITED', 'too many envelopes from this device; slow down', { retryAfterMs: limit.retryAfterMs });
        const accepted = await envelopes.accept(deviceId, envelope);
        metrics.envelopesAccepted.inc();
        metrics.envelopeBytes.observe(accepted.blob.length);
        metrics.acceptSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        layer.fanOut(accepted);
        return { messageId: accepted.messageId, storedAt: accepted.storedAt };
      } catch (err) {
        const code = toWireError(err).code;
        metrics.envelopesRefused.inc({ code });
        // A storage failure may come after the envelope was written (a lost
        // reply), and a REPLAY means an earlier attempt stored it: in both
        // cases it may sit in inboxes without ever having been offered to
        // connected recipients. Have their pumps read their inboxes again.
        if (code === 'UNAVAILABLE' || (code === 'REPLAY' && isHandoverError(err) && err.details?.alreadyAccepted === true)) {
          const recipients = ownRecipients(envelope, deviceId);
          if (recipients.length > 0) layer.nudge(recipients);
        }
        throw err;
      } finally {
        inFlight--;
        inFlightBytes -= bytes;
      }
    });

    on('envelope:ack', async (payload) => {
      const { messageId } = parseInput(AckPayload, payload, 'ack');
      let removed: boolean;
      try {
        removed = await store.ackDelivery(deviceId, messageId);
      } catch (err) {
        pump.ackFailed(messageId);
        throw err;
      }
      const sender = pump.acked(messageId);
      if (removed) {
        metrics.acks.inc();
        if (sender) io.to(deviceRoom(sender)).emit('envelope:delivered', { messageId, recipientDeviceId: deviceId, at: Date.now() });
      }
      return {};
    });

    on('inbox:sync', async () => ({ pending: await pump.replay() }));

    on('notice:ack', async (payload) => {
      const { noticeId } = parseInput(NoticeAckPayload, payload, 'notice ack');
      await store.ackNotice(deviceId, noticeId);
      return {};
    });

    socket.on('disconnect', () => {
      metrics.socketsConnected.dec();
      clearInterval(refusalReset);
      pump.close();
      mine.delete(pump);
      if (mine.size === 0) pumps.delete(deviceId);
    });

    // Replay what waited while the device was away: envelopes, then kept expiry notices.
    void pump.replay().catch((err: unknown) => logger.warn({ deviceId, err: errorSummary(err) }, 'inbox replay failed'));
    void readKeptExpiryNotices(store, deviceId, NOTICES_PER_CONNECT)
      .then((notices) => {
        for (const notice of notices) socket.emit('envelope:expired', notice);
      })
      .catch((err: unknown) => logger.warn({ deviceId, err: errorSummary(err) }, 'notice replay failed'));
    void store
      .countOneTimePrekeys(deviceId)
      .then((remaining) => {
        if (remaining < config.oneTimePrekeyLowWater) socket.emit('prekeys:low', { remaining });
      })
      .catch(() => undefined);
  });

  const layer: SocketLayer = {
    io,
    fanOut(accepted) {
      const item: PendingItem = { messageId: accepted.messageId, senderDeviceId: accepted.senderDeviceId, blob: accepted.blob, delivery: accepted.delivery };
      deliverLocal(accepted.recipientDeviceIds, item);
      if (crossProcess) io.serverSideEmit('inbox:new', { recipientDeviceIds: accepted.recipientDeviceIds, messageId: accepted.messageId });
    },
    nudge(recipientDeviceIds) {
      for (const id of recipientDeviceIds) for (const pump of pumps.get(id) ?? []) void pump.replay().catch(() => undefined);
      if (crossProcess) io.serverSideEmit('inbox:new', { recipientDeviceIds, messageId: '' });
    },
    inFlight: () => inFlight,
    enableCrossProcess: () => {
      crossProcess = true;
    },
  };
  return layer;
}

/** The size of an envelope's ciphertext, before any validation (0 when it is not binary). */
function ciphertextLength(value: unknown): number {
  const ciphertext = typeof value === 'object' && value !== null ? (value as { ciphertext?: unknown }).ciphertext : undefined;
  return ciphertext instanceof Uint8Array ? ciphertext.byteLength : 0;
}

/** The recipient ids of a well-formed envelope sent by this device; none for anything else. */
function ownRecipients(value: unknown, deviceId: string): string[] {
  try {
    const { header } = parseEnvelope(value);
    return header.senderDeviceId === deviceId ? header.recipients.map((r) => r.deviceId) : [];
  } catch {
    return [];
  }
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
function ticketOf(url: string | undefined): string | undefined {
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
