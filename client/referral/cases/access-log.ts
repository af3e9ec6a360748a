/**
 * Who opened which case on this device: every `show` of a thread (and
 * whether the referral itself was printed), every export, report and
 * export of this log. Kept in the device's encrypted vault (the transport's
 * record store), one record per month, so the org admin can account for
 * who saw a survivor's case and export the log as CSV.
 *
 * Entries name threads by their thread id only, never by case code or
 * anything from the referral: after a consent withdrawal the thread is
 * purged but its log entries stay (who opened it, and when, is exactly what
 * an audit needs), and they then name nothing the purge removed — the
 * thread id is all the device keeps of the thread anyway (its tombstone).
 *
 * The log records what was done through Handover. It is not proof against
 * the person who holds the passphrase: they could rewrite their own vault.
 */
import type { CaseTransport } from './transport';

export const ACCESS_ACTIONS = ['show', 'show-referral', 'export', 'report', 'access-log-export'] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];

export interface AccessEntry {
  at: number;
  /** The device (profile) that did it. */
  deviceId: string;
  action: AccessAction;
  /** The threads opened (none for a report or a log export). */
  threadIds: string[];
}

const MONTHS_RECORD = 'access-log/months';
const monthRecord = (month: string): string => `access-log/${month}`;
const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

type RecordStore = Pick<CaseTransport, 'deviceId' | 'getRecord' | 'putRecord'>;

function isEntry(value: unknown): value is AccessEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<AccessEntry>;
  return (
    typeof e.at === 'number' &&
    typeof e.deviceId === 'string' &&
    (ACCESS_ACTIONS as readonly unknown[]).includes(e.action) &&
    Array.isArray(e.threadIds) &&
    e.threadIds.every((t) => typeof t === 'string')
  );
}

export class AccessLog {
  constructor(
    private readonly records: RecordStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Append one entry (to this month's record). */
  async record(action: AccessAction, threadIds: readonly string[] = []): Promise<AccessEntry> {
    const entry: AccessEntry = { at: this.now(), deviceId: this.records.deviceId, action, threadIds: [...threadIds] };
    const month = monthOf(entry.at);
    const months = await this.months();
    if (!months.includes(month)) await this.records.putRecord(MONTHS_RECORD, [...months, month].sort());
    const held = await this.records.getRecord(monthRecord(month));
    await this.records.putRecord(monthRecord(month), [...(Array.isArray(held) ? held : []), entry]);
    return entry;
  }

  private async months(): Promise<string[]> {
    const months = await this.records.getRecord(MONTHS_RECORD);
    return Array.isArray(months) ? months.filter((m): m is string => typeof m === 'string') : [];
  }

  /** Every entry, oldest first. */
  async entries(): Promise<AccessEntry[]> {
    const out: AccessEntry[] = [];
    for (const month of await this.months()) {
      const held = await this.records.getRecord(monthRecord(month));
      if (Array.isArray(held)) out.push(...held.filter(isEntry));
    }
    return out.sort((a, b) => a.at - b.at);
  }
}

const CSV_HEADER = ['time_utc', 'device_id', 'device_label', 'action', 'thread_id'];

/** A CSV field: quoted when it holds a comma, quote or line break; a leading formula character is neutralised. */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The log as CSV: one row per thread opened (an action without threads is one row with an empty thread id). */
export function accessLogCsv(entries: readonly AccessEntry[], deviceLabel: string): string {
  const rows = [CSV_HEADER.join(',')];
  for (const e of entries) {
    const time = new Date(e.at).toISOString();
    for (const threadId of e.threadIds.length > 0 ? e.threadIds : ['']) {
      rows.push([time, e.deviceId, deviceLabel, e.action, threadId].map(csvField).join(','));
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}
