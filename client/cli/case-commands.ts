/**
 * Case commands: send a referral, read the inbox and a thread's timeline,
 * and act on a case (acknowledge, accept, decline, schedule intake, record
 * arrival and return steps, notes, consent withdrawal, HTCDS export).
 *
 * Each command opens this profile's device, signs in and syncs the inbox,
 * lets the case layer catch up (a consent withdrawal received while offline
 * is acted on first), does its work, waits until everything received has
 * been handled, and disconnects.
 */
import { promises as fs } from 'node:fs';
import { type Command, Option } from 'commander';
import {
  CONSENT_GIVERS,
  CONSENT_METHODS,
  DECLINE_REASONS,
  FIELD_GROUPS,
  PURPOSES,
  RETURN_STEPS,
  RISK_DECISIONS,
  STEP_STATUSES,
  WITHDRAW_REASONS,
  type FieldGroup,
  type CaseThread,
  CaseService,
  type SentEvent,
  type ThreadSummary,
  type DropReason,
} from '../referral';
import { type FailedMessage, type HandoverClient, HandoverError } from '../sdk';
import { readJsonFile, run } from './admin-commands';
import { type GlobalOptions, output, progress } from './context';
import { openDevice } from './device-commands';

const TIME_HELP = 'ISO 8601 with a time zone, e.g. 2026-11-29T10:00+03:00';
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A point in time from the command line: a zone is required, as cases span countries. */
function parseTime(value: string, name: string): number {
  const ms = ISO_WITH_ZONE.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new HandoverError('BAD_REQUEST', `${name} must be ${TIME_HELP}`);
  return ms;
}

function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

function fieldGroups(value: string): FieldGroup[] {
  const groups = value.split(',').map((g) => g.trim()).filter(Boolean);
  const bad = groups.filter((g) => !(FIELD_GROUPS as readonly string[]).includes(g));
  if (bad.length > 0) throw new HandoverError('BAD_REQUEST', `unknown field group(s) ${bad.join(', ')}; use ${FIELD_GROUPS.join(', ')}`);
  return groups as FieldGroup[];
}

/** Only the options that were given, so optional event fields stay absent rather than undefined. */
function given<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function withCases<T>(opts: GlobalOptions, work: (cases: CaseService, client: HandoverClient) => Promise<T>): Promise<T> {
  const client = await openDevice(opts, true);
  const cases = new CaseService({ transport: client });
  try {
    await cases.start();
    const result = await work(cases, client);
    // Anything received meanwhile (and the case layer's answers to it) is finished before we disconnect.
    await client.idle();
    await cases.idle();
    for (const f of cases.failures) progress(`could not finish background work on thread ${f.threadId}: ${f.code} ${f.message}`);
    return result;
  } finally {
    cases.dispose();
    await client.close();
  }
}

/** One envelope that could not be opened: still waiting in the relay (retried) or given up (it can never be opened). */
export function failedLine(f: FailedMessage): string {
  const state = f.pending ? 'waiting, tried again automatically' : 'cannot be opened';
  return `  ${f.messageId} from ${f.senderDeviceId}, ${new Date(f.receivedAt).toISOString()}: ${f.code} (${state}): ${f.reason}`;
}

/** What each drop reason means, for people reading `show`. */
const DROP_REASONS: Record<DropReason, string> = {
  'forged-author': 'the event names another author than the device that signed it',
  'wrong-thread': 'the event names another thread than its envelope',
  malformed: 'not a readable case message',
  'forged-supplement': 'extra data from a device that did not write the event it completes',
  'unmatched-supplement': 'extra data for an event this device does not hold',
  'time-mismatch': "the event's time is more than 5 minutes from its envelope's signed send time",
};

/** Refused events, dropped messages and security warnings, marked so nobody mistakes them for the case's history. */
function problemsText(t: CaseThread): string[] {
  const lines: string[] = [];
  if (t.securityWarnings.length > 0) {
    lines.push(`  !! SECURITY WARNING: ${t.securityWarnings.length} message(s) of this case were also encrypted to organisations outside the thread`);
    for (const w of t.securityWarnings) {
      const from = w.direction === 'out' ? 'sent by this device' : `from ${w.senderDeviceId}`;
      lines.push(`  !!   message ${w.messageId} ${from}${w.type ? ` (${w.type})` : ''}: also to ${w.orgIds.join(', ')} (${w.deviceIds.join(', ')})`);
    }
    lines.push('  !!   The relay or a participant may be copying this case: tell your security contact before sending more.');
  }
  if (t.rejected.length > 0) {
    lines.push('  REFUSED events (signed, but the thread does not accept them; not part of the case):');
    for (const r of t.rejected) {
      lines.push(`    ${iso(r.at)}  ${r.author.deviceId.padEnd(18)} ${r.type}: ${r.reason} (${r.code}) ${r.message}`);
    }
  }
  if (t.dropped.length > 0) {
    lines.push('  DROPPED messages (not replayed):');
    for (const d of t.dropped) lines.push(`    from ${d.senderDeviceId} (${d.senderOrgId})${d.type ? ` ${d.type}` : ''}: ${d.reason}, ${DROP_REASONS[d.reason]}`);
  }
  return lines;
}

