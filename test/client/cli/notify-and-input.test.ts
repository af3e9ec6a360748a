/**
 * The notification hook's configuration, its fixed phrases, batching into
 * one call with a count, and hooks that fail (reported, never fatal). The
 * end-to-end check of what a hook receives is test/integration/watch-due.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Notifier, hooksFromEnv, notificationText } from '../../../client/cli/cases/notify';
import { parseDuration, span } from '../../../client/cli/cases/local-time';
import { referralTimesToEpoch } from '../../../client/cli/cases/referral-input';

let dir: string;
let server: Server;
let url: string;
let answer = 204;
const bodies: unknown[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-notify-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  test('a program path is taken whole (no shell, no splitting); a JSON array gives fixed arguments', () => {
    expect(hooksFromEnv({ HANDOVER_NOTIFY_COMMAND: '/opt/alert tool/run; rm -rf /' })).toEqual([{ command: '/opt/alert tool/run; rm -rf /', args: [] }]);
    expect(hooksFromEnv({ HANDOVER_NOTIFY_COMMAND: '["/usr/bin/alert", "--team", "intake"]', HANDOVER_NOTIFY_URL: 'https://alerts.example.org/h' })).toEqual([
      { command: '/usr/bin/alert', args: ['--team', 'intake'] },
      { url: 'https://alerts.example.org/h' },
    ]);
    expect(hooksFromEnv({})).toEqual([]);
  });

  test.each([
    [{ HANDOVER_NOTIFY_COMMAND: '["/usr/bin/alert", 3]' }, /JSON array of strings/],
    [{ HANDOVER_NOTIFY_COMMAND: '[]' }, /JSON array of strings/],
    [{ HANDOVER_NOTIFY_COMMAND: '[not json' }, /JSON array of strings/],
    [{ HANDOVER_NOTIFY_URL: 'alerts.example.org' }, /not a URL/],
    [{ HANDOVER_NOTIFY_URL: 'file:///etc/passwd' }, /http\(s\) URL/],
  ])('%p is refused with what to write', (env, message) => {
    expect(() => hooksFromEnv(env)).toThrow(message);
  });
});

test('the phrases: fixed words, a count and a threshold, nothing else', () => {
  expect(notificationText('new-referral', 1)).toBe('new referral for your org');
  expect(notificationText('new-referral', 3)).toBe('3 new referrals for your org');
  expect(notificationText('new-message', 2)).toBe('2 new messages in cases');
  expect(notificationText('deadline', 1, 2 * 3600_000)).toBe('deadline in 2 h');
  expect(notificationText('deadline', 4, 24 * 3600_000)).toBe('4 deadlines in 24 h');
  expect(notificationText('overdue', 1)).toBe('deadline passed');
});

test('events in one batch window become one call per kind with a count, to every hook', async () => {
  const recorded = path.join(dir, 'calls.jsonl');
  const script = path.join(dir, 'record.js');
  writeFileSync(script, `require('node:fs').appendFileSync(${JSON.stringify(recorded)}, JSON.stringify(process.argv.slice(2)) + '\\n');\n`);
  const reports: string[] = [];
  bodies.length = 0;
  const notifier = new Notifier([{ command: process.execPath, args: [script, 'fixed'] }, { url }], 60_000, (l) => reports.push(l));
  notifier.add('new-message');
  notifier.add('new-message');
  notifier.add('new-message');
  notifier.add('deadline', 2 * 3600_000);
  await notifier.flush();
  const calls = readFileSync(recorded, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
  expect(calls).toEqual([
    ['fixed', 'new-message', '3', '3 new messages in cases'],
    ['fixed', 'deadline', '1', 'deadline in 2 h'],
  ]);
  expect(bodies).toEqual([
    { kind: 'new-message', count: 3, text: '3 new messages in cases', at: expect.any(String) },
    { kind: 'deadline', count: 1, text: 'deadline in 2 h', at: expect.any(String) },
  ]);
  expect(reports).toEqual([]);
  await notifier.flush(); // nothing counted: nothing called
  expect(readFileSync(recorded, 'utf8').trim().split('\n')).toHaveLength(2);
});

test('a failing command, a missing program and a refusing webhook are reported, and the others still run', async () => {
  const reports: string[] = [];
  answer = 500;
  bodies.length = 0;
  const notifier = new Notifier(
    [{ command: process.execPath, args: ['-e', 'process.exit(3)'] }, { command: path.join(dir, 'no-such-program'), args: [] }, { url }],
    60_000,
    (l) => reports.push(l),
  );
  notifier.add('overdue');
  await notifier.flush();
  answer = 204;
  expect(bodies).toHaveLength(1);
  expect(reports.sort()).toEqual([
    expect.stringMatching(/^notification hook failed \(HANDOVER_NOTIFY_COMMAND\): .*ENOENT/),
    'notification hook failed (HANDOVER_NOTIFY_COMMAND): the command exited with 3',
    'notification hook failed (HANDOVER_NOTIFY_URL): the webhook answered 500',
  ]);
});

test('without hooks nothing is counted or called', async () => {
  const notifier = new Notifier([], 10, () => undefined);
  notifier.add('new-referral');
  await notifier.flush();
});

describe('what people type', () => {
  test.each([
    ['24h', 24 * 3600_000],
    ['90m', 90 * 60_000],
    ['2d', 2 * 24 * 3600_000],
    ['30s', 30_000],
  ])('duration %s', (text, ms) => expect(parseDuration(text, '--within')).toBe(ms));

  test.each(['soon', '0h', '-1h', '1.5h', '24'])('duration %p is refused', (text) => {
    expect(() => parseDuration(text, '--within')).toThrow(/--within must be a whole number and a unit/);
  });

  test('spans read as people say them', () => {
    expect(span(30_000)).toBe('under a minute');
    expect(span(65 * 60_000)).toBe('1 h 5 min');
    expect(span(24 * 3600_000)).toBe('24 h');
    expect(span(3 * 24 * 3600_000 + 4 * 3600_000)).toBe('3 d 4 h');
  });

  test('consent times: ISO 8601 with a zone or epoch ms; no other text', () => {
    const given = { consent: { givenAt: '2026-11-28T15:00+05:00', expiresAt: 1811419200000, purposes: ['services'] }, header: { x: '2026-11-28T15:00+05:00' } };
    expect(referralTimesToEpoch(given)).toEqual({
      consent: { givenAt: Date.parse('2026-11-28T10:00Z'), expiresAt: 1811419200000, purposes: ['services'] },
      header: { x: '2026-11-28T15:00+05:00' },
    });
    expect(given.consent.givenAt).toBe('2026-11-28T15:00+05:00'); // a copy
    expect(() => referralTimesToEpoch({ consent: { givenAt: '28/11/2026 15:00' } })).toThrow('consent.givenAt "28/11/2026 15:00" is not a time');
    expect(() => referralTimesToEpoch({ consent: { givenAt: '2026-11-28T15:00' } })).toThrow(/is not a time: use ISO 8601 with a time zone/);
    expect(referralTimesToEpoch('not an object')).toBe('not an object');
  });
});

describe('times on screen are in the reader\'s zone, written out', () => {
  const show = (tz: string) =>
    execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', "process.stdout.write(require('./client/cli/cases/text').iso(Date.UTC(2026, 11, 6, 6, 25)))"], {
      cwd: path.resolve(__dirname, '../../..'),
      env: { ...process.env, TZ: tz },
      encoding: 'utf8',
    });

  it('Almaty, Istanbul and UTC readers see the same instant in their own zone', () => {
    expect(show('Asia/Almaty')).toBe('2026-12-06 11:25 GMT+5');
    expect(show('Europe/Istanbul')).toBe('2026-12-06 09:25 GMT+3');
    expect(show('UTC')).toBe('2026-12-06 06:25 UTC');
  });
});
