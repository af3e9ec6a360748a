/**
 * `handover due`: what is overdue or due soon in this device's cases — the
 * receiving org's first response within the priority's window, scheduled
 * intakes, dated return steps — in the user's time zone, so deadlines do
 * not depend on someone happening to read the inbox.
 */
import type { Command } from 'commander';
import type { DueItem } from '../../referral';
import { output } from '../context';
import { globalOptions, run } from '../run';
import { localTime, localZone, parseDuration, span, untilText } from './local-time';
import { withCases } from './session';

export const DUE_WINDOW_DEFAULT = '24h';

/** One line of `due`: flag, thread, case code, priority, what, when. */
export function dueLine(item: DueItem, now: number): string {
  const flag = item.overdue ? 'OVERDUE' : 'due    ';
  const who = item.mine ? '' : '  (waiting for another org)';
  return `${flag}  ${item.threadId}  ${(item.caseCode ?? '-').padEnd(15)} ${(item.priority ?? '-').padEnd(9)} ${item.what}\n         ${localTime(item.dueAt)} (${untilText(item.dueAt, now)})${who}`;
}

export function dueCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('due')
    .description('overdue and soon-due items of your cases: first responses, intakes, return steps (times in your time zone)')
    .option('--within <duration>', 'also list what falls due within this long, e.g. 24h, 3d', DUE_WINDOW_DEFAULT)
    .addHelpText(
      'after',
      `
Deadlines: the receiving org's first response (acknowledge, request info,
accept or decline) within 24 h (emergency), 72 h (urgent) or 14 days
(normal); a scheduled intake until arrival or no-show is recorded; return
steps with a date until they are done. Times are shown in your time zone
(set TZ to choose another). Keep an eye on them as they happen with
  handover watch`,
    )
    .action(
      run(program, async (o: { within: string }) => {
        const windowMs = parseDuration(o.within, '--within');
        await withCases(g(), async (cases) => {
          const items = await cases.reminders({ windowMs });
          const now = Date.now();
          output(g(), { now, windowMs, timeZone: localZone(), items }, () => {
            if (items.length === 0) return `Nothing overdue or due within ${span(windowMs)}.`;
            const overdue = items.filter((i) => i.overdue).length;
            const head = `${overdue} overdue, ${items.length - overdue} due within ${span(windowMs)} (times in ${localZone()}):`;
            return [head, ...items.map((i) => dueLine(i, now))].join('\n');
          });
        });
      }),
    );
}
