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
import { allowedActions } from '../../../client/web/src/thread';

function fakes() {
  const records = new Map<string, unknown>();
  const sent: string[] = [];
  const events: ThreadEvent[] = [];
  const state = { online: false, fail: undefined as HandoverError | undefined };
  const view = { purged: false, participants: ['ngo-taraz', 'shelter-ist'] };
  const shared: string[] = [];
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
    // A thread as the case layer shows it: purged once this device sent a withdrawal, with who is in it.
    thread: async () => ({ purged: view.purged ? { purgedAt: 1 } : null, consentWithdrawal: null, participants: view.participants.map((orgId) => ({ orgId })) }),
    withdrawConsent: async (threadId: string, body: { recordedBy: { name: string } }) => {
      if (state.fail) throw state.fail;
      sent.push(`${threadId}:withdraw-consent:${body.recordedBy.name}`);
      view.purged = true;
      events.length = 0;
    },
    addParticipant: async (threadId: string, body: { orgId: string; purpose: string; overrideReason?: string }) => {
      if (state.fail) throw state.fail;
      sent.push(`${threadId}:add:${body.orgId}:${body.purpose}:${body.overrideReason ?? ''}`);
      view.participants.push(body.orgId);
      events.push({ id: `h${sent.length}`, event: { type: 'participant.add', body: { orgId: body.orgId }, at: Date.now(), author: { deviceId: 'shelter-ist:desk' } } } as unknown as ThreadEvent);
    },
    shareHistory: async (threadId: string, orgId: string) => void shared.push(`${threadId}:${orgId}`),
  } as unknown as CaseService;
  return { records, sent, events, state, client, cases, view, shared };
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

const withdrawal = { kind: 'withdraw-consent', body: { givenBy: 'survivor', method: 'verbal', recordedBy: { name: 'Aigul' } } } as const;

it('keeps a consent withdrawal offline, sends it once, and takes the purged thread\'s other items with it', async () => {
  const f = fakes();
  // A note of the same thread refused earlier (failed, kept for the user to see): it holds the case's words.
  await f.client.putRecord('web-outbox', [{ id: 'n0', threadId: 'T1', kind: 'note', body: { text: 'before' }, queuedAt: 1, failed: { code: 'INVALID_EVENT', message: 'refused' } }]);
  const outbox = await Outbox.load(f.client, f.cases);
  expect(await outbox.submit('T1', withdrawal)).toBe('queued');
  expect(await outbox.submit('T2', { kind: 'note', body: { text: 'other case' } })).toBe('queued');
  expect((f.records.get('web-outbox') as OutboxItem[]).map((i) => i.kind)).toEqual(['note', 'withdraw-consent', 'note']);

  // A reload while the relay is away: the withdrawal still waits; then the relay is back.
  const again = await Outbox.load(f.client, f.cases);
  expect(again.list('T1').map((i) => i.kind)).toEqual(['note', 'withdraw-consent']);
  f.state.online = true;
  await again.flush();
  await again.flush();
  expect(f.sent).toEqual(['T1:withdraw-consent:Aigul', 'T2:other case']);
  // The purged thread keeps nothing in the outbox (not even the failed note); the other case's note went on its own.
  expect(again.count).toBe(0);
  expect(f.records.get('web-outbox')).toEqual([]);
});

it('does not send a withdrawal again once the thread is purged (the relay took it before a reload), nor one refused as not transient', async () => {
  const f = fakes();
  const outbox = await Outbox.load(f.client, f.cases);
  expect(await outbox.submit('T1', withdrawal)).toBe('queued');
  f.view.purged = true; // sent before the reload: this device purged the thread already
  f.state.online = true;
  await (await Outbox.load(f.client, f.cases)).flush();
  expect(f.sent).toEqual([]);
  expect(f.records.get('web-outbox')).toEqual([]);

  const g = fakes();
  const box = await Outbox.load(g.client, g.cases);
  expect(await box.submit('T1', withdrawal)).toBe('queued');
  g.state.online = true;
  g.state.fail = new HandoverError('INVALID_EVENT', 'consent.withdraw is not possible when the referral is closed');
  await box.flush();
  expect(box.list('T1')[0]?.failed?.message).toMatch(/not possible/);
  g.state.fail = undefined;
  await box.flush();
  expect(g.sent).toEqual([]);
});

