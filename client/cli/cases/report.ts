/**
 * `handover report`: anonymous aggregate counts of this org's referrals on
 * this device, for donors — by month, role, partner org type and state,
 * and the time to a first response and to acceptance. No names, case
 * codes, thread ids or free text; counts below 5 show as "<5". As text,
 * JSON (--json) or CSV (--csv).
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { AccessLog, type CaseReport, REPORT_MIN_CELL, type ReportCell, type TimingSummary, buildCaseReport, reportCsv } from '../../referral';
import { HandoverError } from '../../sdk';
import { output } from '../context';
import { globalOptions, intOption, run } from '../run';
import { withCases } from './session';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

function monthOption(value: string | undefined, name: string): string | undefined {
  if (value !== undefined && !MONTH.test(value)) throw new HandoverError('BAD_REQUEST', `${name} must be a month, YYYY-MM (e.g. 2026-01)`);
  return value;
}

function cellText(v: ReportCell): string {
  return v === 'masked' ? '(masked)' : String(v);
}

function cellsText(cells: Record<string, ReportCell>): string {
  const entries = Object.entries(cells);
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}: ${cellText(v)}`).join('   ');
}

function timingText(t: TimingSummary): string {
  if (t.medianHours === null) return `${cellText(t.threads)} thread(s): too few to show a median`;
  return `${cellText(t.threads)} threads, median ${t.medianHours} h, 90th percentile ${t.p90Hours} h`;
}

export function reportText(r: CaseReport): string {
  const period = r.period.from || r.period.to ? ` for ${r.period.from ?? '…'} to ${r.period.to ?? '…'}` : '';
  return [
    `Aggregate referral report of ${r.orgId}${period} (made ${r.generatedOn}; months in UTC)`,
    `No names, case codes, thread ids or free text. Counts below ${r.minCell} show as "<${r.minCell}"; "(masked)" hides a count that would reveal one.`,
    '',
    `Referrals:                      ${cellText(r.referrals)}`,
    `By month:                       ${cellsText(r.byMonth)}`,
    `By our role:                    ${cellsText(r.byRole)}`,
    `By partner org type:            ${cellsText(r.byPartnerOrgType)}   (a referral counts once per partner type)`,
    `By state:                       ${cellsText(r.byState)}`,
    `Consent withdrawn (purged):     ${cellText(r.consentWithdrawn)}`,
    `Time to first response:         ${timingText(r.timeToAcknowledge)}`,
    `Time to acceptance:             ${timingText(r.timeToAccept)}`,
  ].join('\n');
}

interface ReportCommandOptions {
  from?: string;
  to?: string;
  csv?: boolean;
  out?: string;
  minCell: string;
}

export function reportCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('report')
    .description(`anonymous aggregate counts for donors: referrals by month, role, partner org type and state, response and acceptance times; counts below ${REPORT_MIN_CELL} suppressed`)
    .option('--from <YYYY-MM>', 'first month to count (by the month the referral was made, UTC)')
    .option('--to <YYYY-MM>', 'last month to count')
    .option('--csv', 'CSV (measure,group,value) instead of text')
    .option('--out <file>', 'write it to this file (created readable by you only) instead of printing it')
    .option('--min-cell <n>', `smallest count shown exactly (at least ${REPORT_MIN_CELL})`, String(REPORT_MIN_CELL))
    .action(
      run(program, async (o: ReportCommandOptions) => {
        const minCell = intOption(o.minCell, '--min-cell');
        if (minCell < REPORT_MIN_CELL) throw new HandoverError('BAD_REQUEST', `--min-cell cannot be below ${REPORT_MIN_CELL}: smaller counts could identify a survivor`);
        const from = monthOption(o.from, '--from');
        const to = monthOption(o.to, '--to');
        await withCases(g(), async (cases, client) => {
          const report = await buildCaseReport(cases, { orgId: client.orgId, now: Date.now(), minCell, ...(from ? { from } : {}), ...(to ? { to } : {}) });
          await new AccessLog(client).record('report');
          const text = o.csv ? reportCsv(report) : g().json ? `${JSON.stringify(report, null, 2)}\n` : `${reportText(report)}\n`;
          if (o.out) {
            await fs.writeFile(o.out, text, { mode: 0o600 });
            output(g(), { written: o.out }, `Report written to ${o.out}`);
          } else if (o.csv) {
            process.stdout.write(text);
          } else {
            output(g(), report, () => reportText(report));
          }
        });
      }),
    );
}
