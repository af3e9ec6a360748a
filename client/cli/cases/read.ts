/**
 * The read commands — `inbox`, `show`, `export` — which change nothing in a
 * case. Messages that could not be opened are listed, never hidden; so are
 * certificates about to expire (one line each). Each `show` and `export`
 * is written to this device's access log (thread ids only) before anything
 * is printed.
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { AccessLog, type CaseService } from '../../referral';
import { HandoverError } from '../../sdk';
import { output, progress } from '../context';
import { certificateWarnings } from '../device/certificates';
import { globalOptions, run } from '../run';
import { withCases } from './session';
import { deliverySummary } from './delivery';
import { failedLine, inboxLine, threadText } from './text';

/** The threads `exportCsv` writes (not purged, with a referral, this org taking part): what the access log records. */
async function exportedThreadIds(cases: CaseService): Promise<string[]> {
  return (await cases.listThreads()).filter((t) => !t.purged && t.caseCode !== null && t.role !== null).map((t) => t.threadId);
}

export function inboxCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('inbox')
    .description("this org's case threads: state, priority, overdue responses, counts of security warnings, refused events and dropped messages; certificates about to expire")
    .action(
      run(program, async () => {
        await withCases(g(), async (cases, client) => {
          const threads = await cases.listThreads();
          // Envelopes that could not be opened are shown, never hidden (ids and reasons only).
          const failed = await client.failedMessages();
          const expired = new Set((await client.deliveryState()).filter((e) => e.expired.length > 0).map((e) => e.threadId));
          const receiving = (await client.historyProgress()).filter((p) => p.received < p.total);
          const warnings = certificateWarnings(client);
          output(g(), { threads, couldNotOpen: failed, expiredUndelivered: [...expired], receivingHistory: receiving, certificateWarnings: warnings }, () => {
            const lines = [...warnings, ...(threads.length === 0 ? ['No case threads.'] : threads.map((t) => inboxLine(t) + (expired.has(t.threadId) ? '  (something EXPIRED undelivered: handover resend)' : '')))];
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
          // --json prints the referral too, as --referral does on screen.
          await new AccessLog(client).record(o.referral || g().json ? 'show-referral' : 'show', [threadId]);
          // Reading is what a receipt reports: sent only when this org turned receipts on and the relay is reachable (else next time).
          if (client.online) {
            await client.markRead(threadId).catch((err: unknown) => progress(`read receipt not sent (${err instanceof Error ? err.message : String(err)}); it is sent the next time you open this thread`));
          }
          const warnings = certificateWarnings(client);
          const summary = deliverySummary(delivery);
          output(g(), { ...t, delivery, certificateWarnings: warnings }, () =>
            [...warnings, threadText(t) + (summary ? `\n${summary}` : '') + (o.referral && t.referral ? `\n  referral:\n${JSON.stringify(t.referral, null, 2)}` : '')].join('\n'),
          );
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
        await withCases(g(), async (cases, client) => {
          const csv = await cases.exportCsv();
          const rows = csv.split('\r\n').filter(Boolean).length - 1;
          await new AccessLog(client).record('export', await exportedThreadIds(cases));
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
