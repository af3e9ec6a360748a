/**
 * Why this exists: the envelope of PROTOCOL.md §4 — one body encrypted once
 * under a fresh content key K, K wrapped per recipient device under a KEK
 * from X25519 (IK/SPK/OPK with an ephemeral key) plus X-Wing (§4.3), the
 * body padded to its bucket (§4.4), the header signed (§4.5); and opening
 * in the order of §4.6. Randomness comes from a source so the vectors'
 * random tape can reproduce a seal byte for byte.
 */
import {
  type RandomSource,
  aeadDecrypt,
  aeadEncrypt,
  blake2b256,
  bucketFor,
  dhKeyPairFromPrivate,
  isBucket,
  pad,
  sign,
  systemRandom,
  unpad,
  verify,
  x25519,
  xwingDecapsulate,
  xwingEncapsulate,
} from './crypto';
import { DocClientError, LABEL, b64u, concat, fromB64u, lp, signingInput, utf8 } from './encoding';
import type { DeviceKeys } from './device';
import { encodeHeaderV2 } from './frame';
import type { EnvelopeHeader, RecipientEntry, WireEnvelope } from './types';

const SKEW_MS = 5 * 60_000;
const ZERO_NONCE = new Uint8Array(24);

/** What a sender needs per recipient device, taken from a verified bundle. */
export interface RecipientKeys {
  deviceId: string;
  identityKey: Uint8Array;
  signedPrekey: { id: number; publicKey: Uint8Array };
  pqPrekey: { id: number; publicKey: Uint8Array };
  oneTimePrekey?: { id: number; publicKey: Uint8Array };
}

interface KekInputs {
  dh1: Uint8Array;
  dh2: Uint8Array;
  dh3: Uint8Array;
  dh4: Uint8Array;
  ss: Uint8Array;
  senderIdentity: Uint8Array;
  ephemeral: Uint8Array;
  recipientIdentity: Uint8Array;
  spk: Uint8Array;
  opk: Uint8Array;
  pqpk: Uint8Array;
  ct: Uint8Array;
  context: {
    messageId: string;
    senderDeviceId: string;
    recipientDeviceId: string;
    signedPrekeyId: number;
    pqPrekeyId: number;
    oneTimePrekeyId: number | null;
  };
}

/** §4.3 step 4. */
export function deriveKek(k: KekInputs): Uint8Array {
  return blake2b256(
    concat(
      lp(LABEL.kek),
      lp(k.dh1),
      lp(k.dh2),
      lp(k.dh3),
      lp(k.dh4),
      lp(k.ss),
      lp(k.senderIdentity),
      lp(k.ephemeral),
      lp(k.recipientIdentity),
      lp(k.spk),
      lp(k.opk),
      lp(k.pqpk),
      lp(k.ct),
      lp(signingInput(LABEL.kek, k.context)),
    ),
  );
}

/** §4.3 step 5: the AD of the wrapped key. */
function wrapAd(messageId: string, recipientDeviceId: string): Uint8Array {
  return signingInput(LABEL.kek, { messageId, recipientDeviceId });
}

/** §4.4: AD = BLAKE2b-256(signingInput(header-hash, header without ciphertextHash and ciphertextLength)). */
export function bodyAd(header: EnvelopeHeader): Uint8Array {
  const { ciphertextHash: _h, ciphertextLength: _l, ...rest } = header;
  return blake2b256(signingInput(LABEL.headerHash, rest));
}

/** §4.12: AD = BLAKE2b-256("handover/v2/header-hash" ‖ 0x00 ‖ the header's first H − 36 bytes). */
export function bodyAdV2(headerBytes: Uint8Array): Uint8Array {
  return blake2b256(concat(utf8(LABEL.headerHashV2), new Uint8Array([0]), headerBytes.subarray(0, headerBytes.length - 36)));
}

/** §4.12: the signing input, "handover/v2/envelope" ‖ 0x00 ‖ the H header bytes. */
export function signingInputV2(headerBytes: Uint8Array): Uint8Array {
  return concat(utf8(LABEL.envelopeV2), new Uint8Array([0]), headerBytes);
}

