/**
 * A delivery emitted to several sockets is encoded once, into exactly the
 * packets Socket.IO makes on its own; nothing else is shared.
 */
import { Server } from 'socket.io';
import { encodeOnce, shareEncodings } from '../../../server/socket/encode-once';
import type { RelayServer } from '../../../server/socket/types';

const EVENT = 2;

function servers(): { shared: RelayServer; plain: RelayServer } {
  const shared: RelayServer = new Server();
  shareEncodings(shared);
  return { shared, plain: new Server() };
}

const delivery = () => ({ envelope: { header: { messageId: 'm-1', recipients: [{ deviceId: 'a' }, { deviceId: 'b' }] }, signature: 'sig', ciphertext: Buffer.from([1, 2, 3]) }, storedAt: 5 });

test('encodes a marked delivery once, into the same packets as without sharing', () => {
  const { shared, plain } = servers();
  const value = delivery();
  encodeOnce(value);
  const first = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] });
  const second = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] });
  expect(second).toBe(first);
  expect(first).toEqual(plain.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] }));
  expect(first).toHaveLength(2); // text frame + the ciphertext as a binary attachment
});

test('leaves unmarked values, packets with an ack id and other events alone', () => {
  const { shared } = servers();
  const value = delivery();
  const a = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] });
  expect(shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] })).not.toBe(a);

  encodeOnce(value);
  const withAck = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value], id: 7 });
  expect(shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value], id: 8 })).not.toEqual(withAck);

  const deliver = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['envelope:deliver', value] });
  const other = shared.encoder.encode({ type: EVENT, nsp: '/', data: ['something:else', value] });
  expect(other).not.toEqual(deliver);
  expect(String(other[0])).toContain('something:else');
});