/** The inbox's per-thread count of what `show` marks. */
function problemsCount(t: ThreadSummary): string {
  const parts: string[] = [];
  if (t.securityWarnings > 0) parts.push(`${t.securityWarnings} SECURITY WARNING(S)`);
  if (t.rejected > 0) parts.push(`${t.rejected} refused`);
  if (t.dropped > 0) parts.push(`${t.dropped} dropped`);
  return parts.length > 0 ? `  (${parts.join(', ')}: see handover show)` : '';
}

/** One line of `handover inbox`. */
export function inboxLine(t: ThreadSummary): string {
  const flag = t.overdue ? ' OVERDUE' : t.respondedLate ? ' late' : '';
  const code = t.caseCode ?? (t.purged ? '(purged)' : '-');
  return `${t.threadId}  ${(t.status ?? '?').padEnd(17)} ${(t.priority ?? '-').padEnd(9)} ${(t.role ?? '-').padEnd(11)} ${code}  ${iso(t.lastEventAt)}${flag}${problemsCount(t)}`;
}

/** What `handover show` prints for people (without the referral itself). */
export function threadText(t: CaseThread): string {
  const lines: string[] = [];
  lines.push(`Thread ${t.threadId}`);
  if (t.purged) {
    lines.push(`  PURGED after the survivor withdrew consent (${iso(t.purged.purgedAt)}, ${t.purged.itemsDeleted} items deleted here)`);
  } else {
    const overdue = t.overdue ? '  OVERDUE' : t.respondedLate ? '  (answered late)' : '';
    lines.push(`  status ${t.status ?? 'unknown'}   priority ${t.priority ?? '-'}   respond by ${iso(t.responseDeadline)}${overdue}`);
    if (t.referral) {
      const h = t.referral.header;
      lines.push(`  case ${t.referral.identity.caseCode}   ${h.kind}   purpose ${h.purpose}   services ${h.servicesRequested.join(', ')}`);
    }
    if (t.consentExpired) lines.push('  CONSENT EXPIRED: nothing more may be sent without a new consent');
  }
  lines.push(`  participants: ${t.participants.map((p) => `${p.orgId} (${p.orgType}, ${p.role})`).join(', ') || '-'}`);
  if (t.decision) lines.push(`  decision: ${t.decision.outcome} by ${t.decision.author.orgId} at ${iso(t.decision.at)}`);
  if (t.intakeSchedule) {
    const s = t.intakeSchedule;
    lines.push(`  intake: ${iso(s.scheduledFor)}${s.location ? ` at ${s.location}` : ''}${s.transport ? `, ${s.transport}` : ''}`);
  }
  if (t.returnPath.steps.length > 0) {
    lines.push('  return path:');
    for (const s of t.returnPath.steps) {
      lines.push(`    ${s.step.padEnd(20)} ${s.status}${s.decision ? ` (${s.decision})` : ''}   ${s.responsibleOrgId}${s.date ? `   ${iso(s.date)}` : ''}`);
    }
  }
  for (const o of t.overrides) lines.push(`  CONSENT OVERRIDE by ${o.byOrgId} for ${o.recipient.orgId} (${o.purpose}): ${o.reason}`);
  const w = t.consentWithdrawal;
  if (w) {
    lines.push(`  consent withdrawn ${iso(w.withdrawnAt)} (recorded by ${w.byOrgId})`);
    for (const c of w.confirmed) lines.push(`    purged: ${c.orgId} (${c.deviceIds.length} device(s), ${c.itemsDeleted} items)`);
    lines.push(w.complete ? '    every participant has confirmed the purge' : `    waiting for: ${w.pending.join(', ')}`);
  }
  lines.push('  timeline:');
  for (const e of t.timeline) lines.push(`    ${iso(e.at)}  ${e.author.deviceId.padEnd(18)} ${e.summary}`);
  lines.push(...problemsText(t));
  if (t.missingPrev.length > 0) lines.push(`  ${t.missingPrev.length} earlier event(s) not received yet`);
  return lines.join('\n');
}