export function sealEnvelope(input: {
  sender: DeviceKeys;
  threadId: string;
  sentAt: number;
  body: Uint8Array;
  recipients: RecipientKeys[];
  random?: RandomSource;
  /** 2 (§4.12, the default) or 1 (§4.1–§4.5). */
  version?: 1 | 2;
}): WireEnvelope {
  const version = input.version ?? 2;
  const random = input.random ?? systemRandom;
  const { sender } = input;
  const messageId = b64u(random('messageId', 16));
  const eph = dhKeyPairFromPrivate(random('ephemeralPrivateKey', 32));
  const contentKey = random('contentKey', 32);
  const bodyNonce = random('bodyNonce', 24);
  const seen = new Set<string>();
  const recipients: RecipientEntry[] = input.recipients.map((r) => {
    if (seen.has(r.deviceId)) throw new DocClientError('BAD_REQUEST', 'recipient listed twice');
    if (r.deviceId === sender.deviceId) throw new DocClientError('BAD_REQUEST', 'never seal to the sending device');
    seen.add(r.deviceId);
    const dh1 = x25519(sender.identity.privateKey, r.signedPrekey.publicKey);
    const dh2 = x25519(eph.privateKey, r.identityKey);
    const dh3 = x25519(eph.privateKey, r.signedPrekey.publicKey);
    const dh4 = r.oneTimePrekey ? x25519(eph.privateKey, r.oneTimePrekey.publicKey) : new Uint8Array(0);
    const { ciphertext: ct, sharedSecret: ss } = xwingEncapsulate(r.pqPrekey.publicKey, random(`xwingEncapsulation:${r.deviceId}`, 64));
    const kek = deriveKek({
      dh1,
      dh2,
      dh3,
      dh4,
      ss,
      senderIdentity: sender.identity.publicKey,
      ephemeral: eph.publicKey,
      recipientIdentity: r.identityKey,
      spk: r.signedPrekey.publicKey,
      opk: r.oneTimePrekey?.publicKey ?? new Uint8Array(0),
      pqpk: r.pqPrekey.publicKey,
      ct,
      context: {
        messageId,
        senderDeviceId: sender.deviceId,
        recipientDeviceId: r.deviceId,
        signedPrekeyId: r.signedPrekey.id,
        pqPrekeyId: r.pqPrekey.id,
        oneTimePrekeyId: r.oneTimePrekey?.id ?? null,
      },
    });
    const wrappedKey = aeadEncrypt(contentKey, wrapAd(messageId, r.deviceId), ZERO_NONCE, kek);
    return {
      deviceId: r.deviceId,
      signedPrekeyId: r.signedPrekey.id,
      pqPrekeyId: r.pqPrekey.id,
      ...(r.oneTimePrekey ? { oneTimePrekeyId: r.oneTimePrekey.id } : {}),
      pqCiphertext: b64u(ct),
      wrappedKey: b64u(wrappedKey),
    };
  });
  const padded = pad(input.body);
  const partial = {
    v: version,
    messageId,
    senderDeviceId: sender.deviceId,
    threadId: input.threadId,
    sentAt: input.sentAt,
    ephemeralKey: b64u(eph.publicKey),
    bodyNonce: b64u(bodyNonce),
    recipients,
  };
  if (version === 2) {
    // §4.12: the length is known before encrypting (bucket + 16); the hash is written in after.
    const length = bucketFor(input.body.length) + 16;
    const draft = encodeHeaderV2({ ...partial, ciphertextLength: length, ciphertextHash: b64u(new Uint8Array(32)) });
    const ciphertext = aeadEncrypt(padded, bodyAdV2(draft), bodyNonce, contentKey);
    if (ciphertext.length !== length) throw new Error('padding arithmetic');
    const header: EnvelopeHeader = { ...partial, ciphertextLength: length, ciphertextHash: b64u(blake2b256(ciphertext)) };
    const headerBytes = encodeHeaderV2(header);
    const signature = b64u(sign(signingInputV2(headerBytes), sender.sign.privateKey));
    return { header, signature, ciphertext, headerBytes };
  }
  const ciphertext = aeadEncrypt(padded, bodyAd({ ...partial, ciphertextLength: 0, ciphertextHash: '' }), bodyNonce, contentKey);
  const header: EnvelopeHeader = { ...partial, ciphertextLength: ciphertext.length, ciphertextHash: b64u(blake2b256(ciphertext)) };
  if (ciphertext.length !== bucketFor(input.body.length) + 16) throw new Error('padding arithmetic');
  const signature = b64u(sign(signingInput(LABEL.envelope, header), sender.sign.privateKey));
  return { header, signature, ciphertext };
}

/** The sender as the receiver verified it itself (§4.6 step 2). */
export interface VerifiedSender {
  deviceId: string;
  signPublicKey: Uint8Array;
  identityKey: Uint8Array;
}

/**
 * §4.6 steps 3–8 (step 1's shape check and step 2's sender lookup are the
 * caller's; step 9's body check too, since the envelope layer seals any
 * bytes). Returns the unpadded body and the one-time prekey id used.
 */
