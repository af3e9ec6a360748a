/**
 * `handover watch`: stays connected until stopped and prints, as they
 * happen, each new message (thread id, event type, sending org: no survivor
 * data) and each deadline alert (once per item per threshold), and tells
 * the org's notification hook (notify.ts) in words that carry no case data.
 * The SDK reconnects by itself; SIGINT and SIGTERM end it cleanly.
 */
import type { Command } from 'commander';
import { CaseService, type DeadlineAlert, type MessageNotice, messageNotice } from '../../referral';
import type { HandoverClient, StoredMessage } from '../../sdk';
import { type GlobalOptions, progress } from '../context';
import { openDevice } from '../device/open';
import { globalOptions, run } from '../run';
import { DUE_WINDOW_DEFAULT } from './due';
import { localTime, parseDuration, parseDurations, span, untilText } from './local-time';
import { Notifier, hooksFromEnv } from './notify';

interface WatchOptions {
  within: string;
  alert: string;
  every: string;
  batch: string;
}

/** Say it once disconnected for this long, then every so often. */
const DISCONNECTED_NOTICE_MS = 60_000;

function messageLine(n: MessageNotice, at: number): string {
  const tag = n.newReferral ? '  NEW REFERRAL for your org' : '';
  return `${localTime(at)}  message   thread ${n.threadId}: ${n.type} from ${n.fromOrgId}${tag}`;
}

function alertLine(a: DeadlineAlert, now: number): string {
  const { item } = a;
  const flag = item.overdue ? 'OVERDUE ' : 'deadline';
  return `${localTime(now)}  ${flag}  thread ${item.threadId}: ${item.what}, due ${localTime(item.dueAt)} (${untilText(item.dueAt, now)})`;
}

/** One line per event: human text, or one JSON object per line with --json. */
function emit(opts: GlobalOptions, json: Record<string, unknown>, human: string): void {
  process.stdout.write(`${opts.json ? JSON.stringify(json) : human}\n`);
}

class Watch {
  private readonly notifier: Notifier;
  private timer: ReturnType<typeof setInterval> | undefined;
  private checking = false;
  private disconnectedSince: number | null = null;
  private lastDisconnectNotice = 0;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly opts: GlobalOptions,
    private readonly client: HandoverClient,
    private readonly cases: CaseService,
    private readonly settings: { windowMs: number; thresholdsMs: number[]; everyMs: number; batchMs: number },
  ) {
    this.notifier = new Notifier(hooksFromEnv(), settings.batchMs, progress);
  }

  start(): void {
    this.unsubscribe.push(
      this.client.on('message', (m) => this.onMessage(m)),
      this.client.on('connection', (state) => this.onConnection(state)),
    );
    this.timer = setInterval(() => void this.checkDeadlines(), this.settings.everyMs);
    void this.checkDeadlines();
  }

  async stop(): Promise<void> {
    // Closing the connection is not "connection lost".
    for (const off of this.unsubscribe.splice(0)) off();
    clearInterval(this.timer);
    await this.notifier.flush();
  }

  private onMessage(m: StoredMessage): void {
    const n = messageNotice(m, this.client.orgId);
    const at = Date.now();
    emit(this.opts, { event: 'message', at, threadId: n.threadId, messageId: n.messageId, type: n.type, fromOrgId: n.fromOrgId, newReferral: n.newReferral }, messageLine(n, at));
    this.notifier.add(n.newReferral ? 'new-referral' : 'new-message');
  }

  private onConnection(state: 'connected' | 'disconnected' | 'revoked'): void {
    if (state === 'revoked') {
      progress('the relay refused this device for good: it or its organisation has been revoked; ask your org admin');
    } else if (state === 'disconnected') {
      this.disconnectedSince ??= Date.now();
      progress('connection to the relay lost; reconnecting by itself');
    } else if (this.disconnectedSince !== null) {
      progress(`reconnected after ${span(Date.now() - this.disconnectedSince)}`);
      this.disconnectedSince = null;
    }
  }

  private async checkDeadlines(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const now = Date.now();
      if (this.disconnectedSince !== null && now - this.disconnectedSince > DISCONNECTED_NOTICE_MS && now - this.lastDisconnectNotice > 5 * DISCONNECTED_NOTICE_MS) {
        this.lastDisconnectNotice = now;
        progress(`still not connected to the relay (since ${localTime(this.disconnectedSince)}); new messages arrive once it is back`);
      }
      const items = await this.cases.reminders({ windowMs: this.settings.windowMs });
      const alerts = await this.cases.deadlineAlerts(this.settings.thresholdsMs).check(items, now);
      for (const a of alerts) {
        const { item } = a;
        emit(
          this.opts,
          { event: 'deadline', at: now, threadId: item.threadId, kind: item.kind, ...(item.step ? { step: item.step } : {}), dueAt: item.dueAt, overdue: item.overdue, mine: item.mine, thresholdMs: a.thresholdMs },
          alertLine(a, now),
        );
        this.notifier.add(item.overdue ? 'overdue' : 'deadline', a.thresholdMs);
      }
    } catch (err) {
      progress(`could not check deadlines: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.checking = false;
    }
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

export function watchCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('watch')
    .description('stay connected and print new messages and deadline alerts as they happen (Ctrl-C stops)')
    .option('--within <duration>', 'alert when an item falls due within this long', DUE_WINDOW_DEFAULT)
    .option('--alert <durations>', 'further alerts this long before the due time (comma-separated)', '2h')
    .option('--every <duration>', 'how often deadlines are checked', '30s')
    .option('--batch <duration>', 'events within this long go to the notification hook as one call with a count', '5s')
    .addHelpText(
      'after',
      `
Each message prints its thread id, event type and sending org (never case
data). Each deadline alerts once when it falls due within --within, once
at each --alert, and once when it is overdue; alerts given are remembered,
so a restarted watch does not repeat them. Times are in your time zone.
With --json, one JSON object per line.

Notification hook (the org's own alerting; told no names, case codes or
thread ids, only e.g. "new referral for your org", "deadline in 2 h" and a
count):
  HANDOVER_NOTIFY_COMMAND=/usr/local/bin/alert     run without a shell, with
      arguments <kind> <count> <text>; or a JSON array ["/path", "fixed arg"]
  HANDOVER_NOTIFY_URL=https://alerts.example.org/hook   POST {kind, count, text, at}`,
    )
    .action(
      run(program, async (o: WatchOptions) => {
        const windowMs = parseDuration(o.within, '--within');
        const settings = {
          windowMs,
          thresholdsMs: [windowMs, ...parseDurations(o.alert, '--alert')],
          everyMs: parseDuration(o.every, '--every'),
          batchMs: parseDuration(o.batch, '--batch'),
        };
        hooksFromEnv(); // a misconfigured hook stops here, before connecting
        const client = await openDevice(g(), true);
        const cases = new CaseService({ transport: client });
        const watch = new Watch(g(), client, cases, settings);
        try {
          await cases.start();
          for (const f of cases.failures) progress(`could not finish background work on thread ${f.threadId}: ${f.code} ${f.message}`);
          watch.start();
          progress(`watching as ${client.deviceId} (Ctrl-C to stop)`);
          const signal = await untilStopped();
          progress(`${signal}: stopping`);
        } finally {
          await watch.stop();
          await cases.idle();
          cases.dispose();
          await client.close();
        }
      }),
    );
}
