/**
 * Accepting an envelope: every check the relay can make without secrets,
 * then one idempotent write to every recipient inbox. The send is
 * acknowledged only after that write.
 */
import {
  MAX_CLOCK_SKEW_MS,
  parseEnvelope,
  fromUtf8,
  HandoverError,
  readFrame,
  toB64u,
  WIRE_VERSION,
  type EnvelopeHeader,
  type SealedEnvelope,
  type Delivery,
  type FrameView,
  MAX_HEADER_BYTES,
  FRAME_OVERHEAD,
  envelopeOfDelivery,
  type WireEnvelope,
} from '../../shared';
import type { RelayConfig } from '../config';
import type { InboxStore } from '../store';
import type { EnvelopeVerifier } from '../verify/pool';
import type { RelayTrust } from './trust';

export interface AcceptedEnvelope {
  messageId: string;
  storedAt: number;
  senderDeviceId: string;
  recipientDeviceIds: string[];
  blob: Uint8Array;
  /** What recipients are sent: the same as `decodeStored(blob)`, without decoding it again. */
  delivery: Delivery;
}

export class EnvelopeService {
  constructor(
    private readonly verifier: EnvelopeVerifier,
    private readonly trust: RelayTrust,
    private readonly store: Pick<InboxStore, 'enqueue'>,
    private readonly config: RelayConfig,
    private readonly now: () => number,
  ) {}

  /** Cheap shape and size checks before any parsing work. */
  private precheck(value: unknown): void {
    if (typeof value !== 'object' || value === null) throw new HandoverError('BAD_REQUEST', 'an envelope must be an object');
    const ciphertext = (value as { ciphertext?: unknown }).ciphertext;
    if (!(ciphertext instanceof Uint8Array)) throw new HandoverError('BAD_REQUEST', 'the ciphertext must be binary');
    if (ciphertext.length > this.config.maxEnvelopeBytes) {
      throw new HandoverError('PAYLOAD_TOO_LARGE', `the ciphertext is larger than ${this.config.maxEnvelopeBytes} bytes`);
    }
  }

  async accept(authenticatedDeviceId: string, value: unknown): Promise<AcceptedEnvelope> {
    if (value instanceof Uint8Array) return this.acceptFrame(authenticatedDeviceId, value);
    if (!this.config.acceptV1Sends) {
      throw new HandoverError('BAD_REQUEST', 'this relay accepts only protocol version 2 envelope frames (ACCEPT_V1_SENDS=false): update the client');
    }
    this.precheck(value);
    const envelope = parseEnvelope(value);
    const { header } = envelope;
    if (header.v !== 1) throw new HandoverError('BAD_REQUEST', 'a version 2 envelope travels as its binary frame, not as JSON');
    if (header.senderDeviceId !== authenticatedDeviceId) {
      throw new HandoverError('FORBIDDEN', 'the envelope names another sender than the signed-in device');
    }
    if (header.recipients.length > this.config.maxRecipients) {
      throw new HandoverError('BAD_REQUEST', `at most ${this.config.maxRecipients} recipient devices per envelope`);
    }
    const now = this.now();
    if (header.sentAt > now + MAX_CLOCK_SKEW_MS) throw new HandoverError('BAD_REQUEST', 'sentAt is in the future; check the device clock');
    if (header.sentAt < now - this.config.retentionMs) throw new HandoverError('BAD_REQUEST', 'sentAt is older than the retention window');

    const sender = await this.trust.activeDevice(header.senderDeviceId);
    // The signature and hash checks (on a verification thread) and the
    // device-set check (Redis) run side by side; a bad signature is reported
    // first whatever else is wrong, so the answer does not depend on timing.
    const [verified, deviceSet] = await Promise.allSettled([
      this.verifier.verify(envelope, sender.signPublicKey),
      this.checkDeviceSet(header.recipients.map((r) => r.deviceId), header.senderDeviceId, sender.device.orgId),
    ]);
    if (verified.status === 'rejected') throw verified.reason;
    if (deviceSet.status === 'rejected') throw deviceSet.reason;
    const { headerHash, headerJson } = verified.value;

    const storedAt = now;
    const recipientDeviceIds = header.recipients.map((r) => r.deviceId);
    const blob = encodeStored(envelope, storedAt, headerJson);
    const result = await this.store.enqueue({
      messageId: header.messageId,
      fingerprint: headerHash,
      senderDeviceId: header.senderDeviceId,
      recipientDeviceIds,
      blob,
      expiresAt: storedAt + this.config.retentionMs,
    });
    this.refuseUnstored(result, header.messageId);
    const delivery: Delivery = { envelope: { header, signature: envelope.signature, ciphertext: envelope.ciphertext }, storedAt };
    return { messageId: header.messageId, storedAt, senderDeviceId: header.senderDeviceId, recipientDeviceIds, blob, delivery };
  }

