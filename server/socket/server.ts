/**
 * The Socket.IO side of the relay, assembled: the server (WebSocket only,
 * frame size, CORS), authentication on the upgrade (admission.ts), one
 * handler per connected socket (connection.ts, device-events.ts), delivery
 * through a per-socket pump (delivery.ts), and fan-out between processes
 * (fan-out.ts): with Redis, the Socket.IO Redis adapter carries room emits
 * and the `inbox:new` notice between processes.
 *
 * WebSocket is the only transport, so no unauthenticated long-polling
 * request is parsed; every connection is authenticated before it exists.
 */
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { RelayConfig } from '../config';
import type { Logger } from '../logger';
import type { RelayMetrics } from '../metrics';
import type { AuthService } from '../services/auth';
import type { EnvelopeService } from '../services/envelopes';
import type { InboxStore, NoticeStore, PrekeyStore, RateLimitStore } from '../store';
import { encodeDeliveredNotice } from '../expiry/notice';
import { errorSummary } from '../errors';
import { UpgradeAdmission } from './admission';
import { serveConnection } from './connection';
import { shareEncodings } from './encode-once';
import { FanOut } from './fan-out';
import { SendGate } from './send-gate';
import { deviceRoom, type RelayServer } from './types';

export { deviceRoom, type RelayServer } from './types';

export interface SocketDeps {
  config: RelayConfig;
  store: RateLimitStore & InboxStore & NoticeStore & PrekeyStore;
  auth: AuthService;
  envelopes: EnvelopeService;
  metrics: RelayMetrics;
  logger: Logger;
  isAccepting: () => boolean;
  now: () => number;
}

export interface SocketLayer {
  io: RelayServer;
  /** Sends in progress (shutdown waits for them). */
  inFlight(): number;
  /** Called once the Redis adapter is installed: from then on notices also go to the other processes. */
  enableCrossProcess(): void;
}

export function attachSocketServer(httpServer: HttpServer, deps: SocketDeps): SocketLayer {
  const { config } = deps;
  const admission = new UpgradeAdmission(deps);
  const io: RelayServer = new Server(httpServer, {
    transports: ['websocket'],
    // A whole envelope arrives as one message: its ciphertext plus a header of up to ~2 KiB per recipient.
    // Only an admitted (authenticated) connection can send a frame at all.
    maxHttpBufferSize: config.maxEnvelopeBytes + config.maxRecipients * 2048 + 64 * 1024,
    cors: { origin: config.corsOrigins, methods: ['GET', 'POST'] },
    serveClient: false,
    connectTimeout: 10_000,
    allowRequest: admission.allowRequest,
  });
  admission.install(io);
  shareEncodings(io);

  const fanOut = new FanOut({
    publish: (notice) => io.serverSideEmit('inbox:new', notice),
    subscribe: (handler) => io.on('inbox:new', handler),
  });
  const gate = new SendGate(config);
  // Kept until the sender acks it (a sender that is offline now learns it on its next connect), then sent on.
  const notifyDelivered = (sender: string, notice: { messageId: string; recipientDeviceId: string; at: number }) => {
    void deps.store
      .putNotice(sender, encodeDeliveredNotice(notice))
      .then(
        (noticeId) => io.to(deviceRoom(sender)).emit('envelope:delivered', { ...notice, noticeId }),
        (err: unknown) => {
          deps.logger.warn({ err: errorSummary(err) }, 'delivered notice not kept; sent once');
          io.to(deviceRoom(sender)).emit('envelope:delivered', notice);
        },
      );
  };
  io.on('connection', (socket) => serveConnection(socket, { ...deps, fanOut, gate, notifyDelivered }));

  return {
    io,
    inFlight: () => gate.inFlight(),
    enableCrossProcess: () => fanOut.enableCrossProcess(),
  };
}
