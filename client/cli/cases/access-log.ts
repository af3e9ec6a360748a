/**
 * `handover access-log`: who opened which case on this device (each
 * `show`, `export` and `report`), from the encrypted log in this profile,
 * for the org admin's audit — printed, as JSON, or as CSV with --out.
 * Threads are named by thread id only (see DECISIONS.md: the log keeps
 * purged threads' entries, without their case codes).
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { AccessLog, accessLogCsv } from '../../referral';
import { output } from '../context';
import { openDevice } from '../device/open';
import { globalOptions, run } from '../run';

export function accessLogCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('access-log')
    .description('who opened which case on this device (show, export, report), for the org admin; thread ids only')
    .option('--out <file>', 'write it as CSV to this file (created readable by you only)')
    .action(
      run(program, async (o: { out?: string }) => {
        const client = await openDevice(g(), false);
        const log = new AccessLog(client);
        // Exporting the log is itself logged: the export shows up in the next one.
        if (o.out) await log.record('access-log-export');
        const entries = await log.entries();
        const label = client.certificates.device?.label ?? '';
        if (o.out) {
          await fs.writeFile(o.out, accessLogCsv(entries, label), { mode: 0o600 });
          output(g(), { written: o.out, entries: entries.length }, `${entries.length} access log entries written to ${o.out}`);
          return;
        }
        output(g(), { deviceId: client.deviceId, label, entries }, () =>
          entries.length === 0
            ? 'Nothing has been opened on this device yet.'
            : entries
                .map((e) => `${new Date(e.at).toISOString().slice(0, 19).replace('T', ' ')}Z  ${e.deviceId}  ${e.action.padEnd(17)} ${e.threadIds.join(' ') || '-'}`)
                .join('\n'),
        );
      }),
    );
}
