/**
 * Sending: resolve the recipients of an action (every current device of the
 * thread's orgs and this device's own other devices, each relay answer bound
 * to the question and verified to the root under the pinned org key), seal
 * one envelope per message, and hand it to the relay until it is accepted.
 * The sending device keeps its own copy once the relay took it.
 */
import { MAX_CLOCK_SKEW_MS, sealEnvelope } from '../../shared/envelope';
import { type RecipientKeys, verifyBundle } from '../../shared/device-keys';
import type { DeviceKeys } from '../../shared/device-keys';
import type { Crypto } from '../../shared/crypto/types';
import { utf8 } from '../../shared/encoding';
import { HandoverError, isHandoverError } from '../../shared/errors';
import { relayErrorFrom } from '../../shared/relay-errors';
import { orgOfDeviceId } from '../../shared/schemas';
import type { WireEnvelope } from '../../shared/socket-events';
import type { ClientSocket } from './connection';
import type { MessageStore } from './message-store';
import { MessageBody, type StoredMessage } from './messages';
import type { RelayApi } from './relay-api';
import type { TrustStore } from './trust';

export interface SendInput {
  threadId: string;
  /** Participant orgs of the thread (the sender's own org is added automatically). */
  orgIds: string[];
  payload: unknown;
}

/** What sending needs from the device around it. */
export interface OutboundContext {
  crypto: Crypto;
  api: RelayApi;
  trust: TrustStore;
  messages: MessageStore;
  keys(): DeviceKeys;
  me(): { deviceId: string; orgId: string };
  socket(): ClientSocket | undefined;
  now(): number;
  /** Oldest signed or post-quantum prekey a sender accepts. */
  maxPrekeyAgeMs(): number;
  ackTimeoutMs: number;
}

export class Outbound {
  constructor(private readonly ctx: OutboundContext) {}

  /**
   * Every current device of the thread's orgs and our own other devices,
   * verified. Each relay answer is bound to the question (review finding 1):
   * the org certificate must be the org asked for, under the key this
   * device pinned for it, and every bundle a device of that org.
   */
  async recipientsFor(orgIds: readonly string[]): Promise<RecipientKeys[]> {
    const out: RecipientKeys[] = [];
    const now = this.ctx.now();
    for (const orgId of new Set([...orgIds, this.ctx.me().orgId])) {
      const answer = await this.ctx.api.bundles(orgId);
      if (answer.org.orgId !== orgId) {
        throw new HandoverError('UNTRUSTED_KEY', `the relay answered with org ${answer.org.orgId} when asked for ${orgId}; nothing was sent`);
      }
      const org = await this.ctx.trust.admitOrg(answer.org);
      const seen = new Set<string>();
      for (const bundle of answer.bundles) {
        const { deviceId } = bundle.certificate;
        if (bundle.certificate.orgId !== orgId || orgOfDeviceId(deviceId) !== orgId) {
          throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} among the devices of ${orgId}; nothing was sent`);
        }
        if (seen.has(deviceId)) throw new HandoverError('UNTRUSTED_KEY', `the relay listed device ${deviceId} twice; nothing was sent`);
        seen.add(deviceId);
        if (deviceId === this.ctx.me().deviceId) continue;
        out.push(
          verifyBundle(this.ctx.trust.anchor, org, bundle, {
            now,
            revocations: this.ctx.trust.revocationStatus(),
            maxPrekeyAgeMs: this.ctx.maxPrekeyAgeMs(),
            maxClockSkewMs: MAX_CLOCK_SKEW_MS,
          }),
        );
      }
    }
    return out;
  }

  /**
   * Send several messages of one action (a referral, its overrides and
   * supplements) in order, resolving the recipients once for all of them:
   * one bundle fetch per org per action, not per message. A one-time prekey
   * is used by the first envelope to its device only (the device deletes
   * its private half on first use); later ones rest on the signed prekey.
   */
  async sendAll(inputs: readonly SendInput[]): Promise<StoredMessage[]> {
    const own = this.ctx.me().orgId;
    const allOrgs = [...new Set([...inputs.flatMap((i) => i.orgIds), own])];
    let recipients = await this.recipientsFor(allOrgs);
    const oneTimeUsed = new Set<string>();
    const out: StoredMessage[] = [];
    for (const input of inputs) {
      const orgIds = [...new Set([...input.orgIds, own])];
      const body = utf8(JSON.stringify(MessageBody.parse({ v: 1, threadId: input.threadId, orgIds, payload: input.payload })));
      for (let attempt = 0; ; attempt++) {
        const mine = recipients
          .filter((r) => orgIds.includes(r.orgId))
          .map((r) => (oneTimeUsed.has(r.deviceId) ? withoutOneTimePrekey(r) : r));
        if (mine.length === 0) throw new HandoverError('BAD_REQUEST', 'no recipient device is registered in these orgs');
        const sentAt = this.ctx.now();
        const envelope = sealEnvelope(this.ctx.crypto, {
          sender: { deviceId: this.ctx.me().deviceId, signPrivateKey: this.ctx.keys().sign.privateKey, identity: this.ctx.keys().identity },
          recipients: mine,
          threadId: input.threadId,
          sentAt,
          body,
        });
        try {
          await this.emitSend(envelope);
        } catch (err) {
          if (isHandoverError(err, 'DEVICE_SET_MISMATCH') && attempt < 2) {
            recipients = await this.recipientsFor(allOrgs);
            oneTimeUsed.clear();
            continue;
          }
          throw err;
        }
        for (const r of mine) if (r.oneTimePrekey) oneTimeUsed.add(r.deviceId);
        const stored: StoredMessage = {
          messageId: envelope.header.messageId,
          threadId: input.threadId,
          orgIds,
          senderDeviceId: this.ctx.me().deviceId,
          senderOrgId: own,
          recipientDeviceIds: envelope.header.recipients.map((r) => r.deviceId),
          sentAt,
          receivedAt: sentAt,
          direction: 'out',
          payload: input.payload,
        };
        await this.ctx.messages.add(stored);
        out.push(stored);
        break;
      }
    }
    return out;
  }

  private async emitSend(envelope: WireEnvelope): Promise<void> {
    const socket = this.ctx.socket();
    if (!socket) throw new HandoverError('UNAVAILABLE', 'not connected: call connect() first');
    const timeout = this.ctx.ackTimeoutMs;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await socket.timeout(timeout).emitWithAck('envelope:send', envelope);
        if (res.ok) return;
        // Only the signed-in sender can hit its own message id again: an earlier
        // attempt was stored and its ack was lost, so the send did succeed.
        if (res.error.code === 'REPLAY' && res.error.details?.alreadyAccepted === true) return;
        if (res.error.code !== 'UNAVAILABLE') throw relayErrorFrom(res.error, 'the relay refused');
        // A busy relay says when to come back; otherwise back off.
        const retryAfterMs = Number(res.error.details?.retryAfterMs);
        if (Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
          await new Promise((r) => setTimeout(r, Math.min(retryAfterMs, 30_000) * (1 + Math.random() / 2)));
          continue;
        }
      } catch (err) {
        if (isHandoverError(err)) throw err;
        // No ack in time: the same envelope again is safe (idempotent by message id).
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw new HandoverError('UNAVAILABLE', 'the relay did not accept the message; it was not sent');
  }
}

function withoutOneTimePrekey(r: RecipientKeys): RecipientKeys {
  const { oneTimePrekey: _used, ...rest } = r;
  return rest;
}
