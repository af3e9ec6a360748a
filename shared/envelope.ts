/**
 * Seal one message for many devices, and open it (PROTOCOL.md §4).
 *
 * Seal: the body is padded to a size bucket and encrypted once under a fresh
 * content key; the content key is wrapped for each recipient device under a
 * key-encryption key (KEK) that needs both the classical X25519 secrets and
 * the X-Wing post-quantum secret; the sender signs the whole public header.
 *
 * Open: check the signature first (cheap, needs no secret), then freshness,
 * then find our entry, derive the KEK, unwrap, check the ciphertext hash,
 * decrypt and unpad. The used one-time prekey is deleted on success.
 */
import { DOMAIN, signingInput } from './canonical';
import { HEADER_TAIL, WIRE_VERSION, encodeHeader, fieldsFromHeader, headerFromFields, type FrameView, type HeaderFields, type RecipientFields } from './envelope-wire';
import type { Crypto } from './crypto/types';
import { SIZES } from './crypto/types';
import type { DeviceKeys, RecipientKeys } from './device-keys';
import { concatBytes, fromB64u, lengthPrefixed, toB64u, utf8 } from './encoding';
import { HandoverError } from './errors';
import { MAX_BODY_BYTES, bucketFor, isBucket } from './padding';
import { EnvelopeHeader, PROTOCOL_VERSION, type RecipientEntry, type SealedEnvelope, SealedEnvelopeSchema } from './schemas';

const ZERO = new Uint8Array([0]);
import { MAX_CLOCK_SKEW_MS } from './time';
import { parseOrThrow } from './validation';

const WRAP_NONCE = new Uint8Array(SIZES.aeadNonce); // safe: every KEK wraps exactly one key
const EMPTY = new Uint8Array(0);

export interface SenderKeys {
  readonly deviceId: string;
  readonly signPrivateKey: Uint8Array;
  readonly identity: { publicKey: Uint8Array; privateKey: Uint8Array };
}

export interface SealInput {
  sender: SenderKeys;
  recipients: readonly RecipientKeys[];
  threadId: string;
  sentAt: number;
  body: Uint8Array;
  /** Normally random; only a retry of the same message reuses its id. */
  messageId?: string;
  /**
   * Return the content key K with the envelope instead of wiping it. A
   * device that may later forward this envelope to a colleague's new device
   * or to an org that joins the thread (history sharing) keeps K, encrypted
   * in its own profile: the recipient then checks the original signature
   * and decrypts with K (`openWithContentKey`).
   */
  keepContentKey?: boolean;
  /**
   * Protocol version of the envelope: 2 (binary header, the default) or 1
   * (canonical JSON header; kept to check and open envelopes sealed before
   * version 2, and for tests of that path).
   */
  version?: 1 | 2;
}

type HeaderWithoutBodyHash = Omit<EnvelopeHeader, 'ciphertextHash' | 'ciphertextLength'>;

/** Additional data for the body: binds the ciphertext to every header field but its own hash. */
function bodyAssociatedData(crypto: Crypto, header: HeaderWithoutBodyHash): Uint8Array {
  return crypto.hash(signingInput(DOMAIN.headerHash, header));
}

/** Version 2: the same binding over the header's bytes before its last two fields (ciphertext length and hash). */
export function bodyAssociatedDataV2(crypto: Crypto, headerBytes: Uint8Array): Uint8Array {
  return crypto.hash(concatBytes(utf8(DOMAIN.headerHashV2), ZERO, headerBytes.subarray(0, headerBytes.length - HEADER_TAIL)));
}

/** Version 2's signing input: the domain label, a zero byte, then the header's bytes exactly as they travel. */
export function signingInputV2(headerBytes: Uint8Array): Uint8Array {
  return concatBytes(utf8(DOMAIN.envelopeV2), ZERO, headerBytes);
}

/** The signing input of a header; the relay and recipients verify against it. */
export function envelopeSigningInput(header: EnvelopeHeader): Uint8Array {
  if (header.v === WIRE_VERSION) return signingInputV2(encodeHeader(fieldsFromHeader(header)));
  return signingInput(DOMAIN.envelope, header);
}

