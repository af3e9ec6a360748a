/**
 * The one replay order every client agrees on.
 *
 * Topological by `prev`: an event always comes after every event its author
 * had seen, so nobody can place an event before something it answers.
 * Events that are concurrent (neither saw the other) are ordered by the
 * author's `at`, then by their hash `id`. The hash makes ties a fair,
 * unforgeable coin flip; `at` keeps the timeline readable. A device can
 * claim an early `at` to win a tie only against events it had not seen.
 *
 * The result depends only on the set of events, never on the order the
 * caller passes them in. A `prev` that names an event we do not hold is
 * ignored for ordering and reported in `missingPrev`.
 */
import type { ThreadEvent } from './schemas';

export interface OrderedEvents {
  ordered: ThreadEvent[];
  /** Hashes referenced by some `prev` but absent from the set, sorted. */
  missingPrev: string[];
  /** Hashes no other event references: the `prev` of the next event, sorted. */
  heads: string[];
}

function comesFirst(a: ThreadEvent, b: ThreadEvent): boolean {
  if (a.event.at !== b.event.at) return a.event.at < b.event.at;
  return a.id < b.id;
}

/** Index of the earliest event among `candidates` by (at, id). */
function earliest(candidates: readonly ThreadEvent[]): number {
  let best = 0;
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[i];
    const b = candidates[best];
    if (c && b && comesFirst(c, b)) best = i;
  }
  return best;
}

export function orderEvents(events: readonly ThreadEvent[]): OrderedEvents {
  // Equal ids are equal events (the id is the event's hash): keep one.
  const byId = new Map<string, ThreadEvent>();
  for (const e of events) if (!byId.has(e.id)) byId.set(e.id, e);

  const waitingOn = new Map<string, number>();
  const children = new Map<string, string[]>();
  const referenced = new Set<string>();
  const missing = new Set<string>();
  for (const e of byId.values()) {
    let count = 0;
    for (const parent of e.event.prev) {
      referenced.add(parent);
      if (parent === e.id) continue;
      if (!byId.has(parent)) {
        missing.add(parent);
        continue;
      }
      count++;
      const list = children.get(parent) ?? [];
      list.push(e.id);
      children.set(parent, list);
    }
    waitingOn.set(e.id, count);
  }

  const ordered: ThreadEvent[] = [];
  const done = new Set<string>();
  let ready = [...byId.values()].filter((e) => waitingOn.get(e.id) === 0);
  // A linear scan per step is O(n²); a thread holds tens to hundreds of events.
  while (ordered.length < byId.size) {
    if (ready.length === 0) {
      // Only a hash cycle (impossible with a sound hash, possible with forged
      // ids) gets here: break it deterministically with the earliest event left.
      const left = [...byId.values()].filter((e) => !done.has(e.id));
      ready = [left[earliest(left)] as ThreadEvent];
    }
    const next = ready.splice(earliest(ready), 1)[0] as ThreadEvent;
    if (done.has(next.id)) continue;
    done.add(next.id);
    ordered.push(next);
    for (const childId of children.get(next.id) ?? []) {
      const left = (waitingOn.get(childId) ?? 0) - 1;
      waitingOn.set(childId, left);
      const child = byId.get(childId);
      if (left === 0 && child && !done.has(childId)) ready.push(child);
    }
  }

  const heads = [...byId.keys()].filter((id) => !referenced.has(id)).sort();
  return { ordered, missingPrev: [...missing].sort(), heads };
}