  /**
   * Version 2 (PROTOCOL.md §4.12): the frame is read once, in place; every
   * check of version 1 runs on what was read — the sender, the recipient
   * cap, the clock window, the signature over the header bytes exactly as
   * received, the ciphertext hashed where it lies, the bucket, the device
   * set — and the stored and delivered bytes are the received frame.
   */
  private async acceptFrame(authenticatedDeviceId: string, bytes: Uint8Array): Promise<AcceptedEnvelope> {
    if (bytes.length > this.config.maxEnvelopeBytes + MAX_HEADER_BYTES + FRAME_OVERHEAD) {
      throw new HandoverError('PAYLOAD_TOO_LARGE', `the ciphertext is larger than ${this.config.maxEnvelopeBytes} bytes`);
    }
    const frame = readFrame(bytes, { maxRecipients: this.config.maxRecipients, maxCiphertextBytes: this.config.maxEnvelopeBytes });
    if (frame.senderDeviceId !== authenticatedDeviceId) {
      throw new HandoverError('FORBIDDEN', 'the envelope names another sender than the signed-in device');
    }
    const now = this.now();
    if (frame.sentAt > now + MAX_CLOCK_SKEW_MS) throw new HandoverError('BAD_REQUEST', 'sentAt is in the future; check the device clock');
    if (frame.sentAt < now - this.config.retentionMs) throw new HandoverError('BAD_REQUEST', 'sentAt is older than the retention window');
    const messageId = toB64u(frame.messageId);
    const recipientDeviceIds = frame.recipients.map((r) => r.deviceId);

    const sender = await this.trust.activeDevice(frame.senderDeviceId);
    // As for version 1: a bad signature is reported first whatever else is wrong.
    const [verified, deviceSet] = await Promise.allSettled([
      this.verifier.verifyFrame(frame, sender.signPublicKey),
      this.checkDeviceSet(recipientDeviceIds, frame.senderDeviceId, sender.device.orgId),
    ]);
    if (verified.status === 'rejected') throw verified.reason;
    if (deviceSet.status === 'rejected') throw deviceSet.reason;

    const storedAt = now;
    const blob = encodeStoredFrame(frame, storedAt);
    const result = await this.store.enqueue({
      messageId,
      fingerprint: verified.value.headerHash,
      senderDeviceId: frame.senderDeviceId,
      recipientDeviceIds,
      blob,
      expiresAt: storedAt + this.config.retentionMs,
    });
    this.refuseUnstored(result, messageId);
    // The frame inside the stored form: the very bytes that are stored go to every recipient.
    const delivery: Delivery = { frame: blob.subarray(STORED_FRAME_OFFSET), storedAt };
    return { messageId, storedAt, senderDeviceId: frame.senderDeviceId, recipientDeviceIds, blob, delivery };
  }

  private refuseUnstored(result: Awaited<ReturnType<InboxStore['enqueue']>>, messageId: string): void {
    if (result.status === 'duplicate') {
      // Only the signed-in sender can get here (the signature and sender
      // check above). The very same signed header: its own retry after a
      // lost ack, so the send did succeed. Another header under an id
      // already taken: refused, and nothing says it was accepted.
      if (result.sameEnvelope) {
        throw new HandoverError('REPLAY', `message ${messageId} was already accepted`, { messageId, alreadyAccepted: true });
      }
      throw new HandoverError('REPLAY', `message id ${messageId} is already taken by another envelope; seal the message again under a new id`, { messageId });
    }
    if (result.status === 'inbox_full') {
      throw new HandoverError('UNAVAILABLE', 'a recipient inbox is full; nothing was stored, try later', { deviceIds: result.deviceIds });
    }
  }

