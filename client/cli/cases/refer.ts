/**
 * The commands that send survivor data or widen who sees it — `refer`,
 * `request-info`, `provide-info`, `add-participant` — each checked against
 * the survivor's consent before anything leaves this device.
 */
import { type Command, Option } from 'commander';
import { FIELD_GROUPS, PURPOSES } from '../../referral';
import { output } from '../context';
import { readJsonFile } from '../files';
import { globalOptions, run } from '../run';
import { fieldGroups, given } from './options';
import { sendAndReport, withCases } from './session';

export function referCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('refer')
    .description('send a referral (JSON file) to the receiving org and coordinators it names, in a new case thread')
    .argument('<file.json>', 'the referral: header, identity, consent and optional groups (see examples/referral.json); - reads stdin')
    .option('--override-reason <text>', 'vital interest only: send even where the consent does not cover a recipient; recorded as a signed override every participant sees')
    .addHelpText(
      'after',
      `
The survivor's consent is checked for every recipient before anything is
sent. Each recipient gets only the groups the consent does not withhold
from it. Without --override-reason an out-of-scope referral is refused
(CONSENT_SCOPE) and nothing leaves this device.

Example:
  handover refer examples/referral.json`,
    )
    .action(
      run(program, async (file: string, o: { overrideReason?: string }) => {
        const body = await readJsonFile(file);
        await withCases(g(), async (cases) => {
          const r = await cases.refer(body, given({ overrideReason: o.overrideReason }));
          output(g(), { threadId: r.threadId, referralId: r.referralId, recipients: r.recipients, overrides: r.overrides.map((x) => x.id) }, () =>
            [
              `Referral sent. Thread ${r.threadId}`,
              ...r.recipients.map(
                (x) =>
                  `  ${x.orgId} (${x.orgType}): ${x.fieldGroups.join(', ') || 'header and case code only'}` +
                  (x.withheld.length ? `; withheld by consent: ${x.withheld.join(', ')}` : '') +
                  (x.override ? `\n    CONSENT OVERRIDE (${x.override.violations.join(', ')}): ${x.override.reason}` : ''),
              ),
              `Follow it with: handover show ${r.threadId}`,
            ].join('\n'),
          );
        });
      }),
    );
}

export function requestInfoCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('request-info')
    .description('receiving org: ask the sender for more information before deciding')
    .argument('<threadId>')
    .requiredOption('--questions <text>', 'what you need to know')
    .option('--groups <list>', `comma-separated field groups you ask for (${FIELD_GROUPS.join(', ')})`)
    .action(
      run(program, async (threadId: string, o: { questions: string; groups?: string }) => {
        await sendAndReport(g(), (cases) => cases.requestInfo(threadId, { questions: o.questions, ...given({ fieldGroups: o.groups ? fieldGroups(o.groups) : undefined }) }));
      }),
    );
}

export function provideInfoCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('provide-info')
    .description("sender: answer the receiving org's latest information request (consent-checked like the referral)")
    .argument('<threadId>')
    .option('--details <text>', 'the answer in words')
    .option('--data <file.json>', 'more referral groups as JSON (e.g. {"healthNeeds": {...}})')
    .option('--in-reply-to <eventId>', 'answer an earlier request instead of the latest')
    .option('--override-reason <text>', 'vital interest only: send where the consent does not cover a recipient')
    .action(
      run(program, async (threadId: string, o: { details?: string; data?: string; inReplyTo?: string; overrideReason?: string }) => {
        const data = o.data ? await readJsonFile(o.data) : undefined;
        await sendAndReport(g(), (cases) =>
          cases.provideInfo(
            threadId,
            given({ details: o.details, data: data as never, inReplyTo: o.inReplyTo, overrideReason: o.overrideReason }),
          ),
        );
      }),
    );
}

export function addParticipantCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('add-participant')
    .description('sender or receiving org: bring another org into the thread (the consent must cover it for the purpose)')
    .argument('<threadId>')
    .requiredOption('--org-id <orgId>', 'the org to add (see `handover directory`)')
    .addOption(new Option('--purpose <purpose>', 'what it joins for').choices(PURPOSES).makeOptionMandatory())
    .option('--override-reason <text>', 'vital interest only: add it although the consent does not cover it (visible to all)')
    .action(
      run(program, async (threadId: string, o: { orgId: string; purpose: (typeof PURPOSES)[number]; overrideReason?: string }) => {
        await sendAndReport(g(), (cases) => cases.addParticipant(threadId, { orgId: o.orgId, purpose: o.purpose, ...given({ overrideReason: o.overrideReason }) }));
      }),
    );
}