export function openEnvelope(input: {
  envelope: WireEnvelope;
  recipient: DeviceKeys;
  sender: VerifiedSender;
  now: number;
  retentionMs: number;
  seen?: ReadonlySet<string>;
}): { body: Uint8Array; oneTimePrekeyId?: number } {
  const { envelope, recipient, sender } = input;
  const { header } = envelope;
  if (header.senderDeviceId !== sender.deviceId) throw new DocClientError('UNTRUSTED_KEY', 'sender mismatch');
  // 3. signature (version 2: over the header bytes exactly as received, §4.12)
  if (header.v === 2 && !envelope.headerBytes) throw new DocClientError('BAD_REQUEST', 'a version 2 envelope without its header bytes');
  const signed = header.v === 2 && envelope.headerBytes ? signingInputV2(envelope.headerBytes) : signingInput(LABEL.envelope, header);
  if (!verify(fromB64u(envelope.signature, 64), signed, sender.signPublicKey)) {
    throw new DocClientError('BAD_SIGNATURE', 'envelope signature');
  }
  // 4. time
  if (header.sentAt > input.now + SKEW_MS || header.sentAt < input.now - input.retentionMs) {
    throw new DocClientError('STALE_MESSAGE', 'sentAt outside the window');
  }
  // 5. replay
  if (input.seen?.has(header.messageId)) throw new DocClientError('REPLAY', 'message id already processed');
  // 6. own entry
  const entry = header.recipients.find((r) => r.deviceId === recipient.deviceId);
  if (!entry) throw new DocClientError('NOT_RECIPIENT', 'no entry for this device');
  // 7. integrity
  const ct = envelope.ciphertext;
  if (header.ciphertextLength !== ct.length || !isBucket(ct.length - 16)) throw new DocClientError('BAD_REQUEST', 'ciphertext length');
  if (b64u(blake2b256(ct)) !== header.ciphertextHash) throw new DocClientError('BAD_SIGNATURE', 'ciphertext hash');
  if (new Set(header.recipients.map((r) => r.deviceId)).size !== header.recipients.length) {
    throw new DocClientError('BAD_REQUEST', 'recipient listed twice');
  }
  // 8. prekeys, KEK, unwrap, decrypt, unpad
  const spk = recipient.signedPrekeys.get(entry.signedPrekeyId);
  const pq = recipient.pqPrekeys.get(entry.pqPrekeyId);
  const opk = entry.oneTimePrekeyId === undefined ? undefined : recipient.oneTimePrekeys.get(entry.oneTimePrekeyId);
  if (!spk || !pq || (entry.oneTimePrekeyId !== undefined && !opk)) throw new DocClientError('DECRYPT_FAILED', 'unknown or used prekey');
  try {
    const eph = fromB64u(header.ephemeralKey, 32);
    const pqCt = fromB64u(entry.pqCiphertext, 1120);
    const kek = deriveKek({
      dh1: x25519(spk.privateKey, sender.identityKey),
      dh2: x25519(recipient.identity.privateKey, eph),
      dh3: x25519(spk.privateKey, eph),
      dh4: opk ? x25519(opk.privateKey, eph) : new Uint8Array(0),
      ss: xwingDecapsulate(pqCt, pq.seed),
      senderIdentity: sender.identityKey,
      ephemeral: eph,
      recipientIdentity: recipient.identity.publicKey,
      spk: spk.publicKey,
      opk: opk?.publicKey ?? new Uint8Array(0),
      pqpk: pq.publicKey,
      ct: pqCt,
      context: {
        messageId: header.messageId,
        senderDeviceId: header.senderDeviceId,
        recipientDeviceId: recipient.deviceId,
        signedPrekeyId: entry.signedPrekeyId,
        pqPrekeyId: entry.pqPrekeyId,
        oneTimePrekeyId: entry.oneTimePrekeyId ?? null,
      },
    });
    const contentKey = aeadDecrypt(fromB64u(entry.wrappedKey, 48), wrapAd(header.messageId, recipient.deviceId), ZERO_NONCE, kek);
    const ad = header.v === 2 && envelope.headerBytes ? bodyAdV2(envelope.headerBytes) : bodyAd(header);
    const padded = aeadDecrypt(ct, ad, fromB64u(header.bodyNonce, 24), contentKey);
    return { body: unpad(padded), ...(entry.oneTimePrekeyId !== undefined ? { oneTimePrekeyId: entry.oneTimePrekeyId } : {}) };
  } catch (err) {
    if (err instanceof DocClientError && err.code === 'DECRYPT_FAILED') throw err;
    throw new DocClientError('DECRYPT_FAILED', err instanceof Error ? err.message : String(err));
  }
}
