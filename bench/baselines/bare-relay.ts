/**
 * Baseline: the thinnest Socket.IO relay. No auth, no validation, no
 * storage: a client joins the room named by its `deviceId` query; `send`
 * {to, id, payload} is emitted as `deliver` to each room, then acked.
 * What the Handover relay costs on top of Socket.IO is measured against it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';

export interface BaselineOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Only the durable relay uses it. */
  redisUrl?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export interface SendMessage {
  to: string[];
  id: number;
  payload: Buffer;
}

export type SendAck = (result: { ok: true } | { ok: false; error: string }) => void;

/** A Socket.IO server on loopback with the options every baseline shares. */
export async function listenSocketIo(port = 0): Promise<{ io: Server; url: string }> {
  const http = createServer();
  const io = new Server(http, {
    serveClient: false,
    transports: ['websocket'],
    // Bodies up to 64 KiB plus framing; the default 1 MB would also do, but be explicit.
    maxHttpBufferSize: 4 * 1024 * 1024,
    perMessageDeflate: false,
  });
  // Join in middleware, i.e. before the client sees `connect`, so nothing sent after it can miss the room.
  io.use((socket, next) => {
    const deviceId = socket.handshake.query.deviceId;
    if (typeof deviceId !== 'string' || deviceId === '') return next(new Error('deviceId query missing'));
    socket.data.deviceId = deviceId;
    void socket.join(deviceId);
    next();
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = http.address() as AddressInfo;
  return { io, url: `http://127.0.0.1:${bound}` };
}

export function closeSocketIo(io: Server): Promise<void> {
  return new Promise((resolve) => {
    io.close(() => resolve());
  });
}

export async function start(options: BaselineOptions = {}): Promise<RunningServer> {
  const { io, url } = await listenSocketIo(options.port);
  io.on('connection', (socket: Socket) => {
    socket.on('send', (msg: SendMessage, ack: SendAck) => {
      for (const to of msg.to) io.to(to).emit('deliver', { id: msg.id, payload: msg.payload });
      ack({ ok: true });
    });
  });
  return { url, close: () => closeSocketIo(io) };
}
