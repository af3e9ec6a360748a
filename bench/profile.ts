/**
 * Profile the relay once under the headline load and say where its CPU goes
 * per envelope:
 *
 *   npx tsx bench/profile.ts          (or: npm run bench -- --profile)
 *   npx tsx bench/profile.ts --rate 200 --recipients 20 --seconds 5
 *
 * The relay runs in a child process under `node --cpu-prof` on a private
 * redis-server (AOF everysec) while this process drives 4 KiB envelopes to
 * one recipient device at saturation (closed loop, 64 in flight), after 2 s of warm-up. Only the
 * samples inside the measured window count (the child reports its clock at
 * the window's start and end). Each sample goes to the category of the
 * innermost frame on its stack that a rule below recognises, so e.g. the
 * canonical JSON built inside the signature check counts as canonical JSON,
 * and a `Buffer.concat` inside the ws library counts as socket work.
 *
 * Writes bench/results/profile.{json,md}; the raw .cpuprofile stays in a
 * temp folder (its path is printed) for Chrome DevTools or speedscope.
 */
import { promises as fs, mkdtempSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNodeCrypto } from '../shared/crypto/node';
import { startRedis } from '../test/support/redis';
import { BenchNetwork, connectHandoverTarget, registerAndSignIn } from './handover-clients';
import { type CpuProbe, type LoadMode, describeMode, runLoad } from './load';
import { redisProbe, serverProbe } from './scenario';
import { startHandoverRelay } from './handover-relay';
import { progress, round } from './timing';


interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

type Rule = { category: string; test: (fn: string, url: string) => boolean };

/**
 * Three tiers; within a tier the innermost matching frame wins, and a
 * higher tier anywhere on the stack beats a lower one. Tier 1 names
 * libraries whose work is unambiguous wherever it is called from (e.g. a
 * Redis command the trust check issues is storage work); tier 2 names the
 * relay's own checks, so the libsodium and JSON work they call lands there;
 * tier 3 is what is left.
 */
