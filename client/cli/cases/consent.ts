/**
 * `handover withdraw-consent`: the survivor takes their consent back. It
 * cannot be undone: every participant deletes the thread and confirms with
 * a signed purge receipt.
 */
import { type Command, Option } from 'commander';
import { CONSENT_GIVERS, CONSENT_METHODS } from '../../referral';
import { globalOptions, run } from '../run';
import { given } from './options';
import { sendAndReport } from './session';

interface WithdrawConsentOptions {
  givenBy: (typeof CONSENT_GIVERS)[number];
  method: (typeof CONSENT_METHODS)[number];
  recordedBy: string;
  note?: string;
}

export function withdrawConsentCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('withdraw-consent')
    .description("sender or receiving org: record the survivor's withdrawal of consent; every participant deletes the thread and confirms")
    .argument('<threadId>')
    .addOption(new Option('--given-by <who>', 'who withdrew it').choices(CONSENT_GIVERS).makeOptionMandatory())
    .addOption(new Option('--method <how>', 'how').choices(CONSENT_METHODS).makeOptionMandatory())
    .requiredOption('--recorded-by <name>', 'the caseworker recording it')
    .option('--note <text>', 'a short note (deleted with the thread)')
    .addHelpText(
      'after',
      `
This cannot be undone. This device deletes the thread at once and keeps
only a tombstone (ids and purge receipts). Check who has confirmed with
  handover show <threadId>`,
    )
    .action(
      run(program, async (threadId: string, o: WithdrawConsentOptions) => {
        await sendAndReport(g(), (cases) =>
          cases.withdrawConsent(threadId, { givenBy: o.givenBy, method: o.method, recordedBy: { name: o.recordedBy }, ...given({ note: o.note }) }),
        );
      }),
    );
}
