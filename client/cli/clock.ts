/**
 * Clock errors on the command line: a certificate "not valid yet" or a send
 * the relay refused as stamped in its future is turned into "your clock is
 * N minutes ahead/behind" (measured against the relay's clock) instead of
 * reaching people as a key problem with a hint about fingerprints.
 */
import { explainClockError, isClockError, relayClockOffset } from '../sdk';

/** `err` rephrased when it is a clock error (asking the relay at `baseUrl` for its time), else unchanged. */
export async function explainClock(err: unknown, baseUrl: string): Promise<unknown> {
  if (!isClockError(err)) return err;
  return explainClockError(err, await relayClockOffset(baseUrl));
}

/** Run `work`; a clock error it throws comes out in words (see explainClock). */
export async function clockAware<T>(baseUrl: () => string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw await explainClock(err, baseUrl());
  }
}
