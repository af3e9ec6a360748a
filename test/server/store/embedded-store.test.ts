/**
 * The store contract against the embedded store (LevelDB in a temporary
 * folder), plus what only it must show: everything survives closing and
 * reopening the folder, a kill -9 of the process that wrote it loses
 * nothing it acknowledged, one process at a time holds a folder, the
 * folder is private (0700), and lapsed data leaves the disk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { createStore } from '../../../server/store';
import { EmbeddedStore, type EmbeddedStoreOptions } from '../../../server/store/embedded-store';
import type { RelayStore } from '../../../server/store/types';
import { isHandoverError } from '../../../shared/errors';
import { ALL_BYTES, FakeClock, T0, describeStoreContract, envelope } from './contract';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const ROOT = path.resolve(__dirname, '../../..');

let tmp: string;
let folders = 0;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'handover-embedded-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});
const freshDir = () => path.join(tmp, `store-${++folders}`);

describeStoreContract('embedded', () => {
  const opened: RelayStore[] = [];
  return {
    // One process holds the folder: a "second connection" is the same store, as for the in-memory store.
    async open(options) {
      const store = await EmbeddedStore.open({ ...options, dir: freshDir() });
      opened.push(store);
      return { store, twin: async () => store };
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    },
  };
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => (isHandoverError(err) ? err.code : `not a HandoverError: ${String(err)}`),
  );
}

describe('embedded store on disk', () => {
  let dir: string;
  let clock: FakeClock;
  let store: EmbeddedStore | undefined;
  const open = async (extra: Partial<EmbeddedStoreOptions> = {}) => (store = await EmbeddedStore.open({ dir, now: clock.now, ...extra }));

  beforeEach(() => {
    dir = freshDir();
    clock = new FakeClock();
  });

  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('is what createStore gives for a folder, and creates the folder private (0700)', async () => {
    const made = await createStore({ embeddedDir: dir });
    expect(made.kind).toBe('embedded');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await made.close();
  });

  it('keeps every kind of durable data through a close and reopen', async () => {
    const s = await open();
    await s.putOrg('org-a', '{"org":"a1"}');
    await s.putOrg('org-a', '{"org":"a2"}');
    await s.putDevice('dev-a', 'org-a', '{"dev":"a"}');
    await s.putDevice('dev-c', 'org-a', '{"dev":"c"}');
    await s.putDevice('dev-c', 'org-b', '{"dev":"c2"}');
    await s.appendRevocation('root', 1, '{"rev":1}');
    await s.appendRevocation('root', 2, '{"rev":2}');
    await s.setSignedPrekeys('dev-a', '{"spk":1}');
    await s.addOneTimePrekeys('dev-a', [{ id: 1, json: '{"otpk":1}' }, { id: 2, json: '{"otpk":2}' }, { id: 3, json: '{"otpk":3}' }], 10);
    await s.popOneTimePrekey('dev-a');
    await s.putSession('hash-1', 'dev-a', 10 * MINUTE);
    expect(await s.enqueue(envelope('msg-1', ['dev-a', 'dev-b'], { blob: ALL_BYTES }))).toEqual({ status: 'stored' });
    await s.enqueue(envelope('msg-2', ['dev-a']));
    await s.enqueue(envelope('msg-3', ['dev-b']));
    await s.ackDelivery('dev-b', 'msg-1');
    const notice = await s.putNotice('dev-a', '{"n":1}');
    await s.putNotice('dev-a', '{"n":2}');
    await s.close();

    const again = await open();
    expect(await again.getOrg('org-a')).toBe('{"org":"a2"}');
    expect(await again.listOrgHistory('org-a')).toEqual(['{"org":"a1"}', '{"org":"a2"}']);
    expect(await again.getDevice('dev-a')).toEqual({ deviceId: 'dev-a', orgId: 'org-a', certJson: '{"dev":"a"}' });
    expect(await again.listOrgDeviceIds('org-a')).toEqual(['dev-a']);
    expect(await again.listOrgDeviceIds('org-b')).toEqual(['dev-c']);
    expect(await again.revocationHead('root')).toBe(2);
    expect(await again.appendRevocation('root', 2, 'again')).toEqual({ status: 'conflict', head: 2 });
    expect(await again.getSignedPrekeys('dev-a')).toBe('{"spk":1}');
    expect(await again.popOneTimePrekey('dev-a')).toEqual({ id: 2, json: '{"otpk":2}' });
    // Ids at or below the highest ever uploaded stay refused after a restart.
    expect(await again.addOneTimePrekeys('dev-a', [{ id: 1, json: '{}' }, { id: 4, json: '{"otpk":4}' }], 10)).toEqual({ status: 'ok', added: 1, count: 2 });
    expect(await again.getSession('hash-1')).toEqual({ deviceId: 'dev-a', expiresAt: T0 + 10 * MINUTE });
    const inboxA = await again.readInbox('dev-a', 10);
    expect(inboxA.map((i) => i.messageId)).toEqual(['msg-1', 'msg-2']);
    expect(Array.from(inboxA[0]?.blob ?? [])).toEqual(Array.from(ALL_BYTES));
    expect((await again.readInbox('dev-b', 10)).map((i) => i.messageId)).toEqual(['msg-3']);
    expect(await again.enqueue(envelope('msg-1', ['dev-a']))).toEqual({ status: 'duplicate', sameEnvelope: true });
    expect((await again.readNotices('dev-a', 10)).map((n) => n.json)).toEqual(['{"n":1}', '{"n":2}']);
    expect(await again.ackNotice('dev-a', notice)).toBe(true);
    // New inbox entries and notices come after the old ones.
    await again.enqueue(envelope('msg-4', ['dev-a']));
    await again.putNotice('dev-a', '{"n":3}');
    expect((await again.readInbox('dev-a', 10)).map((i) => i.messageId)).toEqual(['msg-1', 'msg-2', 'msg-4']);
    expect((await again.readNotices('dev-a', 10)).map((n) => n.json)).toEqual(['{"n":2}', '{"n":3}']);
    expect(await again.ackDelivery('dev-a', 'msg-1')).toBe(true);
    await again.close();

    const third = await open();
    expect((await third.readInbox('dev-a', 10)).map((i) => i.messageId)).toEqual(['msg-2', 'msg-4']);
    expect(await third.readInbox('dev-b', 10).then((items) => items.map((i) => i.messageId))).toEqual(['msg-3']);
    // Expiry still reports the recipients an envelope waits for after a restart.
    expect(await third.takeExpired(T0 + 2 * DAY, 10)).toEqual([
      { messageId: 'msg-2', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-a' },
      { messageId: 'msg-3', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-b' },
      { messageId: 'msg-4', senderDeviceId: 'dev-sender', recipientDeviceId: 'dev-a' },
    ]);
  });

  it('keeps challenges, socket tickets and rate windows in memory only: a restart forgets them', async () => {
    const s = await open();
    await s.putChallenge('chal-1', 'nonce', MINUTE);
    await s.putSocketTicket('ticket-1', 'dev-a', MINUTE);
    await s.hitRateLimit('ip:1', MINUTE, 1);
    expect((await s.hitRateLimit('ip:1', MINUTE, 1)).allowed).toBe(false);
    await s.close();
    const again = await open();
    expect(await again.takeChallenge('chal-1')).toBeNull();
    expect(await again.takeSocketTicket('ticket-1')).toBeNull();
    expect((await again.hitRateLimit('ip:1', MINUTE, 1)).allowed).toBe(true);
  });

  it('refuses a second opener of the same folder (another relay process), saying to use Redis for several', async () => {
    const s = await open();
    const second = EmbeddedStore.open({ dir, now: clock.now });
    await expect(second).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/in use by another relay process[\s\S]*REDIS_URL/) });
    await s.putOrg('org-a', '{}');
    expect(await s.getOrg('org-a')).toBe('{}');
  });

  it('answers UNAVAILABLE once closed', async () => {
    const s = await open();
    await s.close();
    store = undefined;
    expect(await codeOf(s.getOrg('org-a'))).toBe('UNAVAILABLE');
    expect(await codeOf(s.enqueue(envelope('msg-1', ['dev-a'])))).toBe('UNAVAILABLE');
    expect(await codeOf(s.ping())).toBe('UNAVAILABLE');
  });

  it('removes lapsed sessions, message ids and notices from the disk, keeping live ones', async () => {
    const s = await open({ retentionMs: 7 * DAY });
    await s.putSession('hash-old', 'dev-a', MINUTE);
    await s.putSession('hash-new', 'dev-a', 30 * DAY);
    await s.enqueue(envelope('msg-old', ['dev-a']));
    await s.ackDelivery('dev-a', 'msg-old');
    await s.putNotice('dev-a', '{"old":1}');
    clock.advance(7 * DAY);
    await s.enqueue(envelope('msg-new', ['dev-a'], { expiresAt: clock.time + DAY }));
    await s.prune();
    await s.close();
    store = undefined;

    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    const keysOnDisk: string[] = [];
    for await (const key of db.keys()) keysOnDisk.push(key);
    await db.close();
    expect(keysOnDisk.filter((k) => /^(sess|seen|note)\//.test(k)).sort()).toEqual(['seen/msg-new', 'sess/hash-new']);
  });

  it('loses nothing it acknowledged when its process is killed with SIGKILL mid-writes', async () => {
    const child = spawnWriter(dir);
    const acked = await readAcks(child, 300);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const again = await open();
    const inbox = new Set((await again.readInbox('dev-a', 1000)).map((i) => i.messageId));
    for (const id of acked) expect(inbox.has(id)).toBe(true);
    // Each envelope once, as the writer sent it: no torn or repeated entries.
    expect(await again.inboxLength('dev-a')).toBe(inbox.size);
    for (const item of await again.readInbox('dev-a', 1000)) expect(Array.from(item.blob)).toEqual(Array.from(ALL_BYTES));
  }, 60_000);
});

/** A child process that enqueues envelopes as fast as it can and prints each acknowledged id. */
function spawnWriter(dir: string): ChildProcess {
  const storeModule = path.join(ROOT, 'server/store/embedded-store.ts');
  const script = `
    const { EmbeddedStore } = require(${JSON.stringify(storeModule)});
    (async () => {
      const store = await EmbeddedStore.open({ dir: ${JSON.stringify(dir)} });
      const blob = Uint8Array.from({ length: 256 }, (_, i) => i);
      let n = 0;
      const one = async () => {
        for (;;) {
          const id = 'msg-' + (n++);
          await store.enqueue({ messageId: id, fingerprint: 'fp-' + id, senderDeviceId: 'dev-s', recipientDeviceIds: ['dev-a'], blob, expiresAt: Date.now() + 86400000 });
          process.stdout.write(id + '\\n');
        }
      };
      await Promise.all([one(), one(), one(), one()]);
    })();
  `;
  const loader = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return spawn(process.execPath, ['--import', loader, '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Resolves with the acknowledged ids once at least `count` arrived. */
function readAcks(child: ChildProcess, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const acked: string[] = [];
    let rest = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      acked.push(...lines.filter(Boolean));
      if (acked.length >= count) resolve([...acked]);
    });
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
}