export function registerCaseCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
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

  /** The shared shape of every action command: do it, then report the thread's new state. */
  const action = (work: (cases: CaseService) => Promise<SentEvent>) =>
    withCases(g(), async (cases) => {
      const sent = await work(cases);
      const t = await cases.thread(sent.event.threadId);
      output(
        g(),
        { threadId: sent.event.threadId, eventId: sent.id, type: sent.event.type, status: t.status },
        `${sent.event.type} sent. Thread ${sent.event.threadId} is now ${t.status ?? 'unknown'}.`,
      );
    });

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

  program
    .command('inbox')
    .description("this org's case threads: state, priority, overdue responses, and counts of security warnings, refused events and dropped messages")
    .action(
      run(program, async () => {
        await withCases(g(), async (cases, client) => {
          const threads = await cases.listThreads();
          // Envelopes that could not be opened are shown, never hidden (ids and reasons only).
          const failed = await client.failedMessages();
          output(g(), { threads, couldNotOpen: failed }, () => {
            const lines = threads.length === 0 ? ['No case threads.'] : threads.map(inboxLine);
            if (failed.length > 0) lines.push('', `COULD NOT OPEN ${failed.length} message(s):`, ...failed.map(failedLine));
            return lines.join('\n');
          });
        });
      }),
    );

  program
    .command('show')
    .description("a thread's state and timeline (who did what, when, from which device), with refused events, dropped messages and security warnings")
    .argument('<threadId>', 'the thread id (from `handover inbox`)')
    .option('--referral', 'also print the referral itself (survivor data: only on a screen others cannot see)')
    .action(
      run(program, async (threadId: string, o: { referral?: boolean }) => {
        await withCases(g(), async (cases) => {
          const t = await cases.thread(threadId);
          if (!t.purged && t.timeline.length === 0 && t.rejected.length === 0 && t.dropped.length === 0 && t.securityWarnings.length === 0) {
            throw new HandoverError('NOT_FOUND', `this device holds no thread ${threadId}`);
          }
          output(g(), t, () => threadText(t) + (o.referral && t.referral ? `\n  referral:\n${JSON.stringify(t.referral, null, 2)}` : ''));
        });
      }),
    );

  program
    .command('ack')
    .description('receiving org: acknowledge a referral (stops the response clock)')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .option('--decision-by <time>', `when you expect to decide (${TIME_HELP})`)
    .action(
      run(program, async (threadId: string, o: { note?: string; decisionBy?: string }) => {
        const expectedDecisionBy = o.decisionBy ? parseTime(o.decisionBy, '--decision-by') : undefined;
        await action((cases) => cases.acknowledge(threadId, given({ note: o.note, expectedDecisionBy })));
      }),
    );

  program
    .command('request-info')
    .description('receiving org: ask the sender for more information before deciding')
    .argument('<threadId>')
    .requiredOption('--questions <text>', 'what you need to know')
    .option('--groups <list>', `comma-separated field groups you ask for (${FIELD_GROUPS.join(', ')})`)
    .action(
      run(program, async (threadId: string, o: { questions: string; groups?: string }) => {
        await action((cases) => cases.requestInfo(threadId, { questions: o.questions, ...given({ fieldGroups: o.groups ? fieldGroups(o.groups) : undefined }) }));
      }),
    );

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
        await action((cases) =>
          cases.provideInfo(
            threadId,
            given({ details: o.details, data: data as never, inReplyTo: o.inReplyTo, overrideReason: o.overrideReason }),
          ),
        );
      }),
    );

  program
    .command('accept')
    .description('receiving org: accept the referral (the first accept wins if two colleagues act at once)')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .option('--bed-reserved', 'a bed is reserved')
    .action(
      run(program, async (threadId: string, o: { note?: string; bedReserved?: boolean }) => {
        await action((cases) => cases.accept(threadId, given({ note: o.note, bedReserved: o.bedReserved })));
      }),
    );

  program
    .command('decline')
    .description('receiving org: decline the referral with a reason code')
    .argument('<threadId>')
    .addOption(new Option('--reason <code>', 'why').choices(DECLINE_REASONS).makeOptionMandatory())
    .option('--details <text>', 'explanation (required with --reason other)')
    .option('--suggest-org <orgId>', 'an org that may be able to help instead')
    .action(
      run(program, async (threadId: string, o: { reason: (typeof DECLINE_REASONS)[number]; details?: string; suggestOrg?: string }) => {
        await action((cases) => cases.decline(threadId, { reasonCode: o.reason, ...given({ details: o.details, suggestedOrgId: o.suggestOrg }) }));
      }),
    );

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
        await action((cases) => cases.scheduleIntake(threadId, { scheduledFor, ...given({ location: o.location, transport: o.transport, note: o.note }) }));
      }),
    );

  program
    .command('arrived')
    .description('receiving org: the survivor has arrived')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .action(
      run(program, async (threadId: string, o: { note?: string }) => {
        await action((cases) => cases.arrived(threadId, given({ note: o.note })));
      }),
    );

  program
    .command('no-show')
    .description('receiving org: the survivor did not come to the scheduled intake')
    .argument('<threadId>')
    .option('--note <text>', 'a short note to the thread')
    .action(
      run(program, async (threadId: string, o: { note?: string }) => {
        await action((cases) => cases.noShow(threadId, given({ note: o.note })));
      }),
    );

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
      run(
        program,
        async (
          threadId: string,
          o: {
            step: (typeof RETURN_STEPS)[number];
            status: (typeof STEP_STATUSES)[number];
            decision?: (typeof RISK_DECISIONS)[number];
            responsibleOrg?: string;
            date?: string;
            note?: string;
          },
        ) => {
          const date = o.date ? parseTime(o.date, '--date') : undefined;
          await action((cases) =>
            cases.returnStep(threadId, {
              step: o.step,
              status: o.status,
              ...given({ decision: o.decision, responsibleOrgId: o.responsibleOrg, date, note: o.note }),
            }),
          );
        },
      ),
    );

  program
    .command('note')
    .description('add a note to the thread (every participant sees it; keep survivor details to what they need)')
    .argument('<threadId>')
    .argument('<text...>', 'the note')
    .action(
      run(program, async (threadId: string, text: string[]) => {
        await action((cases) => cases.note(threadId, text.join(' ')));
      }),
    );

  program
    .command('add-participant')
    .description('sender or receiving org: bring another org into the thread (the consent must cover it for the purpose)')
    .argument('<threadId>')
    .requiredOption('--org-id <orgId>', 'the org to add (see `handover directory`)')
    .addOption(new Option('--purpose <purpose>', 'what it joins for').choices(PURPOSES).makeOptionMandatory())
    .option('--override-reason <text>', 'vital interest only: add it although the consent does not cover it (visible to all)')
    .action(
      run(program, async (threadId: string, o: { orgId: string; purpose: (typeof PURPOSES)[number]; overrideReason?: string }) => {
        await action((cases) => cases.addParticipant(threadId, { orgId: o.orgId, purpose: o.purpose, ...given({ overrideReason: o.overrideReason }) }));
      }),
    );

  program
    .command('withdraw')
    .description('sender: withdraw the referral')
    .argument('<threadId>')
    .addOption(new Option('--reason <code>', 'why').choices(WITHDRAW_REASONS).makeOptionMandatory())
    .option('--details <text>', 'explanation')
    .action(
      run(program, async (threadId: string, o: { reason: (typeof WITHDRAW_REASONS)[number]; details?: string }) => {
        await action((cases) => cases.withdraw(threadId, { reasonCode: o.reason, ...given({ details: o.details }) }));
      }),
    );

  program
    .command('close')
    .description('sender or receiving org: close the case')
    .argument('<threadId>')
    .requiredOption('--reason <text>', 'reason for closing (HTCDS cas_ReasonForCaseClosure)')
    .action(
      run(program, async (threadId: string, o: { reason: string }) => {
        await action((cases) => cases.close(threadId, o.reason));
      }),
    );

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
      run(
        program,
        async (threadId: string, o: { givenBy: (typeof CONSENT_GIVERS)[number]; method: (typeof CONSENT_METHODS)[number]; recordedBy: string; note?: string }) => {
          await action((cases) =>
            cases.withdrawConsent(threadId, { givenBy: o.givenBy, method: o.method, recordedBy: { name: o.recordedBy }, ...given({ note: o.note }) }),
          );
        },
      ),
    );

  program
    .command('export')
    .description("export this org's case threads as HTCDS-shaped CSV (withdrawn consent: left out)")
    .option('--out <file>', 'write to this file (created readable by you only) instead of stdout')
    .action(
      run(program, async (o: { out?: string }) => {
        await withCases(g(), async (cases) => {
          const csv = await cases.exportCsv();
          const rows = csv.split('\r\n').filter(Boolean).length - 1;
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
