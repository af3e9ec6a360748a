/**
 * Size buckets hide a message's exact length from the relay: powers of two
 * from 1 KiB to 64 KiB, then multiples of 64 KiB (PROTOCOL.md §4).
 */
export const MIN_BUCKET = 1024;
export const LINEAR_STEP = 64 * 1024;
/** Largest body a client will seal (attachments are separate messages). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The padded size for a body of `length` bytes (padding needs at least one byte). */
export function bucketFor(length: number): number {
  const needed = length + 1;
  if (needed <= LINEAR_STEP) {
    let bucket = MIN_BUCKET;
    while (bucket < needed) bucket *= 2;
    return bucket;
  }
  return Math.ceil(needed / LINEAR_STEP) * LINEAR_STEP;
}

export function isBucket(size: number): boolean {
  return Number.isInteger(size) && size >= MIN_BUCKET && bucketFor(size - 1) === size;
}
