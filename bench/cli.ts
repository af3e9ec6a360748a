/**
 * CLI timing (issue 15): how long whole `handover` processes take, as a
 * person at a terminal waits for them, reported as ratios to `node -e 0`
 * measured in the same run (so the figure means the same on a fast and a
 * slow machine). The case-read bench (cases.ts) times the local work inside
 * one process; this one adds process start-up, module loading, unlocking
 * the profile and the relay round trips.
 *
 * The profile is a real one on disk, sealed at the CLI's default Argon2id
 * cost (moderate), holding `threads` referrals, registered with a real
 * relay in this process. Each command runs `runs` times after a warm-up.
 *
 * `npx tsx bench/cli.ts --serve` builds the same profile and relay and
 * waits, printing the commands to time by hand (e.g. with hyperfine or
 * /usr/bin/time).
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStorage } from '../client/sdk/file-storage';
import { CaseService } from '../client/referral';
import { HandoverClient } from '../client/sdk/client';
import { MessageStore } from '../client/sdk/message-store';
import { Vault } from '../client/sdk/vault';
import { type Relay, startRelay, testConfig } from '../server/index';
import { ROUTES } from '../shared/api';
import { issueDeviceCertificate } from '../shared/certificates';
import { type Crypto, PWHASH_MODERATE } from '../shared/crypto/types';
import { loadNodeCrypto } from '../shared/crypto/node';
import { toB64u } from '../shared/encoding';
import { DAY, TestNetwork } from '../test/support/network';
import { generateMessages } from './cases';
import { progress, round } from './timing';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'handover.js');
const PASSPHRASE = 'bench passphrase for the cli';

/** Quick mode stays under about 20 s here: fewer events per thread (inbox reads one index record either way) and fewer runs. */
export const QUICK = { threads: 200, events: 2, runs: 3, slowRuns: 1 };
export const FULL = { threads: 200, events: 20, runs: 9, slowRuns: 5 };
/** Issue 15: `handover --help` and local reads under 1 s here. */
const LOCAL_TARGET_MS = 1000;

export interface CliTimingRow {
  what: string;
  /** The arguments after `handover` (or the node command for the baseline). */
  command: string;
  runs: number;
  medianMs: number;
  /** medianMs / the median of `node -e 0` in this run. */
  vsNode: number;
  /** The issue's limit for this command, when it sets one. */
  targetMs?: number;
}

export interface CliTimingResults {
  threads: number;
  eventsPerThread: number;
  /** Whether bin/handover.js ran compiled JavaScript or fell back to the TypeScript sources (dist/ missing or older). */
  compiled: boolean;
  nodeMs: number;
  rows: CliTimingRow[];
}

interface BenchProfile {
  dir: string;
  relay: Relay;
  threadIds: string[];
  close(): Promise<void>;
}

