/**
 * The checks a verifier (inline or on a thread) runs on an envelope: the
 * sender's signature over the canonical header and the ciphertext against
 * its signed hash. It also returns the hash of the header's signing input:
 * the relay keeps it with the replay memory of the message id, so a retry
 * of the very same envelope can be told from another envelope reusing the
 * id. The signing input is built once for both, and its canonical JSON of
 * the header is handed back too: the relay stores the header in that form
 * instead of encoding it to JSON a second time.
 */
import {
  type Crypto,
  type FrameView,
  fromB64u,
  toB64u,
  canonicalJson,
  checkEnvelopeIntegrity,
  DOMAIN,
  HandoverError,
  type SealedEnvelope,
  signingInputOfCanonical,
  verifyFrame,
} from '../../shared';

export interface CheckedEnvelope {
  /** Hash of the header's signing input (base64url, 32 bytes). */
  headerHash: string;
  /** The header's canonical JSON (what was signed, after the domain label). */
  headerJson: string;
}

/** The header hash and canonical JSON when the envelope is good; throws the typed refusal otherwise. */
export function checkEnvelope(crypto: Crypto, envelope: SealedEnvelope, signPublicKey: Uint8Array): CheckedEnvelope {
  const { header } = envelope;
  const headerJson = canonicalJson(header);
  const input = signingInputOfCanonical(DOMAIN.envelope, headerJson);
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
  return { headerHash: toB64u(crypto.hash(input, 32)), headerJson };
}

/**
 * Version 2: the signature over the header bytes as received, the
 * ciphertext hashed where it lies in the frame (`verifyFrame`), and the hash
 * of the signing input for the replay memory. Nothing is re-encoded.
 */
export function checkFrame(crypto: Crypto, frame: FrameView, signPublicKey: Uint8Array): { headerHash: string } {
  const input = verifyFrame(crypto, frame, signPublicKey);
  return { headerHash: toB64u(crypto.hash(input, 32)) };
}