/** The body's additional data of a header object, by its version. */
function bodyAssociatedDataOf(crypto: Crypto, header: EnvelopeHeader): Uint8Array {
  if (header.v === WIRE_VERSION) return bodyAssociatedDataV2(crypto, encodeHeader(fieldsFromHeader(header)));
  const { ciphertextHash: _h, ciphertextLength: _l, ...partial } = header;
  return bodyAssociatedData(crypto, partial);
}

interface KekInput {
  dh: Uint8Array[];
  pqSharedSecret: Uint8Array;
  pqCiphertext: Uint8Array;
  senderIdentity: Uint8Array;
  ephemeral: Uint8Array;
  recipientIdentity: Uint8Array;
  signedPrekey: Uint8Array;
  oneTimePrekey: Uint8Array;
  pqPrekey: Uint8Array;
  context: { messageId: string; senderDeviceId: string; recipientDeviceId: string; signedPrekeyId: number; pqPrekeyId: number; oneTimePrekeyId: number | null };
}

/**
 * KEK = BLAKE2b-256 over a length-prefixed transcript: the domain label,
 * every DH output, the X-Wing secret, every public key involved, the X-Wing
 * ciphertext and the ids. Both the classical and post-quantum secrets are
 * needed; any changed input gives an unrelated key.
 */
function deriveKek(crypto: Crypto, k: KekInput): Uint8Array {
  const dh = [0, 1, 2, 3].map((i) => k.dh[i] ?? EMPTY);
  const transcript = lengthPrefixed(
    utf8(DOMAIN.keyEncryptionKey),
    ...dh,
    k.pqSharedSecret,
    k.senderIdentity,
    k.ephemeral,
    k.recipientIdentity,
    k.signedPrekey,
    k.oneTimePrekey,
    k.pqPrekey,
    k.pqCiphertext,
    signingInput(DOMAIN.keyEncryptionKey, k.context),
  );
  const kek = crypto.hash(transcript, 32);
  for (const secret of dh) crypto.wipe(secret);
  return kek;
}

function wrapAssociatedData(messageId: string, recipientDeviceId: string): Uint8Array {
  return signingInput(DOMAIN.keyEncryptionKey, { messageId, recipientDeviceId });
}

