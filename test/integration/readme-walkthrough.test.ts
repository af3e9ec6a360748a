/**
 * README's "Using the CLI" section, run as written: every command of every
 * ```sh block in that section, in order, against a relay started the way
 * `npm start` starts it (server/main.ts, development network, its root key
 * file in `.data/`) on a private redis-server. A new user follows exactly
 * these lines; if one fails here, it fails for them.
 *
 * What the test changes, and nothing else:
 *  - `npx handover` runs as `node bin/handover.js` (npx in a temporary
 *    folder would look the name up on the registry; that npx finds the
 *    project's own bin from the clone is checked once, separately);
 *  - the environment: HOME is a temporary folder (so `~/ho/...` profiles
 *    land there), HANDOVER_SERVER points at the test relay, and cheap
 *    Argon2id (HANDOVER_KDF=insecure-test, NODE_ENV=test);
 *  - the working folder is a temporary one holding the relay's `.data/`
 *    and a link to `examples/`, as the clone's folder would;
 *  - the placeholders the README's table explains (`PLACEHOLDERS` below)
 *    are filled from what earlier commands printed, as a person would.
 *    A placeholder not in that table fails the test.
 * `export NAME=value` lines apply to the commands after them, as in a shell.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RelayProcess, spawnRelay } from '../support/relay-process';
import { startRedis, type TestRedis } from '../support/redis';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/handover.js');
jest.setTimeout(180_000);

/* ------------------------------------------------- reading the README -- */

/** The `## Using the CLI` section: from its heading to the next `## ` heading. */
function cliSection(markdown: string): string {
  const start = markdown.indexOf('\n## Using the CLI');
  if (start < 0) throw new Error('README.md has no "## Using the CLI" section');
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

/** Everything after an unquoted `#` that starts a word is a comment (as bash reads it). */
function withoutComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

/** The commands of every ```sh block of the section, in order: continuation lines joined, comments and blank lines dropped. */
export function walkthroughCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of cliSection(markdown).matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    let pending = '';
    for (const raw of (block[1] ?? '').split('\n')) {
      const line = withoutComment(raw);
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1).trimEnd()} `;
        continue;
      }
      const command = (pending + line.trim()).trim();
      pending = '';
      if (command !== '') commands.push(command);
    }
  }
  return commands;
}

/* -------------------------------------------- what earlier output said -- */

interface Seen {
  rootKey?: string;
  /** The last `org init`. */
  org?: { publicKey: string; fingerprint: string };
  orgsById: Map<string, { publicKey: string; fingerprint: string }>;
  deviceFingerprint?: string;
  threadId?: string;
}

const FINGERPRINT = /((?:\d{5} ){11}\d{5})/;

/** Note what a person would copy from a command's output for later placeholders. */
function remember(seen: Seen, command: string, out: string): void {
  const need = (re: RegExp, what: string): string => {
    const m = re.exec(out);
    if (!m?.[1]) throw new Error(`\`${command}\` printed no ${what}:\n${out}`);
    return m[1];
  };
  if (/ network import-root /.test(command)) seen.rootKey = need(/Network root imported: (\S+)/, 'root public key');
  if (/ org init /.test(command)) {
    const org = { publicKey: need(/public key:\s+(\S+)/, 'public key'), fingerprint: need(new RegExp(`fingerprint: ${FINGERPRINT.source}`), 'fingerprint') };
    seen.org = org;
    const orgId = /--org-id (\S+)/.exec(command)?.[1];
    if (!orgId) throw new Error(`\`${command}\` names no --org-id`);
    seen.orgsById.set(orgId, org);
  }
  if (/ restore /.test(command)) seen.deviceFingerprint = need(new RegExp(`new device key fingerprint: ${FINGERPRINT.source}`), 'new device key fingerprint');
  if (/ device init /.test(command)) seen.deviceFingerprint = need(new RegExp(`device key fingerprint: ${FINGERPRINT.source}`), 'device key fingerprint');
  if (/ refer /.test(command)) seen.threadId = need(/Thread (\S+)/, 'thread id');
}

/** The README's placeholder table, as code: each `<…>` and where its value comes from. */
const PLACEHOLDERS: ReadonlyArray<[RegExp, (seen: Seen, match: RegExpExecArray) => string | undefined]> = [
  [/^root key$/, (s) => s.rootKey],
  [/^org key$/, (s) => s.org?.publicKey],
  [/^org fingerprint$/, (s) => s.org?.fingerprint],
  [/^device fingerprint$/, (s) => s.deviceFingerprint],
  [/^([a-z0-9-]+) fingerprint$/, (s, m) => s.orgsById.get(m[1] ?? '')?.fingerprint],
  [/^threadId$/, (s) => s.threadId],
];

function fillPlaceholders(command: string, seen: Seen): string {
  return command.replace(/<([^<>]+)>/g, (_all, name: string) => {
    for (const [pattern, value] of PLACEHOLDERS) {
      const m = pattern.exec(name);
      if (!m) continue;
      const v = value(seen, m);
      if (v === undefined) throw new Error(`<${name}> is used before any command printed it: ${command}`);
      return v;
    }
    throw new Error(`README uses a placeholder the walkthrough test does not know: <${name}> (add it to the README's table and to PLACEHOLDERS)`);
  });
}

