/**
 * What became of what this device sent: per message and per recipient
 * org, stored by the relay, delivered to n of m devices, expired
 * undelivered, opened (signed read receipts, when the recipient org sends
 * them) — and `resend`, which forwards what expired, as signed by its
 * author, to the devices it did not reach (issue 13).
 */
import type { Command } from 'commander';
import { type DeliveryEntry, byOrg } from '../../sdk';
import { output } from '../context';
import { globalOptions, run } from '../run';
import { withCases } from './session';
import { iso } from './text';

/** One line per recipient org, e.g. "shelter-ist delivered 2/2; iom-ist EXPIRED undelivered on 1 of 1". */
export function deliveryLine(e: DeliveryEntry): string {
  const orgs = byOrg(e).map((o) => {
    if (o.expired > 0) return `${o.orgId} EXPIRED undelivered on ${o.expired} of ${o.devices}${o.delivered ? `, delivered ${o.delivered}` : ''}`;
    return `${o.orgId} delivered ${o.delivered}/${o.devices}${o.openedAt !== undefined ? `, opened ${iso(o.openedAt)}` : ''}`;
  });
  const stored = e.storedAt ? `stored by the relay ${iso(e.storedAt)}` : 'sent';
  return `  ${e.messageId} ${iso(e.sentAt)}: ${stored}; ${orgs.join('; ')}`;
}

/** A thread's one-line delivery summary for `show` (empty when nothing tracked). */
export function deliverySummary(entries: readonly DeliveryEntry[]): string {
  if (entries.length === 0) return '';
  const expired = entries.filter((e) => e.expired.length > 0).length;
  const pending = entries.filter((e) => e.delivered.length + e.expired.length < e.recipients.length).length;
  const parts = [`${entries.length} sent by this device`];
  if (pending > 0) parts.push(`${pending} not delivered to every device yet`);
  if (expired > 0) parts.push(`${expired} EXPIRED undelivered somewhere — \`handover resend <threadId>\` sends them again`);
  return `  delivery: ${parts.join(', ')} (details: handover delivery <threadId>)`;
}

export function deliveryCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('delivery')
    .description('what became of what this device sent in a thread: stored by the relay, delivered to n of m devices per org, expired undelivered')
    .argument('<threadId>')
    .action(
      run(program, async (threadId: string) => {
        await withCases(g(), async (_cases, client) => {
          const entries = await client.deliveryState(threadId);
          output(g(), { threadId, messages: entries.map((e) => ({ ...e, byOrg: byOrg(e) })) }, () =>
            entries.length === 0 ? `This device sent nothing it still tracks in thread ${threadId}.` : entries.map(deliveryLine).join('\n'),
          );
        });
      }),
    );
}

export function resendCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('resend')
    .description('send again what expired undelivered in a thread (forwarded as signed by its author, to the orgs it did not reach)')
    .argument('<threadId>')
    .action(
      run(program, async (threadId: string) => {
        await withCases(g(), async (_cases, client) => {
          const forwarded = await client.resendExpired(threadId);
          output(g(), { threadId, forwarded }, forwarded === 0 ? 'Nothing in this thread expired undelivered.' : `${forwarded} message(s) sent again.`);
        });
      }),
    );
}