const TIERS: Rule[][] = [
  [
    { category: 'canonical JSON (signing input)', test: (fn, url) => url.includes('/shared/canonical.') || url.includes('/node_modules/canonicalize/') },
    { category: 'schema validation (zod)', test: (fn, url) => url.includes('/node_modules/zod/') },
    { category: 'Socket.IO Redis adapter', test: (fn, url) => url.includes('/node_modules/@socket.io/redis-adapter/') || url.includes('/node_modules/notepack') },
    { category: 'storage / Redis (store, ioredis)', test: (fn, url) => url.includes('/server/store/') || /\/node_modules\/(ioredis|@ioredis|redis-parser|redis-errors|denque|cluster-key-slot|standard-as-callback)\//.test(url) },
    { category: 'metrics (prom-client)', test: (fn, url) => url.includes('/node_modules/prom-client/') || url.includes('/server/metrics.') },
    { category: 'socket.io / engine.io / ws', test: (fn, url) => /\/node_modules\/(socket\.io|socket\.io-parser|socket\.io-adapter|engine\.io|engine\.io-parser|ws)\//.test(url) },
  ],
  [
    { category: 'schema validation (zod)', test: (fn) => fn === 'parseEnvelope' || fn === 'parseInput' },
    { category: 'ciphertext hash check (BLAKE2b)', test: (fn) => fn === 'checkEnvelopeIntegrity' || fn === 'checkFrameIntegrity' },
    { category: 'signature check (Ed25519)', test: (fn, url) => fn === 'verifyEnvelopeSignature' || fn === 'checkEnvelope' || fn === 'verifyFrame' || fn === 'checkFrame' || url.includes('/shared/crypto/ed25519-node.') },
    { category: 'frame read (binary header, version 2)', test: (fn) => fn === 'readFrame' },
    { category: 'device-set and trust checks', test: (fn, url) => fn === 'checkDeviceSet' || url.includes('/server/services/trust.') },
    { category: 'stored form encode/decode', test: (fn) => fn === 'encodeStored' || fn === 'decodeStored' || fn === 'encodeStoredFrame' },
    { category: 'session check (handshakes)', test: (fn, url) => url.includes('/server/services/auth.') },
  ],
  [
    { category: 'libsodium (other calls)', test: (fn, url) => url.includes('/node_modules/libsodium') || url.startsWith('wasm://') },
    { category: 'relay code (socket handlers, delivery pump, services)', test: (fn, url) => url.includes('/server/') },
  ],
];

const SPECIAL = new Map([
  ['(garbage collector)', 'garbage collection'],
  ['(program)', 'V8/native, unattributed'],
  ['(idle)', 'idle'],
]);

export interface ProfileSummary {
  when: string;
  load: string;
  windowS: number;
  messages: number;
  messagesPerS: number;
  /** Relay process CPU per envelope from its cpuUsage, for comparison with the profile's total. */
  serverCpuMsPerMsg: number | null;
  redisCpuMsPerMsg: number | null;
  serverCpuUtilisation: number | null;
  sampleIntervalUs: number;
  /** CPU in the window per category: ms per envelope and share of the relay's busy CPU. */
  categories: Array<{ category: string; msPerEnvelope: number; share: number }>;
  /** Redis commands per envelope during the window (from INFO commandstats), by command. */
  redisCommandsPerEnvelope: Record<string, number>;
  /** Heaviest functions by self time, with the categories their time went to. */
  topSelf: Array<{ frame: string; category: string; msPerEnvelope: number; share: number }>;
  profilePath: string;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url ? url.replace(/^file:\/\//, '').replace(path.join(__dirname, '..') + path.sep, '') : '';
  return `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`;
}

/** Busy time (µs) per category and per sampled function inside [fromUs, toUs]. */
export function analyseProfile(profile: CpuProfile, fromUs: number, toUs: number): { byCategory: Map<string, number>; bySelf: Map<string, Map<string, number>>; busyUs: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryCache = new Map<number, string>();
  const categorise = (leaf: number): string => {
    const cached = categoryCache.get(leaf);
    if (cached) return cached;
    const leafNode = nodes.get(leaf);
    let category = leafNode && SPECIAL.get(leafNode.callFrame.functionName);
    for (const rules of TIERS) {
      if (category) break;
      for (let id: number | undefined = leaf; !category && id !== undefined; id = parent.get(id)) {
        const frame = nodes.get(id)?.callFrame;
        if (!frame) break;
        category = rules.find((r) => r.test(frame.functionName, frame.url))?.category;
      }
    }
    category ??= leafNode?.callFrame.url.startsWith('node:') ? 'Node core (net, streams, timers, buffers)' : 'other';
    categoryCache.set(leaf, category);
    return category;
  };
  const byCategory = new Map<string, number>();
  /** Self time by function, split by category (one function can serve several, e.g. a socket write). */
  const bySelf = new Map<string, Map<string, number>>();
  let busyUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const id = profile.samples[i] as number;
    const category = categorise(id);
    if (category === 'idle') continue;
    busyUs += dt;
    byCategory.set(category, (byCategory.get(category) ?? 0) + dt);
    const node = nodes.get(id);
    const name = node ? frameName(node) : String(id);
    const self = bySelf.get(name) ?? new Map<string, number>();
    self.set(category, (self.get(category) ?? 0) + dt);
    bySelf.set(name, self);
  }
  return { byCategory, bySelf, busyUs };
}

export interface ProfileOptions {
  warmupMs?: number;
  durationMs?: number;
  /** Open loop at this many envelopes/s instead of saturation (closed loop, 64 in flight). */
  ratePerS?: number;
  /** Recipient devices per envelope (default 1). */
  recipients?: number;
}

export async function runProfile(opts: ProfileOptions = {}): Promise<ProfileSummary> {
  const warmupMs = opts.warmupMs ?? 2000;
  const durationMs = opts.durationMs ?? 5000;
  const mode: LoadMode = opts.ratePerS ? { kind: 'open', ratePerS: opts.ratePerS } : { kind: 'closed', window: 64 };
  const crypto = await loadNodeCrypto();
  const bench = new BenchNetwork(crypto);
  const config = { bodyBytes: 4096, recipients: opts.recipients ?? 1, senders: 4 };
  // Enough for ~2,000 envelopes/s (divided by the recipients), well above what the relay carries here; a short supply only ends the run early.
  const saturation = Math.max(150, 2000 / config.recipients);
  const count = Math.ceil(((opts.ratePerS ?? saturation) * (warmupMs + durationMs)) / 1000) + 100;
  progress(`profile: signing ${count} envelopes`);

  const profDir = mkdtempSync(path.join(os.tmpdir(), 'handover-cpuprof-'));
  const intervalUs = 500;
  const redis = await startRedis({ appendfsync: 'everysec' });
  const redisCpu = redisProbe(redis);
  const server = await startHandoverRelay(
    { rootPublicKey: bench.rootPublicKey, redisUrl: redis.url },
    { execArgv: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(intervalUs)] },
  );
  let result;
  const marks: number[] = [];
  const commandStats: Array<Map<string, number>> = [];
  const statsClient = redis.client();
  try {
    const tokens = await registerAndSignIn(server.url, crypto, bench.net, bench.devicesFor([config.recipients]));
    const target = await connectHandoverTarget(bench, { senderUrl: server.url, recipientUrl: server.url, tokens, cursors: new Map() }, config);
    // Sampled by the load driver exactly at the window's start and end.
    const windowMark: CpuProbe = {
      name: 'window',
      sampleMs: async () => {
        const [us, info] = await Promise.all([server.markUs(), statsClient.info('commandstats')]);
        marks.push(us);
        commandStats.push(new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1] as string, Number(m[2])])));
        return us / 1000;
      },
    };
    try {
      progress(`profile: relay under node --cpu-prof, Redis everysec, 4 KiB × ${config.recipients}, ${describeMode(mode)}`);
      result = await runLoad(target, {
        label: `profile handover/everysec 4096 B × ${config.recipients} ${describeMode(mode)}`,
        mode,
        warmupMs,
        durationMs,
        timeoutMs: 10_000,
        maxMessages: target.reserve(count),
        probes: [serverProbe(server), redisCpu, windowMark],
      });
    } finally {
      target.close();
    }
  } finally {
    // The profile is written when the child exits.
    await server.close();
    redisCpu.close();
    await redis.destroy();
  }
  // One file per thread (tsx's loader runs in a worker): the main thread's is by far the largest.
  const file = readdirSync(profDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(path.join(profDir, b)).size - statSync(path.join(profDir, a)).size)[0];
  if (!file || marks.length < 2) throw new Error(`no profile written in ${profDir}`);
  const profilePath = path.join(profDir, file);
  const profile = JSON.parse(await fs.readFile(profilePath, 'utf8')) as CpuProfile;
  const [fromUs, toUs] = marks as [number, number];
  const { byCategory, bySelf, busyUs } = analyseProfile(profile, fromUs, toUs);
  const messages = Math.max(1, result.messages);
  const [before, after] = commandStats as [Map<string, number>, Map<string, number>];
  const redisCommandsPerEnvelope = Object.fromEntries(
    [...after]
      .filter(([name]) => name !== 'info')
      .map(([name, calls]) => [name, round((calls - (before.get(name) ?? 0)) / messages, 2)] as const)
      .filter(([, perEnvelope]) => perEnvelope > 0)
      .sort((a, b) => b[1] - a[1]),
  );
  const perEnvelope = (us: number): number => round(us / 1000 / messages, 4);
  const share = (us: number): number => round(busyUs > 0 ? us / busyUs : 0, 3);
  return {
    when: new Date().toISOString(),
    load: `Redis AOF everysec, 4 KiB body, ${config.recipients} recipient device(s), ${mode.kind === 'closed' ? `closed loop, ${mode.window} in flight` : `open loop, ${mode.ratePerS} envelopes/s`}, 4 sender devices (one socket each)`,
    windowS: result.windowS,
    messages: result.messages,
    messagesPerS: result.messagesPerS,
    serverCpuMsPerMsg: result.cpuMsPerMessage.server ?? null,
    redisCpuMsPerMsg: result.cpuMsPerMessage.redis ?? null,
    serverCpuUtilisation: result.cpuUtilisation.server ?? null,
    sampleIntervalUs: intervalUs,
    redisCommandsPerEnvelope,
    categories: [...byCategory]
      .sort((a, b) => b[1] - a[1])
      .map(([category, us]) => ({ category, msPerEnvelope: perEnvelope(us), share: share(us) })),
    topSelf: [...bySelf]
      .map(([frame, split]) => {
        const parts = [...split].sort((a, b) => b[1] - a[1]);
        const us = parts.reduce((sum, [, v]) => sum + v, 0);
        const category = parts.map(([c, v]) => (parts.length > 1 ? `${c} ${Math.round((v / us) * 100)}%` : c)).slice(0, 3).join(', ');
        return { frame, category, us };
      })
      .sort((a, b) => b.us - a.us)
      .slice(0, 30)
      .map(({ frame, category, us }) => ({ frame, category, msPerEnvelope: perEnvelope(us), share: share(us) })),
    profilePath,
  };
}

