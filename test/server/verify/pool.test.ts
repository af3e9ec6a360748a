/**
 * The relay's verification threads give exactly the answers the inline
 * checks give, for good envelopes and for every kind of tampering, under
 * concurrency, and refuse work once closed.
 */
import { loadNodeCrypto } from '../../../shared/crypto/node';
import type { Crypto } from '../../../shared/crypto/types';
import { toB64u, utf8 } from '../../../shared/encoding';
import { envelopeSigningInput, sealEnvelope, signingInputV2 } from '../../../shared/envelope';
import { frameOfEnvelope, readFrame } from '../../../shared/envelope-wire';
import { isHandoverError } from '../../../shared/errors';
import type { SealedEnvelope } from '../../../shared/schemas';
import { type EnvelopeVerifier, inlineVerifier, startVerifierPool } from '../../../server/verify/pool';
import { decodeStored, encodeStored, encodeStoredFrame } from '../../../server/services/envelopes';
import { canonicalJson } from '../../../shared/canonical';
import { TestNetwork } from '../../support/network';

let crypto: Crypto;
let network: TestNetwork;
let pool: EnvelopeVerifier;
let inline: EnvelopeVerifier;

beforeAll(async () => {
  crypto = await loadNodeCrypto();
  network = new TestNetwork(crypto, Date.now());
  pool = await startVerifierPool(2);
  inline = inlineVerifier(crypto);
});
afterAll(async () => {
  await pool.close();
});

function fixture() {
  const org = network.addOrg(`pool-org-${Math.random().toString(36).slice(2, 8)}`, 'ngo');
  const sender = network.addDevice(org, `${org.orgId}-a`);
  const recipient = network.addDevice(org, `${org.orgId}-b`);
  const seal = (body: string, messageId?: string, version: 1 | 2 = 1): SealedEnvelope =>
    sealEnvelope(crypto, {
      ...(messageId ? { messageId } : {}),
      sender: network.senderKeys(sender),
      recipients: [network.recipientKeys(recipient, false)],
      threadId: 'AAAAAAAAAAAAAAAAAAAAAA',
      sentAt: Date.now(),
      body: utf8(body),
      version,
    });
  const sealFrame = (body: string): Uint8Array => frameOfEnvelope(seal(body, undefined, 2));
  return { seal, sealFrame, key: sender.keys.sign.publicKey, otherKey: recipient.keys.sign.publicKey };
}

async function outcome(verifier: EnvelopeVerifier, envelope: SealedEnvelope, key: Uint8Array): Promise<string> {
  try {
    await verifier.verify(envelope, key);
    return 'ok';
  } catch (err) {
    return isHandoverError(err) ? err.code : `untyped: ${String(err)}`;
  }
}

test('threads and inline checks agree on good and tampered envelopes', async () => {
  const { seal, key, otherKey } = fixture();
  const good = seal('a referral');
  const flip = (bytes: Uint8Array, at: number) => {
    const copy = bytes.slice();
    copy[at]! ^= 1;
    return copy;
  };
  const cases: Array<[string, SealedEnvelope, Uint8Array, string]> = [
    ['good', good, key, 'ok'],
    ['another device key', good, otherKey, 'BAD_SIGNATURE'],
    ['ciphertext bit flipped', { ...good, ciphertext: flip(good.ciphertext, 100) }, key, 'BAD_SIGNATURE'],
    ['ciphertext truncated', { ...good, ciphertext: good.ciphertext.subarray(1) }, key, 'BAD_REQUEST'],
    ['signature bit flipped', { ...good, signature: toB64u(flip(new Uint8Array(Buffer.from(good.signature, 'base64url')), 3)) }, key, 'BAD_SIGNATURE'],
    ['signature not base64url', { ...good, signature: '!!!' }, key, 'BAD_SIGNATURE'],
    ['header field changed', { ...good, header: { ...good.header, sentAt: good.header.sentAt + 1 } }, key, 'BAD_SIGNATURE'],
  ];
  for (const [what, envelope, k, expected] of cases) {
    expect([what, await outcome(pool, envelope, k)]).toEqual([what, expected]);
    expect([what, await outcome(inline, envelope, k)]).toEqual([what, expected]);
  }
});

test('answers each of many concurrent requests with its own result', async () => {
  const { seal, key } = fixture();
  const envelopes = Array.from({ length: 200 }, (_, i) => seal(`m${i}`));
  const tampered = envelopes.map((e, i) => (i % 3 === 0 ? { ...e, header: { ...e.header, sentAt: e.header.sentAt + 1 } } : e));
  const results = await Promise.all(tampered.map((e) => outcome(pool, e, key)));
  expect(results).toEqual(tampered.map((_, i) => (i % 3 === 0 ? 'BAD_SIGNATURE' : 'ok')));
});

