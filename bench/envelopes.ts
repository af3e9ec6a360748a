/**
 * Cheap unique envelopes for relay load runs. A real seal costs milliseconds
 * per recipient (X-Wing), and the relay refuses a message id it has seen,
 * so a run needs thousands of distinct envelopes. Seal one for real, then
 * give each copy a fresh message id and sentAt and sign its header again:
 * everything the relay checks (schema, sizes, sender signature, ciphertext
 * hash and bucket, recipient set, replay) holds, at the cost of one
 * Ed25519 signature. Recipients could NOT open these copies (the wrapped
 * keys are bound to the original message id), so use them only where
 * nothing decrypts, i.e. for relay throughput and latency.
 */
import { randomBytes } from 'node:crypto';
import type { Crypto } from '../shared/crypto/types';
import { toB64u } from '../shared/encoding';
import { envelopeSigningInput, signingInputV2 } from '../shared/envelope';
import { frameOfEnvelope, readFrame } from '../shared/envelope-wire';
import type { EnvelopeHeader, SealedEnvelope } from '../shared/schemas';

/** A copy ready to send: its message id, and what `envelope:send` carries (a version 2 frame, or a version 1 object). */
export interface BenchEnvelope {
  header: { messageId: string };
  wire: Uint8Array | SealedEnvelope;
}

export interface ResignOptions {
  /** sentAt for each copy; default `Date.now()` when the copy is made. */
  sentAt?: () => number;
}

/** Returns a function producing a new signed copy of `template` per call. */
export function resignedEnvelopes(
  crypto: Crypto,
  template: SealedEnvelope,
  senderSignPrivateKey: Uint8Array,
  opts: ResignOptions = {},
): () => BenchEnvelope {
  const sentAt = opts.sentAt ?? Date.now;
  // 16-byte ids: 8 random bytes per supply, then a counter (no libsodium randombytes: it is slow).
  const id = Buffer.alloc(16);
  randomBytes(8).copy(id, 0);
  let counter = 0n;
  if (template.header.v === 2) {
    // Version 2: the template's frame with the id and sentAt written in place and the header signed again.
    const frame = frameOfEnvelope(template);
    const headerLength = readFrame(frame).headerBytes.length;
    const sentAtAt = 5 + 1 + 16 + 16 + 1 + template.header.senderDeviceId.length;
    return () => {
      id.writeBigUInt64BE(counter++, 8);
      const out = Buffer.from(frame);
      out.set(id, 6);
      const t = sentAt();
      out.writeUInt32BE(Math.floor(t / 2 ** 32), sentAtAt);
      out.writeUInt32BE(t % 2 ** 32, sentAtAt + 4);
      out.set(crypto.sign(signingInputV2(out.subarray(5, 5 + headerLength)), senderSignPrivateKey), 5 + headerLength);
      return { header: { messageId: toB64u(id) }, wire: out };
    };
  }
  return () => {
    id.writeBigUInt64BE(counter++, 8);
    const header: EnvelopeHeader = { ...template.header, messageId: toB64u(id), sentAt: sentAt() };
    const signature = toB64u(crypto.sign(envelopeSigningInput(header), senderSignPrivateKey));
    const copy: SealedEnvelope = { header, signature, ciphertext: template.ciphertext };
    return { header: copy.header, wire: copy };
  };
}