export function profileMarkdown(p: ProfileSummary): string {
  const total = p.categories.reduce((s, c) => s + c.msPerEnvelope, 0);
  return [
    `# Relay CPU profile (${p.when})`,
    '',
    `Load: ${p.load}. Window ${p.windowS} s, ${p.messages} envelopes (${p.messagesPerS}/s). Relay CPU (cpuUsage) ${p.serverCpuMsPerMsg ?? '–'} ms per envelope, ${p.serverCpuUtilisation === null ? '–' : `${Math.round(p.serverCpuUtilisation * 100)}%`} of one core; redis-server ${p.redisCpuMsPerMsg ?? '–'} ms per envelope. Profile: \`node --cpu-prof\`, ${p.sampleIntervalUs} µs sampling, busy samples in the window only; ${round(total, 4)} ms per envelope in total.`,
    '',
    '| category | ms per envelope | share of relay CPU |',
    '|:--|---:|---:|',
    ...p.categories.map((c) => `| ${c.category} | ${c.msPerEnvelope} | ${Math.round(c.share * 1000) / 10}% |`),
    '',
    `Redis commands per envelope (INFO commandstats, all relay connections): ${Object.entries(p.redisCommandsPerEnvelope).map(([name, n]) => `${name} ${n}`).join(', ')}; ${round(Object.values(p.redisCommandsPerEnvelope).reduce((a, b) => a + b, 0), 1)} in all.`,
    '',
    '## Heaviest functions (self time)',
    '',
    '| function | category | ms per envelope | share |',
    '|:--|:--|---:|---:|',
    ...p.topSelf.map((f) => `| \`${f.frame}\` | ${f.category} | ${f.msPerEnvelope} | ${Math.round(f.share * 1000) / 10}% |`),
    '',
    `Raw profile: ${p.profilePath}`,
    '',
  ].join('\n');
}

/** `--rate N` profiles an open-loop load of N envelopes/s, `--recipients N` N recipient devices, `--seconds N` sets the window. */
export async function profileMain(argv: readonly string[] = process.argv): Promise<void> {
  const value = (flag: string): number | undefined => {
    const i = argv.indexOf(flag);
    const n = i >= 0 ? Number(argv[i + 1]) : Number.NaN;
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const rate = value('--rate');
  const seconds = value('--seconds');
  const recipients = value('--recipients');
  const summary = await runProfile({
    ...(rate ? { ratePerS: rate } : {}),
    ...(seconds ? { durationMs: seconds * 1000 } : {}),
    ...(recipients ? { recipients } : {}),
  });
  const dir = path.join(__dirname, 'results');
  const name = ['profile', ...(recipients && recipients !== 1 ? [`r${recipients}`] : []), ...(rate ? [`open-${rate}`] : [])].join('-');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, `${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  await fs.writeFile(path.join(dir, `${name}.md`), profileMarkdown(summary));
  progress(`profile: bench/results/${name}.{json,md}; raw profile ${summary.profilePath}`);
}

if (require.main === module) {
  profileMain().catch((err: unknown) => {
    process.stderr.write(`profile failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
