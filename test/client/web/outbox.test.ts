/**
 * The web outbox without a browser: actions kept in the vault record before
 * they are tried, sent once when the relay is there, kept while it is not,
 * marked failed (not retried) when the thread refuses them, and not sent
 * again after a reload when the thread already holds them.
 */
import type { CaseService, ThreadEvent } from '../../../client/referral';
import type { HandoverClient } from '../../../client/sdk';
import { HandoverError } from '../../../shared/errors';
import { Outbox, sentAlready, type OutboxItem } from '../../../client/web/src/outbox';

function fakes() {
  const records = new Map<string, unknown>();
  const sent: string[] = [];
  const events: ThreadEvent[] = [];
  const state = { online: false, fail: undefined as HandoverError | undefined };
  let n = 0;
  const client = {
    deviceId: 'shelter-ist:desk',
    get online() {
      return state.online;
    },
    crypto: { random: (size: number) => new Uint8Array(size).fill(++n) },
    putRecord: async (name: string, value: unknown) => void records.set(name, JSON.parse(JSON.stringify(value))),
    getRecord: async (name: string) => records.get(name),
  } as unknown as HandoverClient;
  const cases = {
    note: async (threadId: string, text: string) => {
      if (state.fail) throw state.fail;
      sent.push(`${threadId}:${text}`);
      events.push({ id: `h${sent.length}`, event: { type: 'note', body: { text }, at: Date.now(), author: { deviceId: 'shelter-ist:desk' } } } as unknown as ThreadEvent);
    },
    events: async () => events,
    pendingReferrals: async () => [],
  } as unknown as CaseService;
  return { records, sent, events, state, client, cases };
}

it('keeps what is sent offline in the vault record and sends it once when the relay is there', async () => {
  const f = fakes();
  const outbox = await Outbox.load(f.client, f.cases);
  expect(await outbox.submit('T1', { kind: 'note', body: { text: 'first' } })).toBe('queued');
  expect(await outbox.submit('T1', { kind: 'note', body: { text: 'first' } })).toBe('queued');
  expect(outbox.count).toBe(2);
  expect((f.records.get('web-outbox') as OutboxItem[]).map((i) => i.kind)).toEqual(['note', 'note']);
  expect(outbox.stateOf(outbox.list()[0]!)).toBe('waiting');

  // Loaded again (a reload): the same two wait; the relay is back; each goes once, in order (two equal notes are two notes).
  const again = await Outbox.load(f.client, f.cases);
  expect(again.list('T1')).toHaveLength(2);
  f.state.online = true;
  await again.flush();
  await again.flush();
  expect(f.sent).toEqual(['T1:first', 'T1:first']);
  expect(again.count).toBe(0);
  expect(f.records.get('web-outbox')).toEqual([]);
});

it('keeps an item while the relay cannot take it, and marks one the thread refuses as failed, not retried', async () => {
  const f = fakes();
  f.state.online = true;
  const outbox = await Outbox.load(f.client, f.cases);
  f.state.fail = new HandoverError('UNAVAILABLE', 'the relay did not accept the message; it was not sent');
  expect(await outbox.submit('T1', { kind: 'note', body: { text: 'slow' } })).toBe('queued');
  expect(outbox.count).toBe(1);
  // Sent directly and refused by the thread: the caller is told, nothing is kept.
  f.state.fail = new HandoverError('INVALID_EVENT', 'note is not possible when the referral is consent-withdrawn');
  await expect(outbox.submit('T2', { kind: 'note', body: { text: 'late' } })).rejects.toThrow(/consent-withdrawn/);
  expect(outbox.list('T2')).toHaveLength(0);
  // Refused while flushing: kept as failed with the reason, for the user to see and discard.
  await outbox.flush();
  const [item] = outbox.list('T1');
  expect(item?.failed).toEqual({ code: 'INVALID_EVENT', message: 'note is not possible when the referral is consent-withdrawn' });
  expect(outbox.stateOf(item!)).toBe('failed');
  f.state.fail = undefined;
  await outbox.flush();
  expect(f.sent).toEqual([]);
  await outbox.discard(item!.id);
  expect(outbox.count).toBe(0);
});

it('does not send again what the thread already holds from this device since it was handed over', () => {
  const item: OutboxItem = { id: 'a', threadId: 'T', kind: 'note', body: { text: 'hi' }, queuedAt: 100, triedAt: 200 };
  const ev = (at: number, text: string, deviceId = 'd1') => ({ id: 'x', event: { type: 'note', at, body: { text }, author: { deviceId } } }) as unknown as ThreadEvent;
  expect(sentAlready(item, [ev(250, 'hi')], 'd1')).toBe(true);
  expect(sentAlready(item, [ev(150, 'hi')], 'd1')).toBe(false); // an equal note from before it was handed over
  expect(sentAlready(item, [ev(250, 'hi', 'd2')], 'd1')).toBe(false);
  expect(sentAlready(item, [ev(250, 'ho')], 'd1')).toBe(false);
  expect(sentAlready({ ...item, triedAt: undefined }, [ev(250, 'hi')], 'd1')).toBe(false); // never handed over
});