export function sealEnvelope(crypto: Crypto, input: SealInput): SealedEnvelope & { contentKey?: Uint8Array } {
  if (input.recipients.length === 0) throw new HandoverError('BAD_REQUEST', 'an envelope needs at least one recipient');
  if (input.body.length > MAX_BODY_BYTES) throw new HandoverError('PAYLOAD_TOO_LARGE', `body exceeds ${MAX_BODY_BYTES} bytes`);
  const seen = new Set<string>();
  for (const r of input.recipients) {
    if (seen.has(r.deviceId)) throw new HandoverError('BAD_REQUEST', `recipient ${r.deviceId} listed twice`);
    seen.add(r.deviceId);
  }
  const version = input.version ?? WIRE_VERSION;
  const messageId = input.messageId ?? toB64u(crypto.random(16));
  const ephemeral = crypto.dhKeyPair();
  const contentKey = crypto.random(SIZES.aeadKey);
  const bodyNonce = crypto.random(SIZES.aeadNonce);

  const raw: RecipientFields[] = input.recipients.map((r) => {
    const dh = [
      crypto.dh(input.sender.identity.privateKey, r.signedPrekey.publicKey),
      crypto.dh(ephemeral.privateKey, r.identityKey),
      crypto.dh(ephemeral.privateKey, r.signedPrekey.publicKey),
    ];
    if (r.oneTimePrekey) dh.push(crypto.dh(ephemeral.privateKey, r.oneTimePrekey.publicKey));
    const pq = crypto.kemEncapsulate(r.pqPrekey.publicKey);
    const kek = deriveKek(crypto, {
      dh,
      pqSharedSecret: pq.sharedSecret,
      pqCiphertext: pq.ciphertext,
      senderIdentity: input.sender.identity.publicKey,
      ephemeral: ephemeral.publicKey,
      recipientIdentity: r.identityKey,
      signedPrekey: r.signedPrekey.publicKey,
      oneTimePrekey: r.oneTimePrekey?.publicKey ?? EMPTY,
      pqPrekey: r.pqPrekey.publicKey,
      context: {
        messageId,
        senderDeviceId: input.sender.deviceId,
        recipientDeviceId: r.deviceId,
        signedPrekeyId: r.signedPrekey.id,
        pqPrekeyId: r.pqPrekey.id,
        oneTimePrekeyId: r.oneTimePrekey?.id ?? null,
      },
    });
    const wrappedKey = crypto.aeadEncrypt(contentKey, wrapAssociatedData(messageId, r.deviceId), WRAP_NONCE, kek);
    crypto.wipe(kek);
    crypto.wipe(pq.sharedSecret);
    return {
      deviceId: r.deviceId,
      signedPrekeyId: r.signedPrekey.id,
      pqPrekeyId: r.pqPrekey.id,
      ...(r.oneTimePrekey ? { oneTimePrekeyId: r.oneTimePrekey.id } : {}),
      pqCiphertext: pq.ciphertext,
      wrappedKey,
    };
  });
  crypto.wipe(ephemeral.privateKey);
  const padded = crypto.pad(input.body, bucketFor(input.body.length));

  if (version === WIRE_VERSION) {
    // The header's bytes are written once; the body's additional data covers all but the
    // ciphertext length and hash (the length is known before encrypting, the hash is filled in after).
    const fields: HeaderFields = {
      messageId: fromB64u(messageId),
      threadId: fromB64u(input.threadId),
      senderDeviceId: input.sender.deviceId,
      sentAt: input.sentAt,
      ephemeralKey: ephemeral.publicKey,
      bodyNonce,
      recipients: raw,
      ciphertextLength: padded.length + SIZES.aeadTag,
      ciphertextHash: new Uint8Array(32),
    };
    const headerBytes = encodeHeader(fields);
    const ciphertext = crypto.aeadEncrypt(padded, bodyAssociatedDataV2(crypto, headerBytes), bodyNonce, contentKey);
    const keptKey = input.keepContentKey ? contentKey.slice() : undefined;
    crypto.wipe(contentKey);
    const ciphertextHash = crypto.hash(ciphertext, 32);
    headerBytes.set(ciphertextHash, headerBytes.length - 32);
    const signatureBytes = crypto.sign(signingInputV2(headerBytes), input.sender.signPrivateKey);
    const header = headerFromFields({ ...fields, ciphertextHash });
    return { header, signature: toB64u(signatureBytes), ciphertext, ...(keptKey ? { contentKey: keptKey } : {}) };
  }

  // Version 1: the binary fields as base64url text in a JSON header.
  const recipients: RecipientEntry[] = raw.map(({ pqCiphertext, wrappedKey, ...ids }) => ({
    ...ids,
    pqCiphertext: toB64u(pqCiphertext),
    wrappedKey: toB64u(wrappedKey),
  }));
  const partial: HeaderWithoutBodyHash = {
    v: PROTOCOL_VERSION,
    messageId,
    senderDeviceId: input.sender.deviceId,
    threadId: input.threadId,
    sentAt: input.sentAt,
    ephemeralKey: toB64u(ephemeral.publicKey),
    bodyNonce: toB64u(bodyNonce),
    recipients,
  };
  const ciphertext = crypto.aeadEncrypt(padded, bodyAssociatedData(crypto, partial), bodyNonce, contentKey);
  const keptKey = input.keepContentKey ? contentKey.slice() : undefined;
  crypto.wipe(contentKey);
  const header: EnvelopeHeader = {
    ...partial,
    ciphertextLength: ciphertext.length,
    ciphertextHash: toB64u(crypto.hash(ciphertext, 32)),
  };
  const signature = toB64u(crypto.sign(envelopeSigningInput(header), input.sender.signPrivateKey));
  return { header, signature, ciphertext, ...(keptKey ? { contentKey: keptKey } : {}) };
}

/** Parse an envelope from the wire; throws BAD_REQUEST on any shape problem. */
export function parseEnvelope(value: unknown): SealedEnvelope {
  return parseOrThrow(SealedEnvelopeSchema, value, 'envelope');
}

/**
 * Checks anyone can make without secrets (the relay runs these): the
 * signature by the claimed sender key, that the ciphertext matches its hash
 * and length, that the length is a padding bucket, and no duplicate recipient.
 */
