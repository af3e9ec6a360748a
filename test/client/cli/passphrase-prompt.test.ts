/**
 * The passphrase prompt (issue 15): it used to erase itself (readline
 * redrew the line with ESC[1G ESC[0J), so the terminal looked hung. Now
 * "Passphrase: " stays until Enter, nothing typed is echoed, and Enter
 * ends the line. First on a stand-in terminal stream (editing keys,
 * escape sequences, split UTF-8, Ctrl-C), then through a real
 * pseudo-terminal (util-linux `script`) running the CLI itself.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { askHidden, type RawInput } from '../../../client/cli/context';
import { HandoverClient, PWHASH_TEST_ONLY } from '../../../client/sdk';
import { FileStorage } from '../../../client/sdk/node';
import { loadNodeCrypto } from '../../../shared/crypto/node';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/handover.js');

/** A terminal as askHidden sees one: a stream with a raw mode. */
function fakeTerminal(): { input: RawInput & PassThrough; shown: () => string; rawModes: boolean[] } {
  const input = new PassThrough() as RawInput & PassThrough;
  const rawModes: boolean[] = [];
  input.isRaw = false;
  input.setRawMode = (mode: boolean) => {
    rawModes.push(mode);
    input.isRaw = mode;
    return input;
  };
  let text = '';
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  shownStreams.set(input, output);
  return { input, shown: () => text, rawModes };
}
const shownStreams = new Map<PassThrough, Writable>();

function ask(t: ReturnType<typeof fakeTerminal>, onInterrupt = () => undefined): Promise<string> {
  return askHidden('Passphrase: ', t.input, shownStreams.get(t.input) as Writable, onInterrupt);
}

it('keeps the prompt, echoes nothing, ends with a newline and restores the terminal', async () => {
  const t = fakeTerminal();
  const answer = ask(t);
  t.input.write('correct horse ');
  t.input.write('battery staple\r');
  expect(await answer).toBe('correct horse battery staple');
  expect(t.shown()).toBe('Passphrase: \n');
  expect(t.rawModes).toEqual([true, false]);
});

it('Backspace and Ctrl-U edit, arrow keys and other escape sequences are ignored, UTF-8 split across reads is whole', async () => {
  const t = fakeTerminal();
  const answer = ask(t);
  t.input.write('wrong\u0015');
  t.input.write('pas\u007fss\x1b[D\x1b[A\x1bOP');
  const snowman = Buffer.from('☃ word');
  t.input.write(snowman.subarray(0, 2));
  t.input.write(Buffer.concat([snowman.subarray(2), Buffer.from('\n')]));
  expect(await answer).toBe('pass☃ word');
  expect(t.shown()).toBe('Passphrase: \n');
});

it('Ctrl-C cancels (the CLI exits 130); Ctrl-D on an empty line is no passphrase', async () => {
  const t = fakeTerminal();
  let interrupted = false;
  const cancelled = ask(t, () => {
    interrupted = true;
  });
  t.input.write('secr\u0003');
  await expect(cancelled).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'cancelled at the passphrase prompt' });
  expect(interrupted).toBe(true);
  expect(t.rawModes).toEqual([true, false]);
  const e = fakeTerminal();
  const empty = ask(e);
  e.input.write('\u0004');
  await expect(empty).rejects.toMatchObject({ message: 'no passphrase given' });
});

describe('through a real terminal', () => {
  let dir: string;
  const PASSPHRASE = 'a passphrase typed at a real terminal';
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'handover-prompt-'));
    await HandoverClient.createProfile({
      crypto: await loadNodeCrypto(),
      storage: await new FileStorage(path.join(dir, 'p')).init(),
      passphrase: PASSPHRASE,
      pwhashLimits: PWHASH_TEST_ONLY,
      orgId: 'ngo-a',
      deviceId: 'ngo-a:dana',
      label: 'Dana',
      rootPublicKey: 'A'.repeat(43),
      serverUrl: 'http://127.0.0.1:9',
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('`handover inbox` in a terminal shows "Passphrase: " and keeps it, and the typed passphrase never appears', async () => {
    const command = `${process.execPath} ${BIN} --profile ${path.join(dir, 'p')} inbox --offline`;
    const seen = await new Promise<string>((resolve, reject) => {
      const child = execFile('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', HOME: dir, HANDOVER_AGENT_TTL: '0', TERM: 'xterm' }, timeout: 60_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
      let typed = false;
      child.stdout?.on('data', (d: Buffer) => {
        if (!typed && d.toString().includes('Passphrase: ')) {
          typed = true;
          child.stdin?.write(`${PASSPHRASE}\r`);
        }
      });
    });
    expect(seen).toMatch(/(^|\n)Passphrase: \r?\n/);
    expect(seen).not.toContain(PASSPHRASE);
    expect(seen).not.toContain('\x1b[1G');
    expect(seen).not.toContain('\x1b[0J');
    expect(seen).toContain('No case threads.');
  });
});
