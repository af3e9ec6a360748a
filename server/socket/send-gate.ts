/**
 * Backpressure for sends in one relay process. Above capacity, accepting
 * more only starves delivery of what was already accepted, so a send is
 * refused early (before any parsing or storage) and the SDK sends the same
 * envelope again after `retryAfterMs`.
 */
import type { RelayConfig } from '../config';

/** What a sender refused for backpressure is told to wait before sending again. */
export const BUSY_RETRY_MS = 250;

export class SendGate {
  private count = 0;
  private bytes = 0;

  constructor(private readonly limits: Pick<RelayConfig, 'maxConcurrentSends' | 'maxSendBufferBytes'>) {}

  /**
   * Admit a send of `bytes` ciphertext bytes and return its release, or
   * undefined when the process is at capacity. A lone send is always
   * admitted, however large (the envelope size cap bounds it).
   */
  tryEnter(bytes: number): (() => void) | undefined {
    if (this.count >= this.limits.maxConcurrentSends || (this.count > 0 && this.bytes + bytes > this.limits.maxSendBufferBytes)) return undefined;
    this.count++;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count--;
      this.bytes -= bytes;
    };
  }

  /** Sends under way (shutdown waits for them). */
  inFlight(): number {
    return this.count;
  }
}
