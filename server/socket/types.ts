/**
 * The relay's Socket.IO types and the one naming rule every socket module
 * shares: each device's sockets sit in the room `dev:<deviceId>`, so an emit
 * to that room reaches the device in whichever relay process it is
 * connected (through the Redis adapter).
 */
import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from '../../shared';

export type RelayServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type RelaySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export const deviceRoom = (deviceId: string): string => `dev:${deviceId}`;
