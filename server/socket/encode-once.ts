/**
 * One Socket.IO encoding per live envelope, however many recipient sockets
 * it goes to. A delivery emitted to N sockets is otherwise encoded N times
 * (its header copied and turned into JSON for each: with 20 recipients a
 * 33 KB header, 20 times). The packets are the same bytes for every socket
 * (an event without an ack id, on the main namespace), so the first
 * encoding is kept with the delivery object and reused while it lives.
 * Nothing on the wire changes: this is the encoding Socket.IO's own
 * broadcasts share between sockets.
 */
import type { RelayServer } from './types';

type Encode = RelayServer['encoder']['encode'];
type Packet = Parameters<Encode>[0];
type Encoded = ReturnType<Encode>;

const shareable = new WeakSet<object>();
const encoded = new WeakMap<object, { event: unknown; nsp: string; type: number; packets: Encoded }>();

/** Marks a value (a delivery) emitted as is to several sockets: its encoding is made once. */
export function encodeOnce(value: object): void {
  shareable.add(value);
}

/** Has the server's encoder reuse the encoding of values marked with `encodeOnce`. */
export function shareEncodings(io: RelayServer): void {
  const encoder = io.encoder;
  const encode: Encode = encoder.encode.bind(encoder);
  encoder.encode = (packet: Packet): Encoded => {
    const data: unknown = packet.data;
    const value = packet.id === undefined && Array.isArray(data) && data.length === 2 ? (data[1] as unknown) : undefined;
    if (typeof value !== 'object' || value === null || !shareable.has(value)) return encode(packet);
    const kept = encoded.get(value);
    const event: unknown = (data as unknown[])[0];
    if (kept && kept.event === event && kept.nsp === packet.nsp && kept.type === packet.type) return kept.packets;
    const packets = encode(packet);
    encoded.set(value, { event, nsp: packet.nsp, type: packet.type, packets });
    return packets;
  };
}
