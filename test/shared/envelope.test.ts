import { loadCrypto, type Crypto } from '../../shared/crypto/sodium';
import { openEnvelope, sealEnvelope } from '../../shared/envelope';
import { fromUtf8, utf8 } from '../../shared/encoding';
import { isHandoverError } from '../../shared/errors';
import { DAY, T0, TestNetwork } from '../support/network';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    if (isHandoverError(err) && err.code === code) return;
    throw new Error(`expected ${code}, got ${String(err)}`);
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

describe('envelope round trip', () => {
  test.each([1, 2, 20, 200])('%i recipient devices can all open; a non-recipient cannot', (n) => {
    const net = new TestNetwork(crypto);
    const ngo = net.addOrg('ngo-taraz');
    const shelter = net.addOrg('shelter-ist', 'shelter');
    const sender = net.addDevice(ngo, 'ngo-dev-1');
    const recipients = Array.from({ length: n }, (_, i) => net.addDevice(shelter, `sh-dev-${i}`, { oneTimePrekeys: i % 2 }));
    const outsider = net.addDevice(shelter, 'sh-outsider');
    const body = utf8(JSON.stringify({ hello: 'world', n }));
    const envelope = sealEnvelope(crypto, {
      sender: net.senderKeys(sender),
      recipients: recipients.map((d) => net.recipientKeys(d)),
      threadId: 'AAAAAAAAAAAAAAAAAAAAAA',
      sentAt: T0,
      body,
    });
    for (const r of recipients) {
      const opened = openEnvelope(crypto, { envelope, recipient: r.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY });
      expect(fromUtf8(opened.body)).toBe(fromUtf8(body));
    }
    expectCode(
      () => openEnvelope(crypto, { envelope, recipient: outsider.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY }),
      'NOT_RECIPIENT',
    );
  });
});
