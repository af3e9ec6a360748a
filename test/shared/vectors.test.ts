/**
 * Known-answer vectors (test/vectors/handover-v1.json, format in
 * test/vectors/README.md). Two independent checks:
 * 1. regenerating everything from the seeds gives the committed file byte
 *    for byte (any change to keys, encodings, signing inputs, KDFs or the
 *    envelope layout shows up here);
 * 2. the committed file, read as another implementation would read it,
 *    verifies and opens with its own keys, without any seed.
 */
import { readFileSync } from 'node:fs';
import { DOMAIN, canonicalJson, signingInput } from '../../shared/canonical';
import { trustAnchor, verifyDeviceChain, verifyOrgCertificate, verifyRevocationList } from '../../shared/certificates';
import { type Crypto } from '../../shared/crypto/types';
import { createCrypto, loadCrypto } from '../../shared/crypto/sodium';
import { verifyBundle } from '../../shared/device-keys';
import { concatBytes, fromB64u, fromHex, fromUtf8, lengthPrefixed, toB64u, toHex, utf8 } from '../../shared/encoding';
import { envelopeSigningInput, openEnvelope, parseEnvelope, sealEnvelope } from '../../shared/envelope';
import { envelopeFromFrame, readFrame } from '../../shared/envelope-wire';
import { fingerprint } from '../../shared/fingerprint';
import { bucketFor } from '../../shared/padding';
import { DAY } from '../support/network';
import { type DeviceVector, type HandoverVectors, VECTORS_FILE, buildVectors, deviceKeysFromVector, replayTape, serializeVectors } from '../support/vectors';

const committedText = readFileSync(VECTORS_FILE, 'utf8');
const v = JSON.parse(committedText) as HandoverVectors;

let crypto: Crypto;
beforeAll(async () => {
  crypto = await loadCrypto();
});

function device(id: string): DeviceVector {
  const found = v.keys.devices.find((d) => d.deviceId === id);
  if (!found) throw new Error(`no device ${id} in the vectors`);
  return found;
}

function orgCert(orgId: string) {
  const found = v.orgCertificates.find((c) => c.orgId === orgId);
  if (!found) throw new Error(`no org ${orgId} in the vectors`);
  return found;
}

describe('regeneration from the seeds', () => {
  test('gives the committed file byte for byte (run `npx tsx test/vectors/generate.ts` only for an intended protocol change)', async () => {
    const regenerated = serializeVectors(await buildVectors());
    // Structured diff first (readable on failure), then the exact bytes.
    expect(JSON.parse(regenerated)).toEqual(v);
    expect(regenerated).toBe(committedText);
  });
});

