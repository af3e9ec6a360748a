/**
 * Work that must not interleave (read-modify-write of one vault record, a
 * thread derived while another message for it is ingested) runs one job
 * after another. Each job's outcome, error included, goes to its caller;
 * the queue only waits for it to settle before starting the next.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    const settled = () => undefined;
    // The next job starts once this one settled, whichever way; its error stays with the caller of run().
    this.tail = result.then(settled, settled);
    return result;
  }

  /** Resolves once every job queued so far has settled. */
  idle(): Promise<void> {
    return this.tail;
  }
}
