/**
 * The read commands — `inbox`, `show`, `export` — which change nothing in a
 * case. Messages that could not be opened are listed, never hidden.
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { HandoverError } from '../../sdk';
import { output } from '../context';
import { globalOptions, run } from '../run';
import { withCases } from './session';
import { deliverySummary } from './delivery';
import { failedLine, inboxLine, threadText } from './text';

export function inboxCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('inbox')
    .description("this org's case threads: state, priority, overdue responses, and counts of security warnings, refused events and dropped messages")
    .action(
      run(program, async () => {
        await withCases(g(), async (cases, client) => {
          const threads = await cases.listThreads();
          // Envelopes that could not be opened are shown, never hidden (ids and reasons only).
          const failed = await client.failedMessages();
          const expired = new Set((await client.deliveryState()).filter((e) => e.expired.length > 0).map((e) => e.threadId));
          const receiving = (await client.historyProgress()).filter((p) => p.received < p.total);
          output(g(), { threads, couldNotOpen: failed, expiredUndelivered: [...expired], receivingHistory: receiving }, () => {
            const lines = threads.length === 0 ? ['No case threads.'] : threads.map((t) => inboxLine(t) + (expired.has(t.threadId) ? '  (something EXPIRED undelivered: handover resend)' : ''));
            for (const p of receiving) lines.push(`receiving history from ${p.fromDeviceId}: ${p.received} of ${p.total}`);
            if (failed.length > 0) lines.push('', `COULD NOT OPEN ${failed.length} message(s):`, ...failed.map(failedLine));
            return lines.join('\n');
          });
        });
      }),
    );
}

export function showCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('show')
    .description("a thread's state and timeline (who did what, when, from which device), with refused events, dropped messages and security warnings")
    .argument('<threadId>', 'the thread id (from `handover inbox`)')
    .option('--referral', 'also print the referral itself (survivor data: only on a screen others cannot see)')
    .action(
      run(program, async (threadId: string, o: { referral?: boolean }) => {
        await withCases(g(), async (cases, client) => {
          const t = await cases.thread(threadId);
          const delivery = await client.deliveryState(threadId);
          if (!t.purged && t.timeline.length === 0 && t.rejected.length === 0 && t.dropped.length === 0 && t.securityWarnings.length === 0) {
            throw new HandoverError('NOT_FOUND', `this device holds no thread ${threadId}`);
          }
          const summary = deliverySummary(delivery);
          output(g(), { ...t, delivery }, () => threadText(t) + (summary ? `\n${summary}` : '') + (o.referral && t.referral ? `\n  referral:\n${JSON.stringify(t.referral, null, 2)}` : ''));
        });
      }),
    );
}

export function exportCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('export')
    .description("export this org's case threads as HTCDS-shaped CSV (withdrawn consent: left out)")
    .option('--out <file>', 'write to this file (created readable by you only) instead of stdout')
    .action(
      run(program, async (o: { out?: string }) => {
        await withCases(g(), async (cases) => {
          const csv = await cases.exportCsv();
          const rows = csv.split('\r\n').filter(Boolean).length - 1;
          if (o.out) {
            await fs.writeFile(o.out, csv, { mode: 0o600 });
            output(g(), { written: o.out, rows }, `${rows} case(s) written to ${o.out}`);
          } else if (g().json) {
            output(g(), { rows, csv }, csv);
          } else {
            process.stdout.write(csv);
          }
        });
      }),
    );
}
