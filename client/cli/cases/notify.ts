/**
 * The content-free notification hook of `handover watch`: an org wires its
 * own alerting (a pager, a chat bot, an SMS gateway) to a command or a
 * webhook, and tells it only that something happened and how often —
 * "new referral for your org", "new message in a case", "deadline in 2 h",
 * "deadline passed" — with a count. Never a name, a case code, an org id or
 * a thread id: whatever receives the hook sits outside the end-to-end
 * encryption, and a thread id, though random and not personal, would let
 * that system (or whoever reads its logs) follow one case over time and
 * line it up with the relay's traffic for the same thread. Staff open
 * `handover due` or `handover inbox` to see which case it is.
 *
 * HANDOVER_NOTIFY_COMMAND: a program run without a shell, either a path
 * (the whole value, not split) or a JSON array `["/path", "fixed", "args"]`.
 * It gets three more arguments: the kind (`new-referral`, `new-message`,
 * `deadline`, `overdue`), the count, and the text; and a minimal
 * environment (no passphrase). HANDOVER_NOTIFY_URL: POSTed
 * `{"kind", "count", "text", "at"}` as JSON. Events within a short batch
 * window are counted into one call per kind.
 */
import { spawn } from 'node:child_process';
import { HandoverError } from '../../sdk';
import { span } from './local-time';

export type NotificationKind = 'new-referral' | 'new-message' | 'deadline' | 'overdue';

/** Everything a hook is ever told. */
export interface Notification {
  kind: NotificationKind;
  count: number;
  /** One of a fixed set of phrases, with the count and the threshold in it. */
  text: string;
}

export type NotifyHook = { command: string; args: string[] } | { url: string };

const HOOK_TIMEOUT_MS = 10_000;
/** What a hook command's environment keeps of ours (never HANDOVER_PASSPHRASE or the like). */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'];

/** The hooks configured in the environment (checked at start, so a typo stops `watch` at once). */
export function hooksFromEnv(env: NodeJS.ProcessEnv = process.env): NotifyHook[] {
  const hooks: NotifyHook[] = [];
  const command = env.HANDOVER_NOTIFY_COMMAND?.trim();
  if (command) hooks.push(commandHook(command));
  const url = env.HANDOVER_NOTIFY_URL?.trim();
  if (url) hooks.push(urlHook(url));
  return hooks;
}

function commandHook(value: string): NotifyHook {
  if (!value.startsWith('[')) return { command: value, args: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const list = Array.isArray(parsed) ? parsed : [];
  const [command, ...args] = list;
  if (typeof command !== 'string' || command === '' || !list.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    throw new HandoverError('BAD_REQUEST', 'HANDOVER_NOTIFY_COMMAND must be a program path, or a JSON array of strings like ["/usr/local/bin/alert", "--team", "intake"]');
  }
  return { command, args: args as string[] };
}

function urlHook(value: string): NotifyHook {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HandoverError('BAD_REQUEST', `HANDOVER_NOTIFY_URL is not a URL: "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new HandoverError('BAD_REQUEST', 'HANDOVER_NOTIFY_URL must be an http(s) URL');
  return { url: url.href };
}

/** The fixed phrases. */
export function notificationText(kind: NotificationKind, count: number, thresholdMs = 0): string {
  const many = count > 1;
  switch (kind) {
    case 'new-referral':
      return many ? `${count} new referrals for your org` : 'new referral for your org';
    case 'new-message':
      return many ? `${count} new messages in cases` : 'new message in a case';
    case 'deadline':
      return many ? `${count} deadlines in ${span(thresholdMs)}` : `deadline in ${span(thresholdMs)}`;
    case 'overdue':
      return many ? `${count} deadlines passed` : 'deadline passed';
  }
}

/**
 * Counts events per kind (and threshold) over a short batch window, then
 * calls every hook once per kind. A failing hook is reported, never fatal.
 */
export class Notifier {
  private readonly counts = new Map<string, { kind: NotificationKind; thresholdMs: number; count: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly hooks: readonly NotifyHook[],
    private readonly batchMs: number,
    private readonly report: (line: string) => void,
  ) {}

  add(kind: NotificationKind, thresholdMs = 0): void {
    if (this.hooks.length === 0) return;
    const key = `${kind} ${thresholdMs}`;
    const entry = this.counts.get(key) ?? { kind, thresholdMs, count: 0 };
    entry.count++;
    this.counts.set(key, entry);
    this.timer ??= setTimeout(() => void this.flush(), this.batchMs);
  }

  /** Send what is counted now, and wait for every call so far to end. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.counts.values()];
    this.counts.clear();
    const notifications = batch.map(({ kind, thresholdMs, count }) => ({ kind, count, text: notificationText(kind, count, thresholdMs) }));
    this.running = this.running.then(async () => {
      for (const n of notifications) await Promise.all(this.hooks.map((hook) => this.call(hook, n)));
    });
    await this.running;
  }

  private async call(hook: NotifyHook, n: Notification): Promise<void> {
    try {
      if ('url' in hook) await post(hook.url, n);
      else await run(hook, n);
    } catch (err) {
      this.report(`notification hook failed (${'url' in hook ? 'HANDOVER_NOTIFY_URL' : 'HANDOVER_NOTIFY_COMMAND'}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

async function post(url: string, n: Notification): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: n.kind, count: n.count, text: n.text, at: new Date().toISOString() }),
    signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
    redirect: 'error',
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`the webhook answered ${res.status}`);
}

function run(hook: { command: string; args: string[] }, n: Notification): Promise<void> {
  const env = Object.fromEntries(PASSED_ENV.flatMap((name) => (process.env[name] !== undefined ? [[name, process.env[name]]] : [])));
  return new Promise((resolve, reject) => {
    const child = spawn(hook.command, [...hook.args, n.kind, String(n.count), n.text], { shell: false, stdio: 'ignore', env, timeout: HOOK_TIMEOUT_MS });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(signal ? `the command was stopped (${signal})` : `the command exited with ${code}`));
    });
  });
}