describe('the committed vectors, checked without the seeds', () => {
  const anchor = () => trustAnchor(crypto, fromB64u(v.keys.root.signPublicKey));
  const at = () => ({ now: v.now });

  test('every private key or seed gives its committed public key', () => {
    expect(toB64u(crypto.signKeyPair(fromB64u(v.keys.root.signSeed)).publicKey)).toBe(v.keys.root.signPublicKey);
    for (const org of v.keys.orgs) {
      expect(toB64u(crypto.signKeyPair(fromB64u(org.signSeed)).publicKey)).toBe(org.signPublicKey);
      expect(orgCert(org.orgId).publicKey).toBe(org.signPublicKey);
    }
    for (const d of v.keys.devices) {
      const keys = deviceKeysFromVector(crypto, d);
      expect(toB64u(keys.sign.publicKey)).toBe(d.signPublicKey);
      expect(toB64u(keys.identity.publicKey)).toBe(d.identityPublicKey);
      for (const [list, map] of [
        [d.signedPrekeys, keys.signedPrekeys],
        [d.pqPrekeys, keys.pqPrekeys],
        [d.oneTimePrekeys, keys.oneTimePrekeys],
      ] as const) {
        for (const p of list) expect(toB64u(map.get(p.id)!.keyPair.publicKey)).toBe(p.publicKey);
      }
    }
  });

  test('the network id is BLAKE2b-256 of the root public key', () => {
    expect(v.networkId).toBe(toB64u(crypto.hash(fromB64u(v.keys.root.signPublicKey), 32)));
    expect(anchor().networkId).toBe(v.networkId);
  });

  test('org and device certificates chain to the root; each names the committed keys', () => {
    for (const cert of v.orgCertificates) expect(verifyOrgCertificate(anchor(), cert, at()).orgId).toBe(cert.orgId);
    for (const cert of v.deviceCertificates) {
      const { device: verified } = verifyDeviceChain(anchor(), orgCert(cert.orgId), cert, at());
      expect(verified.signPublicKey).toBe(device(cert.deviceId).signPublicKey);
      expect(verified.dhPublicKey).toBe(device(cert.deviceId).identityPublicKey);
    }
  });

  test('the revocation list verifies and revokes exactly its subjects', () => {
    const { status, heads, unverifiable } = verifyRevocationList(anchor(), v.revocations, {
      orgPublicKeys: (orgId) => v.orgCertificates.filter((c) => c.orgId === orgId).map((c) => fromB64u(c.publicKey)),
    });
    expect(unverifiable).toEqual([]);
    expect(Object.fromEntries(heads)).toEqual({ root: 1, 'shelter-ist': 1 });
    expect(status.isOrgRevoked('ngo-closed')).toBe(true);
    expect(status.isDeviceRevoked('shelter-ist:sh-dev-lost', 'shelter-ist')).toBe(true);
    expect(status.isOrgRevoked('shelter-ist')).toBe(false);
    expect(status.isDeviceRevoked('shelter-ist:sh-dev-1', 'shelter-ist')).toBe(false);
  });

  test('every signed prekey verifies in a bundle', () => {
    for (const p of v.prekeys) {
      const cert = v.deviceCertificates.find((c) => c.deviceId === p.deviceId)!;
      for (const oneTimePrekey of [undefined, ...p.oneTimePrekeys]) {
        const keys = verifyBundle(anchor(), orgCert(cert.orgId), { certificate: cert, signedPrekey: p.signedPrekey, pqPrekey: p.pqPrekey, ...(oneTimePrekey ? { oneTimePrekey } : {}) }, at());
        expect(toB64u(keys.signedPrekey.publicKey)).toBe(device(p.deviceId).signedPrekeys.find((k) => k.id === p.signedPrekey.id)?.publicKey);
      }
    }
  });

  test('the envelope parses, its signature and ciphertext hash check out', () => {
    const envelope = parseEnvelope({ ...v.envelope.sealed, ciphertext: fromB64u(v.envelope.sealed.ciphertext) });
    const sender = device(v.envelope.senderDeviceId);
    expect(crypto.verify(fromB64u(envelope.signature), envelopeSigningInput(envelope.header), fromB64u(sender.signPublicKey))).toBe(true);
    expect(envelope.header.ciphertextHash).toBe(toB64u(crypto.hash(envelope.ciphertext, 32)));
    expect(envelope.ciphertext.length).toBe(bucketFor(utf8(v.envelope.plaintext).length) + 16);
    expect(envelope.header.recipients.map((r) => r.deviceId)).toEqual(v.envelope.recipients.map((r) => r.deviceId));
  });

  test.each(['shelter-ist:sh-dev-1', 'shelter-ist:sh-dev-2'])('recipient %s opens the envelope with its committed private keys', (recipientId) => {
    const envelope = parseEnvelope({ ...v.envelope.sealed, ciphertext: fromB64u(v.envelope.sealed.ciphertext) });
    const senderCert = v.deviceCertificates.find((c) => c.deviceId === v.envelope.senderDeviceId)!;
    const { device: sender } = verifyDeviceChain(anchor(), orgCert(senderCert.orgId), senderCert, at());
    const keys = deviceKeysFromVector(crypto, device(recipientId));
    const opened = openEnvelope(crypto, {
      envelope,
      recipient: keys,
      sender: { signPublicKey: fromB64u(sender.signPublicKey), identityKey: fromB64u(sender.dhPublicKey) },
      now: v.now,
      maxAgeMs: 30 * DAY,
    });
    expect(fromUtf8(opened.body)).toBe(v.envelope.plaintext);
    expect(toHex(opened.body)).toBe(v.envelope.plaintextHex);
    const entry = v.envelope.recipients.find((r) => r.deviceId === recipientId)!;
    expect(opened.usedOneTimePrekeyId).toBe(entry.oneTimePrekeyId);
  });

  test('replaying the random tape reproduces the sealed envelope exactly (what another implementation checks)', () => {
    const tape = replayTape(v.envelope.randomTape);
    const sender = deviceKeysFromVector(crypto, device(v.envelope.senderDeviceId));
    const recipients = v.envelope.recipients.map((r) => {
      const d = device(r.deviceId);
      const publicKey = (list: DeviceVector['signedPrekeys'], id: number | undefined) => fromB64u(list.find((p) => p.id === id)!.publicKey);
      return {
        deviceId: d.deviceId,
        orgId: d.orgId,
        identityKey: fromB64u(d.identityPublicKey),
        signedPrekey: { id: r.signedPrekeyId, publicKey: publicKey(d.signedPrekeys, r.signedPrekeyId) },
        pqPrekey: { id: r.pqPrekeyId, publicKey: publicKey(d.pqPrekeys, r.pqPrekeyId) },
        ...(r.oneTimePrekeyId === undefined ? {} : { oneTimePrekey: { id: r.oneTimePrekeyId, publicKey: publicKey(d.oneTimePrekeys, r.oneTimePrekeyId) } }),
      };
    });
    const resealed = sealEnvelope(createCrypto({ random: tape.random }), {
      sender: { deviceId: sender.deviceId, signPrivateKey: sender.sign.privateKey, identity: sender.identity },
      recipients,
      threadId: v.envelope.threadId,
      sentAt: v.envelope.sentAt,
      body: fromHex(v.envelope.plaintextHex),
      version: 1,
    });
    expect(tape.remaining()).toBe(0);
    expect(resealed.header).toEqual(v.envelope.sealed.header);
    expect(resealed.signature).toBe(v.envelope.sealed.signature);
    expect(toB64u(resealed.ciphertext)).toBe(v.envelope.sealed.ciphertext);
    expect(resealed.header.messageId).toBe(v.envelope.randomTape[0]?.bytes);
  });

  test('version 2: the frame is header ‖ signature ‖ ciphertext, the signature covers the documented signing input, and it opens', () => {
    const v2 = v.envelopeV2;
    const frame = fromHex(v2.frameHex);
    const header = fromHex(v2.headerHex);
    // 0x02 ‖ u32 header length ‖ header ‖ signature ‖ ciphertext.
    expect(frame[0]).toBe(2);
    expect(new DataView(frame.buffer).getUint32(1)).toBe(header.length);
    expect(toHex(frame.subarray(5, 5 + header.length))).toBe(v2.headerHex);
    expect(toB64u(frame.subarray(5 + header.length, 69 + header.length))).toBe(v2.signature);
    expect(toB64u(frame.subarray(69 + header.length))).toBe(v2.ciphertext);
    const senderCert = v.deviceCertificates.find((c) => c.deviceId === v.envelope.senderDeviceId)!;
    const { device: sender } = verifyDeviceChain(anchor(), orgCert(senderCert.orgId), senderCert, at());
    const input = concatBytes(utf8('handover/v2/envelope'), new Uint8Array([0]), header);
    expect(crypto.verify(fromB64u(v2.signature), input, fromB64u(sender.signPublicKey))).toBe(true);
    const ad = crypto.hash(concatBytes(utf8('handover/v2/header-hash'), new Uint8Array([0]), header.subarray(0, header.length - 36)));
    expect(toHex(ad)).toBe(v2.bodyAdditionalDataHex);
    expect(readFrame(frame).ciphertextHash).toEqual(crypto.hash(fromB64u(v2.ciphertext), 32));
    const envelope = envelopeFromFrame(frame);
    expect(envelope.header).toEqual(v2.header);
    for (const recipientId of ['shelter-ist:sh-dev-1', 'shelter-ist:sh-dev-2']) {
      const opened = openEnvelope(crypto, {
        envelope,
        recipient: deviceKeysFromVector(crypto, device(recipientId)),
        sender: { signPublicKey: fromB64u(sender.signPublicKey), identityKey: fromB64u(sender.dhPublicKey) },
        now: v.now,
        maxAgeMs: 30 * DAY,
      });
      expect(fromUtf8(opened.body)).toBe(v.envelope.plaintext);
    }
  });

  test('fingerprints match, and match an independent reading of the documented algorithm', () => {
    for (const f of v.fingerprints) {
      const key = fromB64u(f.publicKey);
      expect(fingerprint(crypto, f.kind, f.id, key)).toBe(f.fingerprint);
      // docs/PROTOCOL.md: BLAKE2b-512 over LP(label)||LP(kind)||LP(id)||LP(key), then 1023 rounds of
      // BLAKE2b-512(previous || key); 12 groups of 5 bytes, big-endian, mod 100000.
      let digest = crypto.hash(lengthPrefixed(utf8('handover/v1/fingerprint'), utf8(f.kind), utf8(f.id), key), 64);
      for (let i = 1; i < 1024; i++) digest = crypto.hash(concatBytes(digest, key), 64);
      const groups = Array.from({ length: 12 }, (_, g) => {
        const n = Array.from(digest.subarray(g * 5, g * 5 + 5)).reduce((acc, b) => acc * 256 + b, 0);
        return String(n % 100_000).padStart(5, '0');
      });
      expect(groups.join(' ')).toBe(f.fingerprint);
    }
    expect(v.fingerprints.map((f) => f.kind)).toEqual(['org', 'device']);
  });

  test('padding buckets', () => {
    for (const { bodyLength, bucket } of v.padding) expect([bodyLength, bucketFor(bodyLength)]).toEqual([bodyLength, bucket]);
    expect(v.padding.map((p) => p.bucket)).toContain(64 * 1024);
  });

  test('the canonical signing input of a certificate: label || 0x00 || RFC 8785 JSON, and its signature', () => {
    const { label, object, signingInputHex, signature, signerPublicKey } = v.canonical;
    expect(label).toBe(DOMAIN.deviceCertificate);
    expect(signingInputHex).toBe(toHex(concatBytes(utf8(label), new Uint8Array([0]), utf8(object))));
    const cert = v.deviceCertificates.find((c) => c.signature === signature)!;
    const { signature: _s, ...body } = cert;
    expect(canonicalJson(body)).toBe(object);
    expect(toHex(signingInput(DOMAIN.deviceCertificate, body))).toBe(signingInputHex);
    expect(crypto.verify(fromB64u(signature), fromHex(signingInputHex), fromB64u(signerPublicKey))).toBe(true);
    // Keys in RFC 8785 order (this object has only ASCII keys, so plain sorting applies).
    const keys = Object.keys(JSON.parse(object) as object);
    expect(keys).toEqual([...keys].sort());
  });
});
