/**
 * Accepting an envelope: every check the relay can make without secrets,
 * then one idempotent write to every recipient inbox. The send is
 * acknowledged only after that write.
 */
import { MAX_CLOCK_SKEW_MS, parseEnvelope, fromUtf8, HandoverError, type EnvelopeHeader, type SealedEnvelope, type Delivery } from '../../shared';
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
    this.precheck(value);
    const envelope = parseEnvelope(value);
    const { header } = envelope;
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
      this.checkDeviceSet(header, sender.device.orgId),
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
    if (result.status === 'duplicate') {
      // Only the signed-in sender can get here (the signature and sender
      // check above). The very same signed header: its own retry after a
      // lost ack, so the send did succeed. Another header under an id
      // already taken: refused, and nothing says it was accepted.
      if (result.sameEnvelope) {
        throw new HandoverError('REPLAY', `message ${header.messageId} was already accepted`, { messageId: header.messageId, alreadyAccepted: true });
      }
      throw new HandoverError('REPLAY', `message id ${header.messageId} is already taken by another envelope; seal the message again under a new id`, {
        messageId: header.messageId,
      });
    }
    if (result.status === 'inbox_full') {
      throw new HandoverError('UNAVAILABLE', 'a recipient inbox is full; nothing was stored, try later', { deviceIds: result.deviceIds });
    }
    const delivery: Delivery = { envelope: { header, signature: envelope.signature, ciphertext: envelope.ciphertext }, storedAt };
    return { messageId: header.messageId, storedAt, senderDeviceId: header.senderDeviceId, recipientDeviceIds, blob, delivery };
  }

  /**
   * The recipient list must be exactly the active devices of every org it
   * addresses, plus the sender's own other devices: no shelter device is
   * ever silently skipped, and no revoked or unknown device gets a copy.
   */
  private async checkDeviceSet(header: EnvelopeHeader, senderOrgId: string): Promise<void> {
    const listed = header.recipients.map((r) => r.deviceId);
    // The cached device lists decide quickly when they match; a mismatch is
    // confirmed against the store first (the cache may predate a registration).
    let result = await this.compareDeviceSet(listed, header.senderDeviceId, senderOrgId, false);
    if (result.missing.length > 0 || result.stale.length > 0) result = await this.compareDeviceSet(listed, header.senderDeviceId, senderOrgId, true);
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
 * Stored form of an envelope: 4-byte big-endian length, then JSON of the
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
  const metaLength = view.getUint32(0);
  const meta = JSON.parse(fromUtf8(blob.subarray(4, 4 + metaLength))) as { header: EnvelopeHeader; signature: string; storedAt: number };
  return {
    envelope: { header: meta.header, signature: meta.signature, ciphertext: blob.subarray(4 + metaLength) },
    storedAt: meta.storedAt,
  };
}
