/**
 * The case commands: send a referral, read the inbox and a thread's
 * timeline, and act on a case. Each lives with its concern (read.ts,
 * refer.ts, actions.ts, return-path.ts, consent.ts); this file lists them
 * in the order `handover --help` shows them.
 */
import type { Command } from 'commander';
import { accessLogCommand } from './access-log';
import { acceptCommand, ackCommand, arrivedCommand, closeCommand, declineCommand, noShowCommand, noteCommand, scheduleCommand, withdrawCommand } from './actions';
import { withdrawConsentCommand } from './consent';
import { deliveryCommand, resendCommand } from './delivery';
import { exportCommand, inboxCommand, showCommand } from './read';
import { dueCommand } from './due';
import { addParticipantCommand, outboxCommand, provideInfoCommand, referCommand, requestInfoCommand } from './refer';
import { reportCommand } from './report';
import { returnStepCommand } from './return-path';
import { watchCommand } from './watch';

const CASE_COMMANDS: ReadonlyArray<(program: Command) => void> = [
  referCommand,
  outboxCommand,
  inboxCommand,
  dueCommand,
  watchCommand,
  showCommand,
  ackCommand,
  requestInfoCommand,
  provideInfoCommand,
  acceptCommand,
  declineCommand,
  scheduleCommand,
  arrivedCommand,
  noShowCommand,
  returnStepCommand,
  noteCommand,
  addParticipantCommand,
  withdrawCommand,
  closeCommand,
  withdrawConsentCommand,
  deliveryCommand,
  resendCommand,
  exportCommand,
  reportCommand,
  accessLogCommand,
];

export function registerCaseCommands(program: Command): void {
  program.addHelpText(
    'after',
    `
Working a case (each command signs in, syncs, acts and disconnects):
  handover refer referral.json                       # NGO: new thread, consent-checked
  handover inbox                                     # threads, states, OVERDUE flags
  handover show <threadId>                           # timeline: who did what, when
  handover ack <threadId>; handover accept <threadId> --bed-reserved
  handover schedule <threadId> --at 2026-11-29T10:00+03:00 --location "Consulate"
  handover arrived <threadId>
  handover return-step <threadId> --step risk-assessment --status done --decision go
  handover withdraw-consent <threadId> --given-by survivor --method verbal --recorded-by "Dana S."
  handover export --out cases.csv                    # HTCDS-shaped CSV of your org's cases
Every read command takes --json.`,
  );
  for (const register of CASE_COMMANDS) register(program);
}