export function verifyEnvelopeSignature(crypto: Crypto, envelope: SealedEnvelope, senderSignPublicKey: Uint8Array): void {
  const { header } = envelope;
  let signature: Uint8Array;
  try {
    signature = fromB64u(envelope.signature);
  } catch {
    throw new HandoverError('BAD_SIGNATURE', 'envelope signature is not valid base64url');
  }
  if (!crypto.verify(signature, envelopeSigningInput(header), senderSignPublicKey)) {
    throw new HandoverError('BAD_SIGNATURE', `envelope ${header.messageId} is not signed by device ${header.senderDeviceId}`);
  }
}

export function checkEnvelopeIntegrity(crypto: Crypto, envelope: SealedEnvelope): void {
  const { header, ciphertext } = envelope;
  if (ciphertext.length !== header.ciphertextLength || !isBucket(ciphertext.length - SIZES.aeadTag)) {
    throw new HandoverError('BAD_REQUEST', 'ciphertext length does not match the header or a padding bucket');
  }
  if (!crypto.equal(crypto.hash(ciphertext, 32), fromB64u(header.ciphertextHash))) {
    throw new HandoverError('BAD_SIGNATURE', 'ciphertext does not match the signed hash');
  }
  const ids = new Set(header.recipients.map((r) => r.deviceId));
  if (ids.size !== header.recipients.length) throw new HandoverError('BAD_REQUEST', 'a recipient is listed twice');
}

/**
 * The relay's checks of a version 2 frame (read with `readFrame`): the
 * signature over the header bytes exactly as received, the ciphertext
 * (hashed in place) against its signed hash, its length a padding bucket,
 * no recipient listed twice. Returns the signing input (the relay hashes
 * it to tell a retry of the same envelope from another one under its id).
 */
export function verifyFrame(crypto: Crypto, frame: FrameView, senderSignPublicKey: Uint8Array): Uint8Array {
  const input = signingInputV2(frame.headerBytes);
  if (!crypto.verify(frame.signature, input, senderSignPublicKey)) {
    throw new HandoverError('BAD_SIGNATURE', `envelope ${toB64u(frame.messageId)} is not signed by device ${frame.senderDeviceId}`);
  }
  checkFrameIntegrity(crypto, frame);
  return input;
}

/** The part of `verifyFrame` after the signature: the ciphertext hashed where it lies, its bucket, distinct recipients. */
function checkFrameIntegrity(crypto: Crypto, frame: FrameView): void {
  if (!isBucket(frame.ciphertext.length - SIZES.aeadTag)) throw new HandoverError('BAD_REQUEST', 'ciphertext length is not a padding bucket');
  if (!crypto.equal(crypto.hash(frame.ciphertext, 32), frame.ciphertextHash)) {
    throw new HandoverError('BAD_SIGNATURE', 'ciphertext does not match the signed hash');
  }
  const ids = new Set(frame.recipients.map((r) => r.deviceId));
  if (ids.size !== frame.recipients.length) throw new HandoverError('BAD_REQUEST', 'a recipient is listed twice');
}

export interface OpenInput {
  envelope: SealedEnvelope;
  recipient: DeviceKeys;
  /** The sender's keys, from a certificate chain the caller verified (and not revoked). */
  sender: { signPublicKey: Uint8Array; identityKey: Uint8Array };
  now: number;
  /** Messages older than this are refused (the relay's retention window). */
  maxAgeMs: number;
  /** Returns true for a message id already processed. */
  alreadySeen?: (messageId: string) => boolean;
}

export { MAX_CLOCK_SKEW_MS };

export interface OpenedEnvelope {
  header: EnvelopeHeader;
  body: Uint8Array;
  usedOneTimePrekeyId?: number;
  /** The content key K: lets this device forward the envelope later (history sharing, PROTOCOL.md §4.10). */
  contentKey: Uint8Array;
}

