/**
 * Crypto cost: seal and open by recipient count and body size, against the
 * summed cost of the libsodium calls a seal makes (measured in the same run),
 * and the relay's per-envelope header verification.
 */
import type { Crypto } from '../shared/crypto/sodium';
import { SIZES } from '../shared/crypto/sodium';
import { openEnvelope, parseEnvelope, checkEnvelopeIntegrity, sealEnvelope, verifyEnvelopeSignature } from '../shared/envelope';
import { bucketFor } from '../shared/padding';
import { DAY, T0, TestNetwork, type TestDevice } from '../test/support/network';
import { perCall, progress, round, time } from './timing';

export interface PrimitiveCosts {
  x25519Ms: number;
  x25519BaseMs: number;
  xwingEncapsMs: number;
  xwingDecapsMs: number;
  signMs: number;
  verifyMs: number;
  aeadSmallMs: number;
  hashSmallMs: number;
  /** ms per byte of AEAD over a large buffer. */
  aeadPerByteMs: number;
  /** ms per byte of BLAKE2b over a large buffer. */
  hashPerByteMs: number;
}

export function measurePrimitives(crypto: Crypto, quick: boolean): PrimitiveCosts {
  const n = quick ? 200 : 1000;
  const a = crypto.dhKeyPair();
  const b = crypto.dhKeyPair();
  const kem = crypto.kemKeyPair();
  const enc = crypto.kemEncapsulate(kem.publicKey);
  const signer = crypto.signKeyPair();
  const msg = crypto.random(512);
  const sig = crypto.sign(msg, signer.privateKey);
  const key = crypto.random(32);
  const nonce = crypto.random(24);
  const small = crypto.random(32);
  const big = crypto.random(1024 * 1024);
  return {
    x25519Ms: perCall(() => crypto.dh(a.privateKey, b.publicKey), n),
    x25519BaseMs: perCall(() => crypto.dhKeyPair(), n),
    xwingEncapsMs: perCall(() => crypto.kemEncapsulate(kem.publicKey), n / 4),
    xwingDecapsMs: perCall(() => crypto.kemDecapsulate(enc.ciphertext, kem.privateKey), n / 4),
    signMs: perCall(() => crypto.sign(msg, signer.privateKey), n),
    verifyMs: perCall(() => crypto.verify(sig, msg, signer.publicKey), n),
    aeadSmallMs: perCall(() => crypto.aeadEncrypt(small, msg, nonce, key), n),
    hashSmallMs: perCall(() => crypto.hash(msg), n),
    aeadPerByteMs: perCall(() => crypto.aeadEncrypt(big, small, nonce, key), quick ? 3 : 10) / big.length,
    hashPerByteMs: perCall(() => crypto.hash(big), quick ? 3 : 10) / big.length,
  };
}

/** What the libsodium calls of one seal cost, summed (the floor a seal can reach). */
export function sealFloorMs(p: PrimitiveCosts, recipients: number, bodyBytes: number, withOneTimePrekeys: boolean): number {
  const padded = bucketFor(bodyBytes);
  const dhPerRecipient = withOneTimePrekeys ? 4 : 3;
  return (
    p.x25519BaseMs + // ephemeral key
    recipients * (dhPerRecipient * p.x25519Ms + p.xwingEncapsMs + p.aeadSmallMs + p.hashSmallMs) +
    padded * p.aeadPerByteMs +
    (padded + SIZES.aeadTag) * p.hashPerByteMs +
    p.signMs
  );
}

export function openFloorMs(p: PrimitiveCosts, bodyBytes: number, withOneTimePrekey: boolean): number {
  const padded = bucketFor(bodyBytes);
  return (
    p.verifyMs +
    (withOneTimePrekey ? 4 : 3) * p.x25519Ms +
    p.xwingDecapsMs +
    p.aeadSmallMs +
    p.hashSmallMs +
    padded * p.aeadPerByteMs +
    (padded + SIZES.aeadTag) * p.hashPerByteMs
  );
}

export interface SealRow {
  recipients: number;
  bodyBytes: number;
  sealMs: number;
  sealFloorMs: number;
  sealRatio: number;
  openMs: number;
  openFloorMs: number;
  openRatio: number;
  envelopeBytes: number;
}

export function benchSealOpen(crypto: Crypto, quick: boolean): { primitives: PrimitiveCosts; rows: SealRow[]; headerVerifyMs: number } {
  progress('crypto: measuring libsodium primitives');
  const primitives = measurePrimitives(crypto, quick);
  const recipientCounts = [1, 5, 20, 100];
  const bodySizes = [1024, 4096, 64 * 1024, 1024 * 1024];
  const net = new TestNetwork(crypto);
  const sender = net.addDevice(net.addOrg('bench-ngo'), 'bench-sender');
  const shelter = net.addOrg('bench-shelter', 'shelter');
  const devices: TestDevice[] = Array.from({ length: Math.max(...recipientCounts) }, (_, i) =>
    net.addDevice(shelter, `bench-r${i}`, { oneTimePrekeys: 0 }),
  );
  const rows: SealRow[] = [];
  let headerVerifyMs = 0;
  for (const n of recipientCounts) {
    for (const size of bodySizes) {
      if (quick && n === 100 && size > 64 * 1024) continue;
      progress(`crypto: seal/open ${n} recipient(s), ${size} B body`);
      // Signed prekeys only: one-time prekeys are used up by each open, which would skew repeated opens.
      const recipients = devices.slice(0, n).map((d) => net.recipientKeys(d, false));
      const body = crypto.random(size);
      const runs = quick ? (n >= 20 ? 3 : 7) : n >= 20 ? 7 : 21;
      let envelope = sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients, threadId: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: T0, body });
      const seal = time(() => {
        envelope = sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients, threadId: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: T0, body });
      }, runs);
      const first = devices[0] as TestDevice;
      const open = time(() => {
        openEnvelope(crypto, { envelope, recipient: first.keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY });
      }, runs);
      if (n === 1 && size === 4096) {
        const wire = { header: envelope.header, signature: envelope.signature, ciphertext: envelope.ciphertext };
        headerVerifyMs = time(() => {
          const parsed = parseEnvelope(wire);
          verifyEnvelopeSignature(crypto, parsed, sender.keys.sign.publicKey);
          checkEnvelopeIntegrity(crypto, parsed);
        }, quick ? 200 : 1000).medianMs;
      }
      const sealFloor = sealFloorMs(primitives, n, size, false);
      const openFloor = openFloorMs(primitives, size, false);
      rows.push({
        recipients: n,
        bodyBytes: size,
        sealMs: round(seal.medianMs),
        sealFloorMs: round(sealFloor),
        sealRatio: round(seal.medianMs / sealFloor, 2),
        openMs: round(open.medianMs),
        openFloorMs: round(openFloor),
        openRatio: round(open.medianMs / openFloor, 2),
        envelopeBytes: JSON.stringify(envelope.header).length + envelope.signature.length + envelope.ciphertext.length,
      });
    }
  }
  return { primitives, rows, headerVerifyMs: round(headerVerifyMs, 4) };
}
