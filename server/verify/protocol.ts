/** Messages between the relay and its verification threads. */
import type { ErrorCode, EnvelopeHeader } from '../../shared';

export type VerifyRequest =
  | {
      id: number;
      header: EnvelopeHeader;
      signature: string;
      ciphertext: Uint8Array;
      signPublicKey: Uint8Array;
    }
  /** Version 2: the frame as received; the thread reads it again (cheap) and checks it. */
  | { id: number; frame: Uint8Array; signPublicKey: Uint8Array };

export type VerifyReply = { id: number; ok: true; headerHash: string; headerJson?: string } | { id: number; ok: false; code: ErrorCode; message: string };
