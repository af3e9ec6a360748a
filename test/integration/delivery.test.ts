/**
 * Delivery state (issue 13) on a real relay: a sender sees "stored by the
 * relay", "delivered to n of m devices" and "expired undelivered" for each
 * message, kept across restarts of its app; what expired can be sent again
 * (forwarded as signed by its author) and then reaches the device that was
 * away. The relay's notices are untrusted: a notice naming a device the
 * message never went to, or a message this device never sent, changes
 * nothing.
 */
import { byOrg, DeliveryLog } from '../../client/sdk/delivery';
import { HandoverClient } from '../../client/sdk/client';
import { MemoryStorage } from '../../client/sdk/storage';
import { Vault } from '../../client/sdk/vault';
import { loadCrypto } from '../../shared/crypto/sodium';
import { DAY_MS } from '../../shared/time';
import { PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { TestNetwork } from '../support/network';
import { enrolClient, eventually, startTestRelay } from '../support/relay';

const THREAD = 'DDDDDDDDDDDDDDDDDDDDDA';

describe('delivery state on a real relay', () => {
  it('shows stored, delivered n of m, expired undelivered; resend reaches the device that was away; the log survives a restart', async () => {
    const crypto = await loadCrypto();
    const network = new TestNetwork(crypto, Date.now());
    const fx = await startTestRelay(network, { config: { retentionMs: 2500, expirySweepMs: 100 } });
    const clients: HandoverClient[] = [];
    try {
      const senderStorage = new MemoryStorage();
      const sender = await enrolClient(fx, network.addOrg('dl-ngo', 'ngo'), 'dana', { storage: senderStorage });
      const shelter = network.addOrg('dl-shelter', 'shelter');
      const online = await enrolClient(fx, shelter, 'amina');
      const away = await enrolClient(fx, shelter, 'bora');
      clients.push(sender, online, away);
      await away.close();

      const before = Date.now();
      const sent = await sender.send({ threadId: THREAD, orgIds: ['dl-shelter'], payload: 'intake at 18:00' });
      await eventually(async () => (await sender.deliveryState(THREAD))[0]?.delivered.length === 1, 10_000, 'delivered to the online device');
      const [entry] = await sender.deliveryState(THREAD);
      expect(entry).toMatchObject({ messageId: sent.messageId, threadId: THREAD, delivered: ['dl-shelter:amina'], expired: [] });
      expect(entry!.storedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(entry!.recipients).toEqual(expect.arrayContaining(['dl-shelter:amina', 'dl-shelter:bora']));
      expect(byOrg(entry!).find((o) => o.orgId === 'dl-shelter')).toEqual({ orgId: 'dl-shelter', devices: 2, delivered: 1, expired: 0 });

      // Bora's device stays away longer than the relay keeps envelopes: the sender is told.
      await eventually(async () => (await sender.deliveryState(THREAD))[0]!.expired.includes('dl-shelter:bora'), 10_000, 'expired undelivered');
      expect(byOrg((await sender.deliveryState(THREAD))[0]!).find((o) => o.orgId === 'dl-shelter')).toMatchObject({ delivered: 1, expired: 1 });
      // Handled notices are acked only once recorded: the relay forgets them.
      await eventually(async () => (await fx.relay.store.readNotices('dl-ngo:dana', 10)).length === 0, 5000, 'notice acked');

      // The sender's app restarts: the log is in its encrypted storage.
      await sender.close();
      const restarted = await HandoverClient.open({ crypto, storage: senderStorage, passphrase: 'correct horse battery staple', ackTimeoutMs: 3000 });
      clients.push(restarted);
      await restarted.connect();
      expect((await restarted.deliveryState(THREAD))[0]!.expired).toEqual(['dl-shelter:bora']);

      // Bora comes back to an empty inbox; the sender sends again what expired.
      await away.connect();
      expect(await away.threadIds()).toEqual([]);
      expect(await restarted.resendExpired(THREAD)).toBe(1);
      await eventually(async () => (await away.threadMessages(THREAD)).some((m) => m.messageId === sent.messageId), 10_000, 'the resent message on the device that was away');
      const resent = (await away.threadMessages(THREAD)).find((m) => m.messageId === sent.messageId)!;
      // Forwarded as signed: the author and time are the original's.
      expect(resent).toMatchObject({ senderDeviceId: 'dl-ngo:dana', sentAt: sent.sentAt, payload: 'intake at 18:00' });
      const after = (await restarted.deliveryState(THREAD))[0]!;
      expect(after.expired).toEqual([]);
      expect(after.resent?.deviceIds).toEqual(['dl-shelter:bora']);
      // Nothing is sent twice.
      expect(await restarted.resendExpired(THREAD)).toBe(0);
    } finally {
      for (const c of clients) await c.close();
      await fx.close();
    }
  });
});

describe('read receipts on a real relay', () => {
  it('off unless the org turns them on; then one signed receipt per author org, dated by its envelope, shown to the sender; colleagues do not receipt again; forged receipts change nothing', async () => {
    const crypto = await loadCrypto();
    const network = new TestNetwork(crypto, Date.now());
    const fx = await startTestRelay(network);
    const clients: HandoverClient[] = [];
    try {
      const sender = await enrolClient(fx, network.addOrg('rr-ngo', 'ngo'), 'dana');
      const shelter = network.addOrg('rr-shelter', 'shelter');
      const amina = await enrolClient(fx, shelter, 'amina');
      const bora = await enrolClient(fx, shelter, 'bora');
      const mallory = await enrolClient(fx, network.addOrg('rr-other', 'ngo'), 'mallory');
      clients.push(sender, amina, bora, mallory);

      const sent = await sender.send({ threadId: THREAD, orgIds: ['rr-shelter'], payload: 'intake at 18:00' });
      await eventually(async () => (await amina.threadMessages(THREAD)).length === 1 && (await bora.threadMessages(THREAD)).length === 1, 10_000, 'the message on both shelter devices');
      await eventually(async () => (await sender.deliveryState(THREAD))[0]?.delivered.length === 2, 10_000, 'delivered');

      // Off by default: reading tells nobody.
      expect(await amina.readReceiptsEnabled()).toBe(false);
      expect(await amina.markRead(THREAD)).toBe(0);

      // Forged: an org the message never went to, and the right org naming it from another thread.
      const receipt = { kind: 'handover.receipt', v: 1, read: [sent.messageId] };
      await mallory.sendAll([{ threadId: THREAD, orgIds: ['rr-ngo'], payload: receipt, carries: 'receipt' }]);
      await amina.sendAll([{ threadId: 'DDDDDDDDDDDDDDDDDDDDDQ', orgIds: ['rr-ngo'], payload: receipt, carries: 'receipt' }]);
      // A malformed receipt is an envelope that failed in itself: recorded, acked, nothing else.
      await mallory.sendAll([{ threadId: THREAD, orgIds: ['rr-ngo'], payload: { kind: 'handover.receipt', v: 1, read: [] }, carries: 'receipt' }]);
      await eventually(async () => (await sender.failedMessages()).some((f) => f.code === 'BAD_REQUEST'), 10_000, 'the malformed receipt recorded');
      await sender.idle();
      expect((await sender.deliveryState(THREAD))[0]!.opened).toBeUndefined();

      await amina.setReadReceipts(true);
      await bora.setReadReceipts(true);
      const before = Date.now();
      expect(await amina.markRead(THREAD)).toBe(1);
      expect(await amina.markRead(THREAD)).toBe(0); // once per message
      await eventually(async () => (await sender.deliveryState(THREAD))[0]!.opened?.['rr-shelter'] !== undefined, 10_000, 'opened shown to the sender');
      const [entry] = await sender.deliveryState(THREAD);
      expect(entry!.opened!['rr-shelter']!.deviceId).toBe('rr-shelter:amina');
      expect(entry!.opened!['rr-shelter']!.at).toBeGreaterThanOrEqual(before - 1000);
      expect(byOrg(entry!).find((o) => o.orgId === 'rr-shelter')!.openedAt).toBe(entry!.opened!['rr-shelter']!.at);

      // Bora's device got its colleague's receipt: the org has receipted this message already.
      await eventually(async () => (await bora.markRead(THREAD)) === 0, 10_000, 'the colleague receipt remembered');
      // Receipts are never thread messages, on either side.
      for (const c of [sender, amina, bora]) expect((await c.threadMessages(THREAD)).map((m) => m.messageId)).toEqual([sent.messageId]);
    } finally {
      for (const c of clients) await c.close();
      await fx.close();
    }
  });
});

describe('DeliveryLog (the relay\'s notices are untrusted input)', () => {
  async function log(now = () => 1_000_000_000_000) {
    const crypto = await loadCrypto();
    const vault = await Vault.create(crypto, new MemoryStorage(), 'delivery log test pass', PWHASH_TEST_ONLY);
    return { log: new DeliveryLog(vault, now, () => 14 * DAY_MS), vault, crypto };
  }
  const entry = { messageId: 'm1', threadId: THREAD, sentAt: 1_000_000_000_000, recipients: ['s:a', 's:b', 'i:c'] };

  it('ignores notices for messages it never sent or devices the message never went to', async () => {
    const { log: l } = await log();
    await l.sent(entry);
    await l.delivered('m1', 'evil:x');
    await l.delivered('unknown', 's:a');
    await l.expired('m1', ['evil:y', 's:a']);
    await l.expired('other', ['s:b']);
    const [e] = await l.list();
    expect(e!.delivered).toEqual([]);
    expect(e!.expired).toEqual(['s:a']);
    expect(await l.list('another-thread')).toEqual([]);
  });

  it('a delivered notice that comes before the sender recorded its message still counts, for that message\'s recipients only', async () => {
    const { log: l } = await log();
    await l.delivered('m1', 's:a');
    await l.delivered('m1', 'evil:x');
    await l.expired('m1', ['i:c']);
    expect(await l.list()).toEqual([]);
    await l.sent(entry);
    const [e] = await l.list();
    expect(e!.delivered).toEqual(['s:a']);
    expect(e!.expired).toEqual(['i:c']);
  });

  it('a delivered notice wins over an expiry; repeated notices count once', async () => {
    const { log: l } = await log();
    await l.sent(entry);
    await l.expired('m1', ['s:a', 's:a']);
    await l.delivered('m1', 's:a');
    await l.delivered('m1', 's:a');
    await l.expired('m1', ['s:a']);
    const [e] = await l.list();
    expect(e!.delivered).toEqual(['s:a']);
    expect(e!.expired).toEqual([]);
    expect(byOrg(e!)).toEqual([
      { orgId: 'i', devices: 1, delivered: 0, expired: 0 },
      { orgId: 's', devices: 2, delivered: 1, expired: 0 },
    ]);
  });

  it('a read receipt counts only for messages of its thread sent to a device of its org; the first one per org stays', async () => {
    const { log: l } = await log();
    await l.sent(entry);
    await l.opened('another-thread', ['m1'], { orgId: 's', deviceId: 's:a' }, 5);
    await l.opened(THREAD, ['m1', 'unknown'], { orgId: 'evil', deviceId: 'evil:x' }, 6);
    expect((await l.list())[0]!.opened).toBeUndefined();
    await l.opened(THREAD, ['m1'], { orgId: 's', deviceId: 's:b' }, 7);
    await l.opened(THREAD, ['m1'], { orgId: 's', deviceId: 's:a' }, 8);
    const [e] = await l.list();
    expect(e!.opened).toEqual({ s: { at: 7, deviceId: 's:b' } });
    expect(byOrg(e!).find((o) => o.orgId === 's')!.openedAt).toBe(7);
    expect(byOrg(e!).find((o) => o.orgId === 'i')!.openedAt).toBeUndefined();
  });

  it('forgets what is older than the retention window plus a day (nothing can change it any more)', async () => {
    let t = 1_000_000_000_000;
    const { log: l } = await log(() => t);
    await l.sent(entry);
    t += 16 * DAY_MS;
    await l.sent({ ...entry, messageId: 'm2', sentAt: t });
    expect((await l.list()).map((e) => e.messageId)).toEqual(['m2']);
  });
});