export function openEnvelope(crypto: Crypto, input: OpenInput): OpenedEnvelope {
  const { envelope, recipient } = input;
  const { header } = envelope;
  verifyEnvelopeSignature(crypto, envelope, input.sender.signPublicKey);
  if (header.sentAt > input.now + MAX_CLOCK_SKEW_MS) {
    throw new HandoverError('STALE_MESSAGE', 'message claims to be sent in the future');
  }
  if (header.sentAt < input.now - input.maxAgeMs) {
    throw new HandoverError('STALE_MESSAGE', 'message is older than the retention window');
  }
  if (input.alreadySeen?.(header.messageId)) {
    throw new HandoverError('REPLAY', `message ${header.messageId} was already received`);
  }
  const entry = header.recipients.find((r) => r.deviceId === recipient.deviceId);
  if (!entry) throw new HandoverError('NOT_RECIPIENT', 'this device is not a recipient of the message');
  checkEnvelopeIntegrity(crypto, envelope);

  const failed = () => new HandoverError('DECRYPT_FAILED', 'cannot decrypt: prekey unknown or used, or data tampered');
  const spk = recipient.signedPrekeys.get(entry.signedPrekeyId);
  const pqk = recipient.pqPrekeys.get(entry.pqPrekeyId);
  const opk = entry.oneTimePrekeyId === undefined ? undefined : recipient.oneTimePrekeys.get(entry.oneTimePrekeyId);
  if (!spk || !pqk || (entry.oneTimePrekeyId !== undefined && !opk)) throw failed();

  const ephemeral = fromB64u(header.ephemeralKey);
  const pqCiphertext = fromB64u(entry.pqCiphertext);
  const dh = [
    crypto.dh(spk.keyPair.privateKey, input.sender.identityKey),
    crypto.dh(recipient.identity.privateKey, ephemeral),
    crypto.dh(spk.keyPair.privateKey, ephemeral),
  ];
  if (opk) dh.push(crypto.dh(opk.keyPair.privateKey, ephemeral));
  const pqSharedSecret = crypto.kemDecapsulate(pqCiphertext, pqk.keyPair.privateKey);
  const kek = deriveKek(crypto, {
    dh,
    pqSharedSecret,
    pqCiphertext,
    senderIdentity: input.sender.identityKey,
    ephemeral,
    recipientIdentity: recipient.identity.publicKey,
    signedPrekey: spk.keyPair.publicKey,
    oneTimePrekey: opk?.keyPair.publicKey ?? EMPTY,
    pqPrekey: pqk.keyPair.publicKey,
    context: {
      messageId: header.messageId,
      senderDeviceId: header.senderDeviceId,
      recipientDeviceId: entry.deviceId,
      signedPrekeyId: entry.signedPrekeyId,
      pqPrekeyId: entry.pqPrekeyId,
      oneTimePrekeyId: entry.oneTimePrekeyId ?? null,
    },
  });
  const contentKey = crypto.aeadDecrypt(fromB64u(entry.wrappedKey), wrapAssociatedData(header.messageId, entry.deviceId), WRAP_NONCE, kek);
  crypto.wipe(kek);
  crypto.wipe(pqSharedSecret);
  const padded = crypto.aeadDecrypt(envelope.ciphertext, bodyAssociatedDataOf(crypto, header), fromB64u(header.bodyNonce), contentKey);
  const body = crypto.unpad(padded, padded.length);

  // Forward secrecy: the one-time prekey's private half is gone for good.
  if (opk) {
    crypto.wipe(opk.keyPair.privateKey);
    recipient.oneTimePrekeys.delete(opk.id);
  }
  return { header, body, contentKey, ...(opk ? { usedOneTimePrekeyId: opk.id } : {}) };
}

/**
 * Open an envelope with its content key K revealed by someone who holds it
 * (a forwarded envelope: history sharing, PROTOCOL.md §4.10). Everything
 * that makes the envelope the original author's is checked exactly as when
 * it was first delivered — the author's signature over the header, the
 * ciphertext against its signed hash and length — and K must decrypt it
 * under the header-bound additional data. The forwarder is trusted for
 * nothing: it cannot change a byte without failing one of these checks,
 * and the wrapped keys for the original recipients are not used.
 */
export function openWithContentKey(
  crypto: Crypto,
  input: { envelope: SealedEnvelope; contentKey: Uint8Array; senderSignPublicKey: Uint8Array },
): { header: EnvelopeHeader; body: Uint8Array } {
  const { envelope } = input;
  const { header } = envelope;
  verifyEnvelopeSignature(crypto, envelope, input.senderSignPublicKey);
  checkEnvelopeIntegrity(crypto, envelope);
  if (input.contentKey.length !== SIZES.aeadKey) throw new HandoverError('DECRYPT_FAILED', 'the content key has the wrong length');
  const padded = crypto.aeadDecrypt(envelope.ciphertext, bodyAssociatedDataOf(crypto, header), fromB64u(header.bodyNonce), input.contentKey);
  return { header, body: crypto.unpad(padded, padded.length) };
}
