/**
 * The life of one case command: open this profile's device, sign in and
 * sync the inbox, let the case layer catch up (a consent withdrawal
 * received while offline is acted on first), do the work, wait until
 * everything received has been handled, and disconnect.
 */
import { CaseService, type SentEvent } from '../../referral';
import type { HandoverClient } from '../../sdk';
import { type GlobalOptions, output, progress } from '../context';
import { openDevice } from '../device/open';

export async function withCases<T>(opts: GlobalOptions, work: (cases: CaseService, client: HandoverClient) => Promise<T>): Promise<T> {
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

/** The shared shape of every action command: send one event, then report the thread's new state. */
export function sendAndReport(opts: GlobalOptions, work: (cases: CaseService) => Promise<SentEvent>): Promise<void> {
  return withCases(opts, async (cases) => {
    const sent = await work(cases);
    const t = await cases.thread(sent.event.threadId);
    output(
      opts,
      { threadId: sent.event.threadId, eventId: sent.id, type: sent.event.type, status: t.status },
      `${sent.event.type} sent. Thread ${sent.event.threadId} is now ${t.status ?? 'unknown'}.`,
    );
  });
}
