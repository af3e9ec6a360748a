/**
 * A Map whose entries lapse at a given time on the caller's clock (used by
 * the memory store for challenges, sessions, replay memory and rate-limit
 * windows). Lapsed entries read as absent and are swept out in amortised
 * O(1): a full sweep runs only when the map has doubled since the last one.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private sweepAtSize = 64;

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number, now: number): void {
    this.entries.set(key, { value, expiresAt });
    if (this.entries.size >= this.sweepAtSize) {
      this.sweep(now);
      this.sweepAtSize = Math.max(64, this.entries.size * 2);
    }
  }

  /** Returns the live value and removes the entry. */
  take(key: string, now: number): V | undefined {
    const value = this.get(key, now);
    this.entries.delete(key);
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
