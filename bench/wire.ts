/**
 * Envelope bytes on the wire (issue 16): what one `envelope:send` of a real
 * 4 KiB referral to N devices costs on the socket, against the bytes the
 * content needs (the padded body ciphertext plus each recipient's X-Wing
 * ciphertext and wrapped key, as raw bytes).
 *
 * Counted as Socket.IO writes it over a WebSocket: one text frame
 * (engine.io message type, Socket.IO binary-event header with its ack id,
 * the JSON with a placeholder for the binary attachment) and one binary
 * frame. Version 2 (what clients send): the JSON is only the placeholder,
 * the binary frame is the whole envelope (header ‖ signature ‖ ciphertext,
 * PROTOCOL.md §4.12). Version 1 (measured for comparison): the header JSON
 * with base64url fields, the binary frame the ciphertext. WebSocket frame
 * headers (2–14 bytes per frame) are left out.
 */
import type { Crypto } from '../shared/crypto/types';
import { sealEnvelope } from '../shared/envelope';
import { frameOfEnvelope } from '../shared/envelope-wire';
import { T0, TestNetwork } from '../test/support/network';
import { benchBody } from './crypto';
import { progress } from './timing';

/** Raw bytes per recipient the content needs: X-Wing ciphertext + wrapped content key. */
const PER_RECIPIENT_CONTENT_BYTES = 1120 + 48;

export interface WireRow {
  /** Protocol version of the envelope (2: one binary frame; 1: header JSON + ciphertext). */
  version: 1 | 2;
  bodyBytes: number;
  recipients: number;
  /** Text frame + binary frame. */
  wireBytes: number;
  textFrameBytes: number;
  ciphertextBytes: number;
  /** Padded body ciphertext + the per-recipient content bytes. */
  contentBytes: number;
  /** wireBytes ÷ contentBytes. */
  overhead: number;
}

export function measureWire(crypto: Crypto): WireRow[] {
  progress('wire: envelope bytes on the socket');
  const net = new TestNetwork(crypto);
  const sender = net.addDevice(net.addOrg('wire-ngo'), 'wire-sender');
  const shelter = net.addOrg('wire-shelter', 'shelter');
  const devices = Array.from({ length: 20 }, (_, i) => net.addDevice(shelter, `wire-r${i}`, { oneTimePrekeys: 0 }));
  const rows: WireRow[] = [];
  for (const version of [2, 1] as const) {
    for (const n of [1, 5, 20]) {
      const bodyBytes = 4096;
      const envelope = sealEnvelope(crypto, {
        sender: net.senderKeys(sender),
        recipients: devices.slice(0, n).map((d) => net.recipientKeys(d, false)),
        threadId: 'AAAAAAAAAAAAAAAAAAAAAA',
        sentAt: T0,
        body: benchBody(bodyBytes),
        version,
      });
      // engine.io "4" (message), Socket.IO "5" (binary event) + "1-" (one attachment) + ack id, then the JSON.
      const placeholder = { _placeholder: true, num: 0 };
      const json = version === 2 ? ['envelope:send', placeholder] : ['envelope:send', { header: envelope.header, signature: envelope.signature, ciphertext: placeholder }];
      const textFrameBytes = Buffer.byteLength(`451-1${JSON.stringify(json)}`);
      const binaryFrameBytes = version === 2 ? frameOfEnvelope(envelope).length : envelope.ciphertext.length;
      const ciphertextBytes = envelope.ciphertext.length;
      const contentBytes = ciphertextBytes + n * PER_RECIPIENT_CONTENT_BYTES;
      const wireBytes = textFrameBytes + binaryFrameBytes;
      rows.push({ version, bodyBytes, recipients: n, wireBytes, textFrameBytes, ciphertextBytes, contentBytes, overhead: Math.round((wireBytes / contentBytes) * 1000) / 1000 });
    }
  }
  return rows;
}
