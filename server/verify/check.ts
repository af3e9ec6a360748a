/**
 * The checks a verifier (inline or on a thread) runs on an envelope: the
 * sender's signature over the canonical header and the ciphertext against
 * its signed hash. It also returns the hash of the header's signing input:
 * the relay keeps it with the replay memory of the message id, so a retry
 * of the very same envelope can be told from another envelope reusing the
 * id. The signing input is built once for both.
 */
import { type Crypto, fromB64u, toB64u, checkEnvelopeIntegrity, envelopeSigningInput, HandoverError, type SealedEnvelope } from '../../shared';

/** Resolves to the header hash (base64url, 32 bytes) when the envelope is good; throws the typed refusal otherwise. */
export function checkEnvelope(crypto: Crypto, envelope: SealedEnvelope, signPublicKey: Uint8Array): string {
  const { header } = envelope;
  const input = envelopeSigningInput(header);
  let signature: Uint8Array;
  try {
    signature = fromB64u(envelope.signature);
  } catch {
    throw new HandoverError('BAD_SIGNATURE', 'envelope signature is not valid base64url');
  }
  if (!crypto.verify(signature, input, signPublicKey)) {
    throw new HandoverError('BAD_SIGNATURE', `envelope ${header.messageId} is not signed by device ${header.senderDeviceId}`);
  }
  checkEnvelopeIntegrity(crypto, envelope);
  return toB64u(crypto.hash(input, 32));
}
