/**
 * The doc client's crypto against the committed known-answer vectors
 * (test/vectors/handover-v1.json, README steps 1–7), before it ever talks
 * to a relay: keys, network id, a signing input, every certificate,
 * revocation and prekey signature, opening the committed envelope as both
 * recipients, resealing it byte for byte from the random tape,
 * fingerprints and padding buckets. Uses only test/interop/doc-client.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bucketFor, dhKeyPairFromPrivate, fingerprint, loadSodium, signKeyPairFromSeed, verify, xwingFromSeed } from './doc-client/crypto';
import { DeviceKeys } from './doc-client/device';
import { LABEL, b64u, fromB64u, jcs, signingInput, unsigned } from './doc-client/encoding';
import { type RecipientKeys, bodyAdV2, openEnvelope, sealEnvelope } from './doc-client/envelope';
import { decodeFrame, encodeFrame, encodeHeaderV2 } from './doc-client/frame';
import { deriveThreadId, eventHash } from './doc-client/referral';
import { TrustStore, networkIdOf } from './doc-client/trust';
import type { DeviceCertificate, OrgCertificate, Revocation, WireEnvelope } from './doc-client/types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const V: Json = JSON.parse(readFileSync(join(__dirname, '../vectors/handover-v1.json'), 'utf8'));

beforeAll(loadSodium);

function sealedEnvelope(): WireEnvelope {
  const s = V.envelope.sealed;
  return { header: s.header, signature: s.signature, ciphertext: fromB64u(s.ciphertext) };
}

function senderOf(deviceId: string): { deviceId: string; signPublicKey: Uint8Array; identityKey: Uint8Array } {
  const cert = (V.deviceCertificates as DeviceCertificate[]).find((c) => c.deviceId === deviceId)!;
  return { deviceId, signPublicKey: fromB64u(cert.signPublicKey, 32), identityKey: fromB64u(cert.dhPublicKey, 32) };
}

describe('doc client against handover-v1.json', () => {
  test('1. keys and network id', () => {
    expect(b64u(signKeyPairFromSeed(fromB64u(V.keys.root.signSeed)).publicKey)).toBe(V.keys.root.signPublicKey);
    for (const o of V.keys.orgs) expect(b64u(signKeyPairFromSeed(fromB64u(o.signSeed)).publicKey)).toBe(o.signPublicKey);
    for (const d of V.keys.devices) {
      expect(b64u(signKeyPairFromSeed(fromB64u(d.signSeed)).publicKey)).toBe(d.signPublicKey);
      expect(b64u(dhKeyPairFromPrivate(fromB64u(d.identityPrivateKey)).publicKey)).toBe(d.identityPublicKey);
      for (const p of [...d.signedPrekeys, ...d.oneTimePrekeys]) expect(b64u(dhKeyPairFromPrivate(fromB64u(p.privateKey)).publicKey)).toBe(p.publicKey);
      for (const p of d.pqPrekeys) expect(b64u(xwingFromSeed(fromB64u(p.privateKey)).publicKey)).toBe(p.publicKey);
    }
    expect(networkIdOf(fromB64u(V.keys.root.signPublicKey))).toBe(V.networkId);
  });

  test('2. canonical signing input', () => {
    const c = V.canonical;
    const cert = (V.deviceCertificates as DeviceCertificate[]).find((d) => jcs(unsigned(d)) === c.object);
    expect(cert).toBeDefined();
    const input = signingInput(c.label, cert!);
    expect(Buffer.from(input).toString('hex')).toBe(c.signingInputHex);
    expect(verify(fromB64u(c.signature), input, fromB64u(c.signerPublicKey))).toBe(true);
  });

  test('3. certificates, revocations and prekeys verify (and chain through the trust store)', () => {
    const trust = new TrustStore(fromB64u(V.keys.root.signPublicKey), () => V.now);
    const orgs = new Map<string, OrgCertificate>();
    for (const o of V.orgCertificates as OrgCertificate[]) orgs.set(o.orgId, trust.admitOrg(o));
    for (const d of V.deviceCertificates as DeviceCertificate[]) trust.verifyDevice(orgs.get(d.orgId)!, d);
    const unverifiable = trust.applyRevocations({ revocations: V.revocations as Revocation[], issuers: V.orgCertificates });
    expect(unverifiable).toEqual([]);
    for (const p of V.prekeys) {
      const cert = (V.deviceCertificates as DeviceCertificate[]).find((c) => c.deviceId === p.deviceId)!;
      const key = fromB64u(cert.signPublicKey, 32);
      expect(verify(fromB64u(p.signedPrekey.signature), signingInput(LABEL.signedPrekey, p.signedPrekey), key)).toBe(true);
      expect(verify(fromB64u(p.pqPrekey.signature), signingInput(LABEL.pqPrekey, p.pqPrekey), key)).toBe(true);
      for (const o of p.oneTimePrekeys) expect(verify(fromB64u(o.signature), signingInput(LABEL.oneTimePrekey, o), key)).toBe(true);
    }
    // A tampered certificate is refused with the document's code.
    const forged = { ...(V.deviceCertificates[1] as DeviceCertificate), label: 'someone else' };
    expect(() => trust.verifyDevice(orgs.get(forged.orgId)!, forged)).toThrow(/BAD_SIGNATURE/);
  });

  test('4. open the committed envelope as both recipients', () => {
    for (const id of ['shelter-ist:sh-dev-1', 'shelter-ist:sh-dev-2']) {
      const keys = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === id));
      const { body } = openEnvelope({
        envelope: sealedEnvelope(),
        recipient: keys,
        sender: senderOf(V.envelope.senderDeviceId),
        now: V.now,
        retentionMs: 30 * 24 * 3600_000,
      });
      expect(Buffer.from(body).toString('hex')).toBe(V.envelope.plaintextHex);
    }
  });

  test('4b. a flipped ciphertext byte or signature is refused', () => {
    const keys = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === 'shelter-ist:sh-dev-1'));
    const env = sealedEnvelope();
    env.ciphertext = env.ciphertext.slice();
    env.ciphertext[5] = env.ciphertext[5]! ^ 1;
    const open = (e: WireEnvelope) =>
      openEnvelope({ envelope: e, recipient: keys, sender: senderOf(V.envelope.senderDeviceId), now: V.now, retentionMs: 30 * 24 * 3600_000 });
    expect(() => open(env)).toThrow(/BAD_SIGNATURE/);
    const other = sealedEnvelope();
    other.header = { ...other.header, sentAt: other.header.sentAt + 1 };
    expect(() => open(other)).toThrow(/BAD_SIGNATURE/);
  });

  test('5. reseal byte for byte from the random tape', () => {
    const sender = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === V.envelope.senderDeviceId));
    const tape = [...V.envelope.randomTape] as { purpose: string; length: number; bytes: string }[];
    const random = (purpose: string, length: number): Uint8Array => {
      const next = tape.shift();
      expect(next && { purpose: next.purpose, length: next.length }).toEqual({ purpose, length });
      return fromB64u(next!.bytes, length);
    };
    const recipients: RecipientKeys[] = V.envelope.recipients.map((r: Json) => {
      const pre = V.prekeys.find((p: Json) => p.deviceId === r.deviceId);
      const cert = (V.deviceCertificates as DeviceCertificate[]).find((c) => c.deviceId === r.deviceId)!;
      const otp = r.oneTimePrekeyId === undefined ? undefined : pre.oneTimePrekeys.find((o: Json) => o.id === r.oneTimePrekeyId);
      return {
        deviceId: r.deviceId,
        identityKey: fromB64u(cert.dhPublicKey, 32),
        signedPrekey: { id: pre.signedPrekey.id, publicKey: fromB64u(pre.signedPrekey.publicKey) },
        pqPrekey: { id: pre.pqPrekey.id, publicKey: fromB64u(pre.pqPrekey.publicKey) },
        ...(otp ? { oneTimePrekey: { id: otp.id, publicKey: fromB64u(otp.publicKey) } } : {}),
      };
    });
    const sealed = sealEnvelope({
      sender,
      threadId: V.envelope.threadId,
      sentAt: V.envelope.sentAt,
      body: Buffer.from(V.envelope.plaintextHex, 'hex'),
      recipients,
      random,
      version: 1,
    });
    expect(tape).toEqual([]);
    expect(sealed.header).toEqual(V.envelope.sealed.header);
    expect(jcs(sealed.header)).toBe(jcs(V.envelope.sealed.header));
    expect(sealed.signature).toBe(V.envelope.sealed.signature);
    expect(b64u(sealed.ciphertext)).toBe(V.envelope.sealed.ciphertext);
  });

  test('5b. version 2 (§4.12): the committed frame reads, verifies and opens; resealing from the tape gives it byte for byte', () => {
    const v2 = V.envelopeV2;
    const frame = new Uint8Array(Buffer.from(v2.frameHex, 'hex'));
    const decoded = decodeFrame(frame);
    expect(Buffer.from(decoded.headerBytes).toString('hex')).toBe(v2.headerHex);
    expect(decoded.header).toEqual(v2.header);
    expect(b64u(decoded.signature)).toBe(v2.signature);
    expect(b64u(decoded.ciphertext)).toBe(v2.ciphertext);
    // Decoding then encoding gives the same bytes (§4.12: one encoding per field).
    expect(Buffer.from(encodeHeaderV2(decoded.header)).toString('hex')).toBe(v2.headerHex);
    expect(Buffer.from(bodyAdV2(decoded.headerBytes)).toString('hex')).toBe(v2.bodyAdditionalDataHex);
    const envelope: WireEnvelope = { header: decoded.header, signature: b64u(decoded.signature), ciphertext: decoded.ciphertext, headerBytes: decoded.headerBytes };
    for (const id of ['shelter-ist:sh-dev-1', 'shelter-ist:sh-dev-2']) {
      const keys = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === id));
      const { body } = openEnvelope({ envelope, recipient: keys, sender: senderOf(V.envelope.senderDeviceId), now: V.now, retentionMs: 30 * 24 * 3600_000 });
      expect(Buffer.from(body).toString('hex')).toBe(V.envelope.plaintextHex);
    }
    // A flipped header byte: the signature no longer verifies.
    const bad = frame.slice();
    bad[20] = bad[20]! ^ 1; // in the thread id
    const keys = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === 'shelter-ist:sh-dev-1'));
    const badDecoded = decodeFrame(bad);
    expect(() =>
      openEnvelope({
        envelope: { header: badDecoded.header, signature: b64u(badDecoded.signature), ciphertext: badDecoded.ciphertext, headerBytes: badDecoded.headerBytes },
        recipient: keys,
        sender: senderOf(V.envelope.senderDeviceId),
        now: V.now,
        retentionMs: 30 * 24 * 3600_000,
      }),
    ).toThrow(/BAD_SIGNATURE/);
    // Resealed from the same tape as version 2.
    const sender = DeviceKeys.fromVector(V.keys.devices.find((d: Json) => d.deviceId === V.envelope.senderDeviceId));
    const tape = [...V.envelope.randomTape] as { purpose: string; length: number; bytes: string }[];
    const random = (_purpose: string, length: number): Uint8Array => fromB64u(tape.shift()!.bytes, length);
    const recipients: RecipientKeys[] = V.envelope.recipients.map((r: Json) => {
      const pre = V.prekeys.find((p: Json) => p.deviceId === r.deviceId);
      const cert = (V.deviceCertificates as DeviceCertificate[]).find((c) => c.deviceId === r.deviceId)!;
      const otp = r.oneTimePrekeyId === undefined ? undefined : pre.oneTimePrekeys.find((o: Json) => o.id === r.oneTimePrekeyId);
      return {
        deviceId: r.deviceId,
        identityKey: fromB64u(cert.dhPublicKey, 32),
        signedPrekey: { id: pre.signedPrekey.id, publicKey: fromB64u(pre.signedPrekey.publicKey) },
        pqPrekey: { id: pre.pqPrekey.id, publicKey: fromB64u(pre.pqPrekey.publicKey) },
        ...(otp ? { oneTimePrekey: { id: otp.id, publicKey: fromB64u(otp.publicKey) } } : {}),
      };
    });
    const resealed = sealEnvelope({ sender, threadId: V.envelope.threadId, sentAt: V.envelope.sentAt, body: Buffer.from(V.envelope.plaintextHex, 'hex'), recipients, random, version: 2 });
    expect(tape).toEqual([]);
    expect(Buffer.from(encodeFrame(resealed.headerBytes!, fromB64u(resealed.signature, 64), resealed.ciphertext)).toString('hex')).toBe(v2.frameHex);
  });

  test('6. fingerprints', () => {
    for (const f of V.fingerprints) expect(fingerprint(f.kind, f.id, fromB64u(f.publicKey, 32))).toBe(f.fingerprint);
  });

  test('7. padding buckets', () => {
    for (const p of V.padding) expect(bucketFor(p.bodyLength)).toBe(p.bucket);
  });
});

describe('doc client against the worked thread-id example (PROTOCOL.md §4.8.1)', () => {
  test('thread id and event hash', () => {
    const body = JSON.parse(readFileSync(join(__dirname, '../../examples/referral.json'), 'utf8'));
    const event = {
      type: 'referral.create' as const,
      eventId: 'AAAAAAAAAAAAAAAAAAAAAA',
      prev: [],
      author: { deviceId: 'ngo-alm:dana', orgId: 'ngo-alm', orgType: 'ngo' as const },
      at: 1796000000000,
      body,
    };
    const threadId = deriveThreadId(event);
    expect(threadId).toBe('L7_LtH1jEaZzWZCH7F_oEA');
    expect(eventHash({ ...event, threadId })).toBe('eEyV8IkXRuozAFriy2VaZlNSVjrbyM0kVZjouGF5G9k');
  });
});

describe('the doc client stays independent', () => {
  test('it imports only its own files and npm libraries, nothing from shared/, client/ or server/', () => {
    const dir = join(__dirname, 'doc-client');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      const specifiers = [...text.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'|\brequire\(\s*'([^']+)'/g)].map((m) => m[1] ?? m[2] ?? m[3]);
      for (const spec of specifiers) expect({ file, spec, ok: spec!.startsWith('./') || ['canonicalize', 'libsodium-wrappers-sumo', 'socket.io-client'].includes(spec!) }).toEqual({ file, spec, ok: true });
    }
  });
});
