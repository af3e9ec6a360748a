/**
 * The commands that send survivor data or widen who sees it — `refer`,
 * `request-info`, `provide-info`, `add-participant` — each checked against
 * the survivor's consent before anything leaves this device; and `outbox`,
 * which finishes (or gives up) a referral the relay took only part of.
 */
import { type Command, Option } from 'commander';
import { type EarlierWithdrawal, FIELD_GROUPS, type OutboxRun, PURPOSES, type PendingReferral, ReferralBody, type ReferResult } from '../../referral';
import { output, progress } from '../context';
import { readJsonFile } from '../files';
import { globalOptions, run } from '../run';
import { localTime } from './local-time';
import { fieldGroups, given } from './options';
import { checkConsentBound, maxConsentDays, referralTimesToEpoch } from './referral-input';
import { sendAndReport, withCases } from './session';

/** What the outbox run of this command's start did (a referral an earlier run left pending). */
function outboxRunLines(run: OutboxRun): string[] {
  const lines = run.finished.map(
    (f) => `finished a referral left pending by an earlier run: thread ${f.threadId}${f.rebuilt ? ' (nothing of it had gone out: sent as a new thread)' : ''}`,
  );
  for (const a of run.abandoned) lines.push(`gave up a pending referral (thread ${a.threadId}): ${a.code} ${a.message}`);
  return lines;
}

function pendingLines(p: PendingReferral): string[] {
  return [
    `Pending referral ${p.id} (given ${localTime(p.createdAt)}, ${p.attempts} attempt(s)):`,
    p.createSent
      ? `  thread ${p.threadId}: sent ${p.sent.join(', ')}; pending ${p.pending.join(', ')}`
      : `  nothing of it has gone out yet; it is sent as a new thread (${p.pending.join(', ')})`,
    ...(p.lastError ? [`  last error ${p.lastError.code} at ${localTime(p.lastError.at)}: ${p.lastError.message}`] : []),
    `  Sent again by the next case command; \`handover outbox --discard ${p.id}\` gives it up (what went out stays out).`,
  ];
}

function recipientLines(r: ReferResult): string[] {
  return r.recipients.map(
    (x) =>
      `  ${x.orgId} (${x.orgType}): ${x.fieldGroups.join(', ') || 'header and case code only'}` +
      (x.withheld.length ? `; withheld by consent: ${x.withheld.join(', ')}` : '') +
      (x.override ? `\n    CONSENT OVERRIDE (${x.override.violations.join(', ')}): ${x.override.reason}` : ''),
  );
}

/** The case code, when the file has one (for the withdrawal warning before anything is sent). */
function caseCodeOf(referral: unknown): string | undefined {
  const identity = (referral as { identity?: { caseCode?: unknown } } | null)?.identity;
  return typeof identity?.caseCode === 'string' ? identity.caseCode : undefined;
}

function withdrawalWarning(earlier: readonly EarlierWithdrawal[]): string {
  const when = earlier.map((e) => `thread ${e.threadId}, withdrawn ${localTime(e.withdrawnAt)}`).join('; ');
  return `WARNING: the survivor's consent was withdrawn on an earlier case with this case code (${when}). Make sure they have consented again to this referral.`;
}

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

Times in the file (consent givenAt, expiresAt) are epoch milliseconds or
ISO 8601 with a time zone, e.g. "2026-11-28T15:00+05:00". The consent may
run at most a year after it was given (HANDOVER_MAX_CONSENT_DAYS changes
that). A case code whose consent was withdrawn on an earlier thread is
warned about.

All or nothing: if the relay takes only part of the referral, the rest is
kept in this device's outbox, the error says what is pending, and the next
case command (or \`handover outbox\`) finishes it.

Example:
  handover refer examples/referral.json`,
    )
    .action(
      run(program, async (file: string, o: { overrideReason?: string }) => {
        const maxDays = maxConsentDays();
        const body = referralTimesToEpoch(await readJsonFile(file));
        checkConsentBound(body, maxDays);
        await withCases(g(), async (cases) => {
          for (const line of outboxRunLines(cases.outboxRun)) progress(line);
          const caseCode = caseCodeOf(body);
          if (caseCode) {
            const earlier = await cases.consentWithdrawnBefore(caseCode);
            if (earlier.length > 0) progress(withdrawalWarning(earlier));
          }
          const r = await cases.refer(body, given({ overrideReason: o.overrideReason, maxConsentDays: maxDays }));
          const consent = ReferralBody.parse(body).consent;
          output(
            g(),
            {
              threadId: r.threadId,
              referralId: r.referralId,
              recipients: r.recipients,
              overrides: r.overrides.map((x) => x.id),
              consentExpiresAt: consent.expiresAt,
              earlierWithdrawals: r.earlierWithdrawals,
              resumed: r.resumed,
            },
            () =>
              [
                r.resumed ? `This referral was pending from an earlier run; it is now sent completely. Thread ${r.threadId}` : `Referral sent. Thread ${r.threadId}`,
                ...recipientLines(r),
                `  consent valid until ${localTime(consent.expiresAt)}`,
                `Follow it with: handover show ${r.threadId}`,
              ].join('\n'),
          );
        });
      }),
    );
}

export function outboxCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('outbox')
    .description('referrals not completely sent: finish them now, list what is still pending, or give one up')
    .option('--discard <id>', 'take a pending referral out of the outbox without sending the rest')
    .addHelpText(
      'after',
      `
Every case command first tries to finish what is pending; this one then
lists what is still pending and exits with 1 if anything is.`,
    )
    .action(
      run(program, async (o: { discard?: string }) => {
        await withCases(g(), async (cases) => {
          const { finished, abandoned } = cases.outboxRun;
          const discarded = o.discard ? await cases.discardPendingReferral(o.discard) : undefined;
          const pending = await cases.pendingReferrals();
          output(
            g(),
            { finished: finished.map(({ outboxId, threadId, referralId, rebuilt }) => ({ outboxId, threadId, referralId, rebuilt })), abandoned, pending, ...(discarded ? { discarded } : {}) },
            () => {
              const lines = outboxRunLines(cases.outboxRun).map((l) => l.charAt(0).toUpperCase() + l.slice(1));
              if (discarded) lines.push(`Gave up pending referral ${discarded.id}${discarded.createSent ? ` (thread ${discarded.threadId} stays as it is: ${discarded.sent.join(', ')})` : ' (nothing of it had gone out)'}.`);
              for (const p of pending) lines.push(...pendingLines(p));
              if (pending.length === 0) lines.push('Nothing pending: every referral went out completely.');
              return lines.join('\n');
            },
          );
          if (pending.length > 0) process.exitCode = 1;
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