test('finding 13: threads and inline checks give the same header hash, which differs for another header under the same message id', async () => {
  const { seal, key } = fixture();
  const a = seal('one');
  const b = seal('two', a.header.messageId);
  const expected = toB64u(crypto.hash(envelopeSigningInput(a.header), 32));
  expect((await pool.verify(a, key)).headerHash).toBe(expected);
  expect((await inline.verify(a, key)).headerHash).toBe(expected);
  expect(b.header.messageId).toBe(a.header.messageId);
  expect((await pool.verify(b, key)).headerHash).not.toBe(expected);
});

test('both hand back the canonical JSON of the header they checked, which the relay stores as is', async () => {
  const { seal, key } = fixture();
  const a = seal('one');
  const expected = canonicalJson(a.header);
  expect((await pool.verify(a, key)).headerJson).toBe(expected);
  expect((await inline.verify(a, key)).headerJson).toBe(expected);
  const stored = decodeStored(encodeStored(a, 1234, expected));
  if (!('envelope' in stored)) throw new Error('a version 1 stored form decodes to a version 1 delivery');
  expect(stored.envelope.header).toEqual(a.header);
  expect(stored.envelope.signature).toBe(a.signature);
  expect(stored.storedAt).toBe(1234);
  expect(Array.from(stored.envelope.ciphertext)).toEqual(Array.from(a.ciphertext));
  expect(encodeStored(a, 1234)).toEqual(encodeStored(a, 1234, JSON.stringify(a.header)));
});

test('a closed pool refuses with UNAVAILABLE', async () => {
  const { seal, key } = fixture();
  const spare = await startVerifierPool(1);
  expect(await outcome(spare, seal('x'), key)).toBe('ok');
  await spare.close();
  expect(await outcome(spare, seal('y'), key)).toBe('UNAVAILABLE');
});

describe('version 2 frames', () => {
  async function frameOutcome(verifier: EnvelopeVerifier, frame: Uint8Array, key: Uint8Array): Promise<string> {
    try {
      return (await verifier.verifyFrame(readFrame(frame), key)).headerHash;
    } catch (err) {
      return isHandoverError(err) ? err.code : `untyped: ${String(err)}`;
    }
  }

  test('threads and inline checks agree on good and tampered frames, and on the header hash', async () => {
    const { sealFrame, key, otherKey } = fixture();
    const frame = sealFrame('a referral');
    const headerLength = new DataView(frame.buffer).getUint32(1);
    const cases: Array<[Uint8Array, Uint8Array]> = [[frame, key], [frame, otherKey]];
    for (const at of [6, 40, 5 + headerLength - 1, 5 + headerLength + 3, frame.length - 1]) {
      const changed = frame.slice();
      changed[at] = (changed[at] ?? 0) ^ 1;
      cases.push([changed, key]);
    }
    const results = await Promise.all(cases.map(async ([f, k]) => [await frameOutcome(pool, f, k), await frameOutcome(inline, f, k)]));
    for (const [threaded, inlined] of results) expect(threaded).toBe(inlined);
    expect(results.map(([r]) => r).slice(1)).toEqual(['BAD_SIGNATURE', 'BAD_SIGNATURE', 'BAD_SIGNATURE', 'BAD_SIGNATURE', 'BAD_SIGNATURE', 'BAD_SIGNATURE']);
    // The header hash is BLAKE2b-256 of the signing input: label ‖ 0x00 ‖ the header bytes as received.
    const header = frame.subarray(5, 5 + headerLength);
    expect(results[0]![0]).toBe(toB64u(crypto.hash(signingInputV2(header), 32)));
  });

  test('the stored form keeps the received frame byte for byte, and delivers it as is', () => {
    const frame = fixture().sealFrame('a referral');
    const blob = encodeStoredFrame({ frame }, 1_795_867_200_123);
    expect(blob[0]).toBe(2);
    const stored = decodeStored(blob);
    if (!('frame' in stored)) throw new Error('a version 2 stored form decodes to a frame delivery');
    expect(stored.storedAt).toBe(1_795_867_200_123);
    expect(Buffer.from(stored.frame).equals(Buffer.from(frame))).toBe(true);
    expect(stored.frame.buffer).toBe(blob.buffer); // a view: not decoded, not copied
  });
});