/** A registered shelter device on a relay in this process, holding `threads` referrals of `events` events each. */
export async function buildCliProfile(crypto: Crypto, opts: { threads: number; events: number }): Promise<BenchProfile> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'handover-bench-cli-'));
  const net = new TestNetwork(crypto, Date.now());
  const ngoOrg = net.addOrg('ngo-taraz', 'ngo');
  const shelterOrg = net.addOrg('shelter-ist', 'shelter');
  const relay = await startRelay(testConfig({ rootPublicKey: toB64u(net.root.publicKey), logLevel: 'silent' }));
  try {
    for (const org of [ngoOrg, shelterOrg]) await postJson(relay.url, ROUTES.orgs, { certificate: org.certificate });
    const storage = await new FileStorage(dir).init();
    const { client, enrolmentRequest } = await HandoverClient.createProfile({
      crypto,
      storage,
      passphrase: PASSPHRASE,
      pwhashLimits: PWHASH_MODERATE,
      orgId: 'shelter-ist',
      deviceId: 'shelter-ist:amina',
      label: 'Amina',
      rootPublicKey: toB64u(net.root.publicKey),
      serverUrl: relay.url,
    });
    const now = Date.now();
    const deviceCert = issueDeviceCertificate(crypto, {
      request: enrolmentRequest,
      orgCertificate: shelterOrg.certificate,
      orgPrivateKey: shelterOrg.keys.privateKey,
      role: 'caseworker',
      issuedAt: now - DAY,
      expiresAt: now + 90 * DAY,
    });
    await client.importCertificates(shelterOrg.certificate, deviceCert);
    await client.trust.admitOrg(ngoOrg.certificate);
    await client.register();
    await client.close();

    const { messages, threadIds } = await generateMessages(crypto, opts.threads, opts.events);
    // One Argon2id for both: the messages are stored, then the first read decodes every thread once
    // (what a device does as messages arrive), so timing starts after it.
    const vault = await Vault.unlock(crypto, storage, PASSPHRASE);
    await new MessageStore(vault).addAll(messages);
    const reader = await HandoverClient.open({ crypto, storage, vault });
    const cases = new CaseService({ transport: reader, crypto });
    await cases.start();
    await cases.listThreads();
    cases.dispose();
    await reader.close();
    return {
      dir,
      relay,
      threadIds,
      close: async () => {
        await relay.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await relay.close();
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function postJson(url: string, route: string, body: unknown): Promise<void> {
  const res = await fetch(new URL(route, url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${route} answered ${res.status}`);
}

interface ProcessRun {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function runProcess(args: string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - t0, code, stdout, stderr }));
  });
}

async function medianOf(runs: number, args: string[], env: NodeJS.ProcessEnv, check: (r: ProcessRun) => void, warmUp: boolean): Promise<number> {
  if (warmUp) check(await runProcess(args, env)); // the file cache, and a proof the command does what it should
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runProcess(args, env);
    check(r);
    samples.push(r.ms);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

/** Whether bin/handover.js will run the compiled CLI (the same test it makes). */
function runsCompiled(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bin's own CommonJS helper
  const { compiledEntry } = require('../bin/cli-entry.js') as { compiledEntry(): string | undefined };
  return compiledEntry() !== undefined;
}

/** Build the CLI when its bundle is missing or stale (half a second), so the bench times what users run. */
function ensureCompiled(): boolean {
  if (runsCompiled()) return true;
  progress('cli: building the CLI (npm run build:cli)');
  const build = spawnSync('npm', ['run', '--silent', 'build:cli'], { cwd: ROOT, stdio: 'inherit' });
  return build.status === 0 && runsCompiled();
}

export async function benchCli(crypto: Crypto, opts: { threads: number; events: number; runs: number; slowRuns: number }): Promise<CliTimingResults> {
  const compiled = ensureCompiled();
  if (!compiled) progress('cli: the CLI could not be built, so this times the TypeScript fallback');
  progress(`cli: building a profile of ${opts.threads} threads × ${opts.events} events (Argon2id moderate)`);
  const t0 = performance.now();
  const profile = await buildCliProfile(crypto, opts);
  progress(`cli: profile built in ${Math.round(performance.now() - t0)} ms`);
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '',
    HOME: profile.dir,
    HANDOVER_PROFILE: profile.dir,
    HANDOVER_SERVER: profile.relay.url,
    ...extra,
  });
  const handover = (...args: string[]) => [BIN, ...args];
  const succeeded = (r: ProcessRun) => {
    if (r.code !== 0) throw new Error(`the command failed (${r.code}): ${r.stderr}`);
  };
  const listsAll = (r: ProcessRun) => {
    succeeded(r);
    const threads = (JSON.parse(r.stdout) as { threads: unknown[] }).threads;
    if (threads.length !== opts.threads) throw new Error(`inbox listed ${threads.length} threads, not ${opts.threads}`);
  };
  const rows: Array<Omit<CliTimingRow, 'vsNode'>> = [];
  const measure = async (what: string, args: string[], e: NodeJS.ProcessEnv, check: (r: ProcessRun) => void, o: { runs?: number; targetMs?: number; warmUp?: boolean } = {}) => {
    const runs = o.runs ?? opts.runs;
    const ms = await medianOf(runs, args, e, check, o.warmUp ?? true);
    const command = args[0] === BIN ? `handover ${args.slice(1).join(' ').replace(/\S{22}(?= --offline)/, '<threadId>')}` : `node ${args.join(' ')}`;
    rows.push({ what, command, runs, medianMs: round(ms, 1), ...(o.targetMs !== undefined ? { targetMs: o.targetMs } : {}) });
    progress(`cli: ${what}: ${Math.round(ms)} ms`);
  };
  const target = { targetMs: LOCAL_TARGET_MS };
  try {
    await measure('node alone (the baseline)', ['-e', '0'], env(), succeeded);
    await measure('help', handover('--help'), env(), succeeded, target);
    // `unlock` pays Argon2id once and leaves the agent; the next rows use it.
    succeeded(await runProcess(handover('unlock'), env({ HANDOVER_PASSPHRASE: PASSPHRASE })));
    await measure('inbox, unlocked session (agent), relay up', handover('inbox', '--json'), env(), listsAll);
    await measure('inbox --offline, unlocked session (agent)', handover('inbox', '--offline', '--json'), env(), listsAll, target);
    const threadId = profile.threadIds[0] ?? '';
    await measure('show --offline, unlocked session (agent)', handover('show', threadId, '--offline', '--json'), env(), succeeded, target);
    succeeded(await runProcess(handover('lock'), env()));
    // What every command cost before the session: Argon2id at the default cost each time (warmed up by the rows above).
    await measure('inbox, passphrase each time (Argon2id moderate), relay up', handover('inbox', '--json'), env({ HANDOVER_PASSPHRASE: PASSPHRASE, HANDOVER_AGENT_TTL: '0' }), listsAll, {
      runs: opts.slowRuns,
      warmUp: false,
    });
  } finally {
    await runProcess(handover('lock'), env());
    await profile.close();
  }
  const nodeMs = rows[0]?.medianMs ?? 1;
  return {
    threads: opts.threads,
    eventsPerThread: opts.events,
    compiled,
    nodeMs,
    rows: rows.map((r) => ({ ...r, vsNode: round(r.medianMs / nodeMs, 1) })),
  };
}

export function cliSection(r: CliTimingResults | null): string[] {
  if (!r) return [];
  return [
    '## CLI timing (whole `handover` processes)',
    '',
    `Wall time of one process from start to exit, median of the runs, against \`node -e 0\` in the same run. A real profile folder with ${r.threads} threads × ${r.eventsPerThread} events, sealed at Argon2id moderate, registered with a relay in the bench process. ${r.compiled ? 'The compiled CLI (dist/cli/, one bundled file).' : '**The TypeScript fallback ran: the CLI could not be built.**'} Before issue 15, every one of these ran through tsx and \`inbox\` always signed in to the relay first, with Argon2id on every command.`,
    '',
    '| what | command | runs | ms (median) | × node -e 0 |',
    '|:--|:--|--:|--:|--:|',
    ...r.rows.map((row) => `| ${row.what} | \`${row.command}\` | ${row.runs} | ${row.medianMs} | ${row.vsNode} |`),
    '',
  ];
}

async function serve(): Promise<void> {
  const threads = Number(argValue('--threads') ?? 200);
  const events = Number(argValue('--events') ?? 20);
  const profile = await buildCliProfile(await loadNodeCrypto(), { threads, events });
  process.stdout.write(
    [
      `profile: ${profile.dir} (${threads} threads × ${events} events, Argon2id moderate)`,
      `relay:   ${profile.relay.url}`,
      '',
      `export HANDOVER_PROFILE=${profile.dir} HANDOVER_SERVER=${profile.relay.url} HANDOVER_PASSPHRASE='${PASSPHRASE}'`,
      `node ${path.relative(process.cwd(), BIN)} inbox`,
      `node ${path.relative(process.cwd(), BIN)} show ${profile.threadIds[0] ?? ''}`,
      '',
      'Ctrl-C ends the relay and removes the profile.',
      '',
    ].join('\n'),
  );
  const stop = () => void profile.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  if (process.argv.includes('--serve')) {
    void serve();
  } else {
    void (async () => {
      const quick = process.argv.includes('--quick');
      const result = await benchCli(await loadNodeCrypto(), quick ? QUICK : FULL);
      process.stdout.write(`${cliSection(result).join('\n')}\n`);
    })();
  }
}

