/**
 * A relay clock for tests (`startRelay(config, { now })`): the wall clock
 * plus an offset the test moves forward, so a session, ticket, certificate
 * or retention period runs out — or a rate-limit window starts — without
 * the test waiting for it. Everything else (timers, clients, Redis) keeps
 * real time.
 */
export class TestClock {
  private offset = 0;

  readonly now = (): number => Date.now() + this.offset;

  advance(ms: number): void {
    this.offset += ms;
  }

  /** Move the clock just past `time` (ms since the epoch); never backwards. */
  passTime(time: number, byMs = 1): void {
    this.offset += Math.max(0, time + byMs - this.now());
  }

  /** Move to just after the start of the next fixed window (rate limits count in fixed windows from the epoch). */
  startNextWindow(windowMs = 60_000): void {
    this.offset += windowMs - (this.now() % windowMs) + 1;
  }
}
