/** Messages between the relay and its verification threads. */
import type { ErrorCode, EnvelopeHeader } from '../../shared';

export interface VerifyRequest {
  id: number;
  header: EnvelopeHeader;
  signature: string;
  ciphertext: Uint8Array;
  signPublicKey: Uint8Array;
}

export type VerifyReply = { id: number; ok: true; headerHash: string; headerJson: string } | { id: number; ok: false; code: ErrorCode; message: string };