  /**
   * The recipient list must be exactly the active devices of every org it
   * addresses, plus the sender's own other devices: no shelter device is
   * ever silently skipped, and no revoked or unknown device gets a copy.
   */
  private async checkDeviceSet(listed: string[], senderDeviceId: string, senderOrgId: string): Promise<void> {
    // The cached device lists decide quickly when they match; a mismatch is
    // confirmed against the store first (the cache may predate a registration).
    let result = await this.compareDeviceSet(listed, senderDeviceId, senderOrgId, false);
    if (result.missing.length > 0 || result.stale.length > 0) result = await this.compareDeviceSet(listed, senderDeviceId, senderOrgId, true);
    const { missing, stale } = result;
    if (missing.length > 0 || stale.length > 0) {
      throw new HandoverError(
        'DEVICE_SET_MISMATCH',
        `the recipient devices do not match the orgs' active devices (${missing.length} missing, ${stale.length} stale); fetch bundles again`,
        { missing, stale },
      );
    }
  }

  private async compareDeviceSet(listed: string[], senderDeviceId: string, senderOrgId: string, fresh: boolean): Promise<{ missing: string[]; stale: string[] }> {
    const orgs = new Set<string>([senderOrgId]);
    const orgOf = await Promise.all(listed.map((id) => this.trust.deviceOrg(id)));
    for (const orgId of orgOf) if (orgId) orgs.add(orgId);
    const expected = new Set<string>();
    const perOrg = await Promise.all([...orgs].map((orgId) => this.trust.activeOrgDevices(orgId, { fresh })));
    for (const devices of perOrg) for (const d of devices) expected.add(d.deviceId);
    expected.delete(senderDeviceId);
    const listedSet = new Set(listed);
    return {
      missing: [...expected].filter((id) => !listedSet.has(id)).sort(),
      stale: listed.filter((id) => !expected.has(id)).sort(),
    };
  }
}

/*
 * Stored form of a version 2 envelope: the byte 0x02, the acceptance time
 * (8 bytes, big-endian), then the frame exactly as received. A version 1
 * stored form starts with a length below 2^24, so its first byte is 0.
 */
const STORED_FRAME_OFFSET = 9;

export function encodeStoredFrame(frame: Pick<FrameView, 'frame'>, storedAt: number): Uint8Array {
  const out = Buffer.allocUnsafeSlow(STORED_FRAME_OFFSET + frame.frame.length);
  out[0] = WIRE_VERSION;
  out.writeUInt32BE(Math.floor(storedAt / 2 ** 32), 1);
  out.writeUInt32BE(storedAt % 2 ** 32, 5);
  out.set(frame.frame, STORED_FRAME_OFFSET);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/*
 * Stored form of a version 1 envelope: 4-byte big-endian length, then JSON of the
 * header, signature and acceptance time, then the ciphertext bytes.
 * `headerJson` is the header's JSON when the caller has it already (the
 * canonical JSON the signature check built): it is used as is, not encoded
 * again, and the whole form is written into one buffer.
 */
export function encodeStored(envelope: SealedEnvelope, storedAt: number, headerJson: string = JSON.stringify(envelope.header)): Uint8Array {
  const meta = `{"header":${headerJson},"signature":${JSON.stringify(envelope.signature)},"storedAt":${JSON.stringify(storedAt)}}`;
  const metaLength = Buffer.byteLength(meta);
  const out = Buffer.allocUnsafeSlow(4 + metaLength + envelope.ciphertext.length);
  out.writeUInt32BE(metaLength, 0);
  out.write(meta, 4);
  out.set(envelope.ciphertext, 4 + metaLength);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function decodeStored(blob: Uint8Array): Delivery {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob[0] === WIRE_VERSION) {
    return { frame: blob.subarray(STORED_FRAME_OFFSET), storedAt: view.getUint32(1) * 2 ** 32 + view.getUint32(5) };
  }
  const metaLength = view.getUint32(0);
  const meta = JSON.parse(fromUtf8(blob.subarray(4, 4 + metaLength))) as { header: EnvelopeHeader; signature: string; storedAt: number };
  return {
    envelope: { header: meta.header, signature: meta.signature, ciphertext: blob.subarray(4 + metaLength) },
    storedAt: meta.storedAt,
  };
}

/** The envelope of a stored form, whichever version (the demo shows what the relay holds). */
export function storedEnvelope(blob: Uint8Array): WireEnvelope {
  return envelopeOfDelivery(decodeStored(blob));
}
