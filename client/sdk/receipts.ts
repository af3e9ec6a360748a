/**
 * Read receipts (issue 13, PROTOCOL.md §4.11): when a person opens a thread
 * and their org has turned receipts on, their device tells each author org
 * which of its messages were read, in an ordinary envelope — so the receipt
 * is signed by the reader's device and dated by the envelope's signed
 * `sentAt`, never by anything the relay says. Receipts are off unless the
 * org turns them on: when a shelter reads a referral is itself something
 * about the shelter's work, and it goes to the author's org only.
 *
 * A receipt is metadata about messages, not a message: it is never stored
 * in the thread and never reaches the case layer. A device remembers what
 * it (or a colleague of its org) already receipted, so each message is
 * receipted once per org.
 */
import { z } from 'zod';
import { MessageId } from '../../shared';
import type { StoredMessage } from './messages';
import { SerialQueue } from './serial-queue';
import type { Vault } from './vault';

/** Message ids one receipt may name. */
export const MAX_READ_PER_RECEIPT = 500;
const RECEIPTED_RECORD = 'receipts/sent';
const SETTING_RECORD = 'settings/read-receipts';
/** Receipted ids remembered (oldest forgotten first; long past the relay's retention window). */
const MAX_REMEMBERED = 20_000;

export const ReadReceipt = z.strictObject({
  kind: z.literal('handover.receipt'),
  v: z.literal(1),
  read: z.array(MessageId).min(1).max(MAX_READ_PER_RECEIPT),
});
export type ReadReceipt = z.infer<typeof ReadReceipt>;

export function isReceiptPayload(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && (payload as { kind?: unknown }).kind === 'handover.receipt';
}

export class ReceiptBook {
  private receipted: string[] | undefined;
  private readonly queue = new SerialQueue();

  constructor(private readonly vault: Vault) {}

  async enabled(): Promise<boolean> {
    return (await this.vault.get(SETTING_RECORD)) === true;
  }

  async setEnabled(on: boolean): Promise<void> {
    await this.vault.put(SETTING_RECORD, on);
  }

  private async load(): Promise<string[]> {
    if (!this.receipted) {
      const stored = await this.vault.get(RECEIPTED_RECORD);
      this.receipted = Array.isArray(stored) ? stored.filter((id): id is string => typeof id === 'string') : [];
    }
    return this.receipted;
  }

  /** The receipts owed for a thread's messages: per author org, the ids of other orgs' messages not yet receipted. */
  async owed(messages: readonly StoredMessage[], ownOrgId: string): Promise<Map<string, string[]>> {
    const done = new Set(await this.load());
    const owed = new Map<string, string[]>();
    for (const m of messages) {
      if (m.direction !== 'in' || m.senderOrgId === ownOrgId || done.has(m.messageId)) continue;
      owed.set(m.senderOrgId, [...(owed.get(m.senderOrgId) ?? []), m.messageId]);
    }
    return owed;
  }

  /** Remember ids as receipted (sent by this device, or seen in a colleague's receipt). */
  remember(ids: readonly string[]): Promise<void> {
    return this.queue.run(async () => {
      const list = await this.load();
      const known = new Set(list);
      const fresh = ids.filter((id) => !known.has(id));
      if (fresh.length === 0) return;
      this.receipted = [...list, ...fresh].slice(-MAX_REMEMBERED);
      await this.vault.put(RECEIPTED_RECORD, this.receipted);
    });
  }
}
