/**
 * The steps of a referral after it is sent: the receiving org acknowledges,
 * accepts or declines, schedules the intake and records the arrival;
 * anyone in the thread adds notes; the sender withdraws; sender or
 * receiver closes. Each sends one signed event and prints the new state.
 */
import { type Command, Option } from 'commander';
import { DECLINE_REASONS, WITHDRAW_REASONS } from '../../referral';
import { globalOptions, run } from '../run';
import { TIME_HELP, given, parseTime } from './options';
import { sendAndReport } from './session';

export function ackCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('ack')
    .description('receiving org: acknowledge a referral (stops the response clock)')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .option('--decision-by <time>', `when you expect to decide (${TIME_HELP})`)
    .action(
      run(program, async (threadId: string, o: { note?: string; decisionBy?: string }) => {
        const expectedDecisionBy = o.decisionBy ? parseTime(o.decisionBy, '--decision-by') : undefined;
        await sendAndReport(g(), (cases) => cases.acknowledge(threadId, given({ note: o.note, expectedDecisionBy })));
      }),
    );
}

export function acceptCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('accept')
    .description('receiving org: accept the referral (the first accept wins if two colleagues act at once)')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .option('--bed-reserved', 'a bed is reserved')
    .action(
      run(program, async (threadId: string, o: { note?: string; bedReserved?: boolean }) => {
        await sendAndReport(g(), (cases) => cases.accept(threadId, given({ note: o.note, bedReserved: o.bedReserved })));
      }),
    );
}

export function declineCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('decline')
    .description('receiving org: decline the referral with a reason code')
    .argument('<threadId>')
    .addOption(new Option('--reason <code>', 'why').choices(DECLINE_REASONS).makeOptionMandatory())
    .option('--details <text>', 'explanation (required with --reason other)')
    .option('--suggest-org <orgId>', 'an org that may be able to help instead')
    .action(
      run(program, async (threadId: string, o: { reason: (typeof DECLINE_REASONS)[number]; details?: string; suggestOrg?: string }) => {
        await sendAndReport(g(), (cases) => cases.decline(threadId, { reasonCode: o.reason, ...given({ details: o.details, suggestedOrgId: o.suggestOrg }) }));
      }),
    );
}

export function scheduleCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('schedule')
    .description('receiving org: schedule the intake (after accepting); again to reschedule')
    .argument('<threadId>')
    .requiredOption('--at <time>', `when (${TIME_HELP})`)
    .option('--location <text>', 'where to meet')
    .option('--transport <text>', 'how the survivor gets there')
    .option('--note <text>', 'a short note to the thread')
    .action(
      run(program, async (threadId: string, o: { at: string; location?: string; transport?: string; note?: string }) => {
        const scheduledFor = parseTime(o.at, '--at');
        await sendAndReport(g(), (cases) => cases.scheduleIntake(threadId, { scheduledFor, ...given({ location: o.location, transport: o.transport, note: o.note }) }));
      }),
    );
}

export function arrivedCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('arrived')
    .description('receiving org: the survivor has arrived')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .action(
      run(program, async (threadId: string, o: { note?: string }) => {
        await sendAndReport(g(), (cases) => cases.arrived(threadId, given({ note: o.note })));
      }),
    );
}

export function noShowCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('no-show')
    .description('receiving org: the survivor did not come to the scheduled intake')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .action(
      run(program, async (threadId: string, o: { note?: string }) => {
        await sendAndReport(g(), (cases) => cases.noShow(threadId, given({ note: o.note })));
      }),
    );
}

export function noteCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('note')
    .description('add a note to the thread (every participant sees it; keep survivor details to what they need)')
    .argument('<threadId>')
    .argument('<text...>', 'the note')
    .action(
      run(program, async (threadId: string, text: string[]) => {
        await sendAndReport(g(), (cases) => cases.note(threadId, text.join(' ')));
      }),
    );
}

export function withdrawCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('withdraw')
    .description('sender: withdraw the referral')
    .argument('<threadId>')
    .addOption(new Option('--reason <code>', 'why').choices(WITHDRAW_REASONS).makeOptionMandatory())
    .option('--details <text>', 'explanation')
    .action(
      run(program, async (threadId: string, o: { reason: (typeof WITHDRAW_REASONS)[number]; details?: string }) => {
        await sendAndReport(g(), (cases) => cases.withdraw(threadId, { reasonCode: o.reason, ...given({ details: o.details }) }));
      }),
    );
}

export function closeCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('close')
    .description('sender or receiving org: close the case')
    .argument('<threadId>')
    .requiredOption('--reason <text>', 'reason for closing (HTCDS cas_ReasonForCaseClosure)')
    .action(
      run(program, async (threadId: string, o: { reason: string }) => {
        await sendAndReport(g(), (cases) => cases.close(threadId, o.reason));
      }),
    );
}