/* -------------------------------------------------------- running them -- */

let work: string;
let redis: TestRedis;
let relay: RelayProcess;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function bash(script: string, env: Record<string, string>, cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'handover-readme-'));
  mkdirSync(path.join(work, 'home'));
  symlinkSync(path.join(ROOT, 'examples'), path.join(work, 'examples'));
  redis = await startRedis();
  // As `npm start` runs it from the clone: no root key configured, so a development network in .data/.
  relay = await spawnRelay({ REDIS_URL: redis.url, HANDOVER_DATA_DIR: path.join(work, '.data') });
});

afterAll(async () => {
  await relay?.close();
  await redis?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('finds the walkthrough in README.md: every command is `npx handover …` or an export', () => {
  const commands = walkthroughCommands(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  expect(commands.length).toBeGreaterThan(30);
  for (const c of commands) expect(c).toMatch(/^(npx handover |export [A-Z_]+=)/);
});

it('runs every command of the README walkthrough, in order, as written', async () => {
  const commands = walkthroughCommands(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: path.join(work, 'home'),
    NODE_ENV: 'test',
    HANDOVER_KDF: 'insecure-test',
    HANDOVER_SERVER: relay.url,
  };
  const seen: Seen = { orgsById: new Map() };
  const exports: string[] = [];
  const outputs: Array<{ command: string; out: string }> = [];
  for (const written of commands) {
    if (written.startsWith('export ')) {
      exports.push(written);
      continue;
    }
    const command = fillPlaceholders(written, seen);
    const runnable = command.replace(/^npx handover /, `node ${JSON.stringify(BIN)} `);
    const r = await bash([...exports, runnable].join('\n'), env, work);
    if (process.env.DEBUG_CLI) process.stderr.write(`$ ${command}\n${r.stdout}${r.stderr}\n`);
    if (r.code !== 0) throw new Error(`README command failed (exit ${r.code}):\n  ${written}\n${r.stdout}${r.stderr}`);
    remember(seen, command, `${r.stdout}\n${r.stderr}`);
    outputs.push({ command, out: `${r.stdout}\n${r.stderr}` });
  }

  // What the walkthrough promises, as its comments say.
  const said = (pattern: RegExp) => outputs.filter((o) => pattern.test(o.command)).map((o) => o.out);
  expect(said(/ verify ngo-taraz /)[0]).toContain('MATCH: ngo-taraz');
  expect(said(/amina certificates$/)[0]).toMatch(/this device\s+shelter-ist:amina[\s\S]*days left/);
  expect(said(/ report$/)[0]).toMatch(/Referrals:\s+<5/);
  const final = said(/dana show /);
  expect(final[final.length - 1]).toContain('every participant has confirmed the purge');
  expect(readFileSync(path.join(work, 'cases.csv'), 'utf8')).toContain('TRZ-2026-0147');
  const accessLog = readFileSync(path.join(work, 'amina-access.csv'), 'utf8');
  const firstThreadId = /Thread (\S+)/.exec(said(/ refer /)[0] ?? '')?.[1];
  expect(accessLog).toContain(`,show,${firstThreadId}`);
  expect(accessLog).not.toContain('TRZ-2026-0147');
  expect(JSON.parse(readFileSync(path.join(work, 'ngo-taraz-renewed.json'), 'utf8')).serial).toBeGreaterThan(JSON.parse(readFileSync(path.join(work, 'ngo-taraz.json'), 'utf8')).serial);
  expect(said(/amina device register --certificate amina-renewed/)[0]).toContain('re-registered with its renewed certificate');

  // Continuity: IOM, added later, sees the case without what the consent withholds from it;
  // the night shift's device and the restored one hold the case; the NGO sees delivery.
  const iomView = said(/emre show /).at(-1)!;
  expect(iomView).toContain('referred the case to shelter-ist');
  expect(iomView).toContain('referral.accept');
  expect(iomView).toContain('added iom-ist');
  expect(said(/bora show /)[0]).toContain('referral.accept');
  expect(said(/dana delivery /)[0]).toMatch(/stored by the relay .*shelter-ist delivered/);
  expect(said(/ backup --out /)[0]).toContain('Backup written to amina.backup');
  expect(said(/amina-new show /)[0]).toContain('referral.accept');
  expect(said(/amina-new show /)[0]).toMatch(/\bnote\b/);
});

it('npx finds the handover command in the clone without installing anything', async () => {
  expect(existsSync(path.join(ROOT, 'package.json'))).toBe(true);
  // npm_config_yes=false: never fetch a package of that name from the registry if the bin were missing.
  const r = await bash("npx handover --help", { PATH: process.env.PATH ?? "", HOME: path.join(work, "home"), npm_config_yes: "false" }, ROOT);
  expect(r.stderr).not.toMatch(/npm error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Usage: handover');
});