it('keeps adding an org offline with its override reason, sends it once, and fails it with the reason when the case layer refuses at send time', async () => {
  const f = fakes();
  const outbox = await Outbox.load(f.client, f.cases);
  const add = { kind: 'add-participant', body: { orgId: 'clinic-ala', purpose: 'services', overrideReason: 'She needs a doctor tonight' } } as const;
  expect(await outbox.submit('T1', add)).toBe('queued');
  expect((f.records.get('web-outbox') as OutboxItem[])[0]).toMatchObject(add);
  f.state.online = true;
  const again = await Outbox.load(f.client, f.cases);
  await again.flush();
  await again.flush();
  expect(f.sent).toEqual(['T1:add:clinic-ala:services:She needs a doctor tonight']);
  expect(again.count).toBe(0);

  // Refused by the case layer when it is sent (the consent no longer covers it): failed with the reason, not retried.
  f.state.online = false;
  expect(await again.submit('T1', { kind: 'add-participant', body: { orgId: 'police-ast', purpose: 'legal' } })).toBe('queued');
  f.state.online = true;
  f.state.fail = new HandoverError('CONSENT_SCOPE', 'the consent does not cover police-ast');
  await again.flush();
  expect(again.list('T1')[0]?.failed).toEqual({ code: 'CONSENT_SCOPE', message: 'the consent does not cover police-ast' });
  f.state.fail = undefined;
  await again.flush();
  expect(f.sent).toHaveLength(1);
});

it('does not add an org again that is a participant already, and finishes the history it may not have had', async () => {
  const f = fakes();
  f.state.online = true;
  const outbox = await Outbox.load(f.client, f.cases);
  // Handed over, and the relay took it, but the page went before the item was removed: simulated by the records of that moment.
  const item: OutboxItem = { id: 'a1', threadId: 'T1', kind: 'add-participant', body: { orgId: 'clinic-ala', purpose: 'services' }, queuedAt: 1, triedAt: Date.now() - 1000 };
  await f.client.putRecord('web-outbox', [item]);
  f.view.participants.push('clinic-ala');
  f.events.push({ id: 'p', event: { type: 'participant.add', body: { orgId: 'clinic-ala' }, at: Date.now(), author: { deviceId: 'shelter-ist:desk' } } } as unknown as ThreadEvent);
  const again = await Outbox.load(f.client, f.cases);
  await again.flush();
  expect(f.sent).toEqual([]);
  expect(f.shared).toEqual(['T1:clinic-ala']);
  expect(again.count).toBe(0);
  void outbox;
});

it('recognises a sent withdrawal and an added org by the thread, whoever made them', () => {
  const base = { id: 'a', threadId: 'T', queuedAt: 100 };
  const facts = (over: Partial<{ purged: boolean; withdrawn: boolean; participants: string[] }> = {}) =>
    ({ purged: over.purged ? { purgedAt: 1 } : null, consentWithdrawal: over.withdrawn ? {} : null, participants: (over.participants ?? ['a']).map((orgId) => ({ orgId })) }) as never;
  const w: OutboxItem = { ...base, ...withdrawal };
  expect(sentAlready(w, [], 'd1', facts())).toBe(false);
  expect(sentAlready(w, [], 'd1', facts({ purged: true }))).toBe(true);
  expect(sentAlready(w, [], 'd1', facts({ withdrawn: true }))).toBe(true);
  expect(sentAlready(w, [], 'd1')).toBe(false);
  const add: OutboxItem = { ...base, kind: 'add-participant', body: { orgId: 'b', purpose: 'services' } };
  expect(sentAlready(add, [], 'd1', facts())).toBe(false);
  expect(sentAlready(add, [], 'd1', facts({ participants: ['a', 'b'] }))).toBe(true);
});

it('offers nothing more in a thread while its consent withdrawal waits in the outbox', () => {
  expect(allowedActions('accepted', 'receiving')).toEqual(expect.arrayContaining(['note', 'schedule', 'withdraw-consent', 'add-participant']));
  expect(allowedActions('accepted', 'receiving', undefined, true)).toEqual([]);
  expect(allowedActions('sent', 'sender', 'iom', true)).toEqual([]);
});
