/**
 * Processes a run will need later, started early and together: a relay
 * process takes about a second of CPU to start, and starting them side by
 * side (and signing envelopes meanwhile) uses both cores. Measured work
 * must wait for `prestarted()`, so no start-up overlaps a timed window.
 */
const tasks: Array<Promise<unknown>> = [];

/** Register a start-up; its failure is reported by whoever awaits the returned promise. */
export function prestart<T>(task: Promise<T>): Promise<T> {
  task.catch(() => undefined);
  tasks.push(task);
  return task;
}

/** Resolves once every start-up registered so far has finished (or failed). */
export async function prestarted(): Promise<void> {
  await Promise.allSettled(tasks);
}
