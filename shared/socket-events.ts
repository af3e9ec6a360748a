/**
 * The one typed event map for the Socket.IO protocol, used by the relay and
 * by every client. The WebSocket upgrade URL carries `?ticket=` (a single-use
 * ticket from POST /v1/auth/socket-ticket); without a valid one the relay
 * refuses the upgrade and the socket never exists (PROTOCOL.md §5.8).
 */
import type { ErrorCode } from './errors';
import type { EnvelopeHeader } from './schemas';

/** A version 1 envelope on the socket: header JSON, signature, and the ciphertext as binary. */
export interface WireEnvelope {
  header: EnvelopeHeader;
  signature: string;
  ciphertext: Uint8Array;
}

export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type Ack<T> = (result: ({ ok: true } & T) | { ok: false; error: WireError }) => void;

/** Details of a DEVICE_SET_MISMATCH refusal: refetch bundles and seal again. */
export interface DeviceSetMismatch {
  missing: string[];
  stale: string[];
}

/** A version 1 envelope delivered (stored before version 2, or sent by a version 1 client). */
export interface EnvelopeDelivery {
  envelope: WireEnvelope;
  /** When the relay accepted it (ms). */
  storedAt: number;
}

/** A version 2 envelope delivered: the frame exactly as the sender sent it (PROTOCOL.md §4.12), one binary attachment. */
export interface FrameDelivery {
  frame: Uint8Array;
  /** When the relay accepted it (ms). */
  storedAt: number;
}

export type Delivery = EnvelopeDelivery | FrameDelivery;

export interface ClientToServerEvents {
  /**
   * Ack comes only after the envelope is in every recipient inbox. A version
   * 2 envelope is its frame (one binary attachment); a version 1 envelope
   * the object.
   */
  'envelope:send': (envelope: Uint8Array | WireEnvelope, ack: Ack<{ messageId: string; storedAt: number }>) => void;
  /** The client stored the envelope locally: the relay may delete it from this device's inbox. */
  'envelope:ack': (payload: { messageId: string }, ack: Ack<Record<string, never>>) => void;
  /** Ask for the pending inbox again (also replayed automatically on connect). */
  'inbox:sync': (ack: Ack<{ pending: number }>) => void;
  /** The client handled a kept notice (e.g. an expiry): the relay may forget it. */
  'notice:ack': (payload: { noticeId: string }, ack: Ack<Record<string, never>>) => void;
}

export interface ServerToClientEvents {
  'envelope:deliver': (delivery: Delivery) => void;
  /** To the sender's devices: a recipient device stored the envelope. */
  'envelope:delivered': (notice: { messageId: string; recipientDeviceId: string; at: number; noticeId?: string }) => void;
  /**
   * To the sender's device: an envelope expired undelivered in these inboxes.
   * Kept by the relay until acked with `notice:ack` (noticeId), and sent again
   * on every connect until then; absent only if the relay could not keep it.
   */
  'envelope:expired': (notice: { messageId: string; recipientDeviceIds: string[]; at: number; noticeId?: string }) => void;
  /** The relay holds few one-time prekeys for this device: upload more. */
  'prekeys:low': (notice: { remaining: number }) => void;
  /** A revocation was published: clients resync their revocation list. */
  'revocations:changed': (notice: { issuer: string; seq: number }) => void;
}

/** Between relay processes (over the Socket.IO Redis adapter). */
export interface InterServerEvents {
  /** An envelope was stored for these devices: processes holding their sockets deliver it. */
  'inbox:new': (notice: { recipientDeviceIds: string[]; messageId: string }) => void;
}

export interface SocketData {
  deviceId: string;
  orgId: string;
}
