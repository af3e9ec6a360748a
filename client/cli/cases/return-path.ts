/**
 * `handover return-step`: IOM records the steps of a survivor's return,
 * in the order the return path allows (departure only after a risk
 * assessment done with "go").
 */
import { type Command, Option } from 'commander';
import { RETURN_STEPS, RISK_DECISIONS, STEP_STATUSES } from '../../referral';
import { globalOptions, run } from '../run';
import { TIME_HELP, given, parseTime } from './options';
import { sendAndReport } from './session';

interface ReturnStepOptions {
  step: (typeof RETURN_STEPS)[number];
  status: (typeof STEP_STATUSES)[number];
  decision?: (typeof RISK_DECISIONS)[number];
  responsibleOrg?: string;
  date?: string;
  note?: string;
}

export function returnStepCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('return-step')
    .description('IOM: record a step of the return path (departure only after a risk assessment done with "go")')
    .argument('<threadId>')
    .addOption(new Option('--step <step>', 'the step').choices(RETURN_STEPS).makeOptionMandatory())
    .addOption(new Option('--status <status>', 'its status').choices(STEP_STATUSES).makeOptionMandatory())
    .addOption(new Option('--decision <decision>', 'risk assessment only: go or no-go (required when done)').choices(RISK_DECISIONS))
    .option('--responsible-org <orgId>', 'the org responsible for the step (default: yours)')
    .option('--date <time>', `when it happens or happened (${TIME_HELP})`)
    .option('--note <text>', 'a short note')
    .addHelpText(
      'after',
      `
The path: return-requested → receipt-confirmed → risk-assessment (go / no-go)
→ family-assessment → travel-documents → fit-to-travel
→ departure-confirmed | not-departed → arrival-confirmed → reintegration-plan
→ monitoring → closed. Work on several steps can run in parallel; a step is
"done" only after the earlier ones.
Example:
  handover return-step <threadId> --step risk-assessment --status done --decision go`,
    )
    .action(
      run(program, async (threadId: string, o: ReturnStepOptions) => {
        const date = o.date ? parseTime(o.date, '--date') : undefined;
        await sendAndReport(g(), (cases) =>
          cases.returnStep(threadId, {
            step: o.step,
            status: o.status,
            ...given({ decision: o.decision, responsibleOrgId: o.responsibleOrg, date, note: o.note }),
          }),
        );
      }),
    );
}
