/**
 * What of a thread's history an org added later may receive (PROTOCOL.md
 * §4.10): every event and supplement whose data groups the survivor's
 * consent lets that org's certified type see, as signed by their authors.
 * An event carrying a withheld group cannot be forwarded at all (it cannot
 * be redacted without breaking its author's signature), so the case layer
 * keeps withheld groups out of shared events (disclosure.ts) and this only
 * guards threads written before it did.
 */
import { fieldGroupsOf, withheldGroupsFor } from '../domain/consent';
import type { FieldGroup, OrgRef, ReferralBody } from '../domain/schemas';
import type { LoadedThread } from './thread-view';

export interface HistorySelection {
  /** The stored messages to forward, in thread order. */
  messageIds: string[];
  /** Messages left out, with why (shown to the person who added the org). */
  withheld: Array<{ messageId: string; groups: FieldGroup[] }>;
}

/** The messages of `loaded` that `org` may receive under `referral`'s consent. */
export function historyFor(loaded: LoadedThread, referral: ReferralBody, org: OrgRef): HistorySelection {
  const hidden = new Set(withheldGroupsFor(referral.consent, org));
  // A life-threatening risk is always shared.
  if (referral.riskSafety?.lifeThreatening) hidden.delete('riskSafety');
  const blocked = (groups: FieldGroup[]) => groups.filter((g) => hidden.has(g));
  const events = new Map(loaded.events.map((e) => [e.id, e.event]));
  const supplements = new Map(loaded.supplements.map((s) => [s.messageId, s.supplement]));
  const out: HistorySelection = { messageIds: [], withheld: [] };
  for (const route of loaded.routes) {
    let groups: FieldGroup[] = [];
    if (route.carries.kind === 'dropped') continue;
    if (route.carries.kind === 'event') {
      const event = events.get(route.carries.id);
      if (!event) continue;
      if (event.type === 'referral.create') groups = fieldGroupsOf(event.body);
      else if (event.type === 'referral.provide-info' && event.body.data) groups = fieldGroupsOf(event.body.data);
    } else {
      const supplement = supplements.get(route.messageId);
      if (!supplement) continue;
      groups = fieldGroupsOf(supplement.data);
    }
    const refused = blocked(groups);
    if (refused.length > 0) out.withheld.push({ messageId: route.messageId, groups: refused });
    else out.messageIds.push(route.messageId);
  }
  return out;
}
