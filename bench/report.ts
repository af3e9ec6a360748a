/** The result file shapes and the markdown report. */
import type { ConnectionsResult } from './connections';
import type { CryptoResults } from './crypto';
import type { DrainResult, HalfSaturationLoad, TargetLoad } from './handover-scenario';
import type { Ratios, RelayPlan, RelayRow } from './scenario';
import { round } from './timing';
import { type CaseReadResults, caseReadsSection } from './cases';
import { type CliTimingResults, cliSection } from './cli';
import type { WireRow } from './wire';

export interface BenchResults {
  when: string;
  mode: 'quick' | 'full';
  machine: { cpus: number; cpuModel: string; node: string; loadAverageAtStart: number[] };
  plan: RelayPlan;
  relay: {
    /** Baseline and Handover rows side by side; `vsBare` / `vsDurable` filled in by `addRatios`. */
    rows: RelayRow[];
    /** Scenarios that threw: their rows are missing. */
    failures: Array<{ scenario: string; error: string }>;
    /** The offered load of the latency target's rows (relay and durable baseline, everysec, 4 KiB × 1). */
    targetLoad: TargetLoad | null;
    /** Issue 16's latency target: half the relay's own saturation rate (relay and durable baseline rows at it). */
    halfSaturation?: HalfSaturationLoad | null;
    /** Reconnect and drain of queued envelopes, per store. */
    drain: DrainResult[];
  };
  connections: ConnectionsResult | null;
  crypto: CryptoResults | null;
  /** Envelope bytes on the socket for a 4 KiB body (bench/wire.ts). */
  wire?: WireRow[];
  /** Local case reads on a 200 × 20 profile (bench/cases.ts). */
  caseReads: CaseReadResults | null;
  /** Whole `handover` processes against `node -e 0` (bench/cli.ts). */
  cli: CliTimingResults | null;
  /** The issue's targets, checked against this run. */
  targets: TargetCheck[];
  phasesS: Record<string, number>;
  durationS: number;
}

const rowKey = (r: RelayRow): string => `${r.bodyBytes}|${r.recipients}|${r.load}`;

function ratios(row: RelayRow, ref: RelayRow | undefined): Ratios | null {
  if (!ref) return null;
  const div = (a: number, b: number): number => (b > 0 ? round(a / b, 2) : 0);
  return {
    throughput: div(row.messagesPerS, ref.messagesPerS),
    p50: div(row.e2eP50Ms, ref.e2eP50Ms),
    p99: div(row.e2eP99Ms, ref.e2eP99Ms),
    serverCpu: row.serverCpuMsPerMsg !== null && ref.serverCpuMsPerMsg !== null ? div(row.serverCpuMsPerMsg, ref.serverCpuMsPerMsg) : null,
  };
}

/**
 * Every non-bare row against the bare row with the same body, recipients
 * and load; every row of a durable system other than the durable baseline
 * against the durable baseline with the same fsync policy.
 */
export function addRatios(rows: RelayRow[]): void {
  const bare = new Map(rows.filter((r) => r.system === 'bare').map((r) => [rowKey(r), r]));
  const durable = new Map(rows.filter((r) => r.system === 'durable').map((r) => [`${rowKey(r)}|${r.durability}`, r]));
  for (const row of rows) {
    row.vsBare = row.system === 'bare' ? null : ratios(row, bare.get(rowKey(row)));
    row.vsDurable = row.system === 'bare' || row.system === 'durable' ? null : ratios(row, durable.get(`${rowKey(row)}|${row.durability}`));
  }
}

const DURABILITY_ORDER = ['none', 'memory', 'everysec', 'always'];

/** Plan order of configs and loads, then bare, then by fsync policy with the durable baseline first. */
function ordered(rows: RelayRow[]): RelayRow[] {
  const groups = new Map<string, number>();
  for (const r of rows) if (!groups.has(rowKey(r))) groups.set(rowKey(r), groups.size);
  const rank = (r: RelayRow): number =>
    (r.system === 'bare' ? 0 : 1 + DURABILITY_ORDER.indexOf(r.durability) * 2 + (r.system === 'durable' ? 0 : 1));
  return [...rows].sort(
    (a, b) =>
      a.bodyBytes - b.bodyBytes || a.recipients - b.recipients || (groups.get(rowKey(a)) ?? 0) - (groups.get(rowKey(b)) ?? 0) || rank(a) - rank(b) || a.system.localeCompare(b.system),
  );
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : String(v));
const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`);
/** Processes outside the bench took more than this share of a core during the row's window. */
const NOISY_OTHER_CPU = 0.3;
const noisy = (r: RelayRow): boolean => (r.otherCpuUtilisation ?? 0) > NOISY_OTHER_CPU;
const pct = (v: number | null): string => (v === null ? '–' : `${Math.round(v * 100)}%`);

function relayTable(rows: RelayRow[]): string[] {
  const lines = [
    '| body | recipients | load | system | fsync | msg/s | deliveries/s | e2e p50 ms | e2e p99 ms | ack p99 ms | server CPU ms/msg | redis CPU ms/msg | server CPU | generator CPU | other CPU | msg/s ×bare | p99 ×bare | msg/s ×durable | p99 ×durable | errors/lost |',
    '|---:|---:|:--|:--|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of ordered(rows)) {
    lines.push(
      `| ${size(r.bodyBytes)} | ${r.recipients} | ${r.load} | ${r.system} | ${r.durability} | ${r.messagesPerS} | ${r.deliveriesPerS} | ${r.e2eP50Ms} | ${r.e2eP99Ms} | ${r.ackP99Ms} | ${fmt(r.serverCpuMsPerMsg)} | ${fmt(r.redisCpuMsPerMsg)} | ${pct(r.serverCpuUtilisation)} | ${pct(r.generatorCpuUtilisation)} | ${pct(r.otherCpuUtilisation)}${noisy(r) ? ' ⚠' : ''} | ${fmt(r.vsBare?.throughput)} | ${fmt(r.vsBare?.p99)} | ${fmt(r.vsDurable?.throughput)} | ${fmt(r.vsDurable?.p99)} | ${r.errors}/${r.lost}${r.skipped ? ` +${r.skipped} skipped` : ''}${r.strayDeliveries ? ` +${r.strayDeliveries} stray` : ''}${r.capped ? ' capped' : ''} |`,
    );
  }
  return lines;
}

export function markdown(r: BenchResults): string {
  const closed = r.relay.rows.filter((row) => row.mode === 'closed');
  const open = r.relay.rows.filter((row) => row.mode === 'open');
  const lines = [
    `# Benchmark results (${r.mode}, ${r.when})`,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}, load average at start ${r.machine.loadAverageAtStart.join(' / ')}. Whole run ${r.durationS} s (${Object.entries(r.phasesS).map(([k, v]) => `${k} ${v} s`).join(', ')}).`,
    '',
    ...targetsSection(r.targets),
    '## Relay: Handover vs baselines',
    '',
    'Systems: **bare** = thinnest Socket.IO relay (no auth, validation or storage); **durable** = bare + one Redis stream XADD per recipient before the ack and XDEL on the recipient\'s ack, on a private redis-server with AOF and the given `appendfsync`; **handover** = the real relay (embedded store = fsync "memory", or Redis with the given `appendfsync`), real sealed envelopes from 4 sender devices (one socket each, each the only device of its org), every delivery acked by the recipient device; **handover-2proc** = two relay processes on one Redis (Socket.IO Redis adapter), sender on one, recipients on the other (server CPU = both processes).',
    `Each message goes to every recipient device; ${r.plan.configs[0]?.senders ?? '?'} sender connections round-robin. Servers run in their own process; clients and the load generator share this process. Warm-up ${r.plan.warmupMs} ms excluded, measured window ${r.plan.durationMs} ms.`,
    'e2e = send start → delivery at a recipient (one sample per delivery); ack = send start → server ack. CPU columns: ms per delivered message, and share of one core during the window (generator CPU near 100% means the load generator, not the server, was the limit).',
    `"other CPU" = CPU used by processes outside the bench during the window (share of one core, from /proc/stat); ⚠ marks rows above ${NOISY_OTHER_CPU * 100}%, whose figures are disturbed by other work on the machine.`,
    'Ratios: msg/s ×ref above 1 = more throughput than the reference; p99 ×ref above 1 = slower. ×durable compares with the durable baseline at the same fsync policy.',
    '',
    '### Saturation (closed loop: fixed number of messages in flight)',
    '',
    ...(closed.length ? relayTable(closed) : ['(no rows)']),
    '',
    '### Fixed offered load (open loop; latency from the scheduled send time)',
    '',
    ...(open.length ? relayTable(open) : ['(no rows)']),
    '',
    ...wireSection(r.wire),
  ];
  lines.push(...drainSection(r.relay.drain), ...connectionsSection(r.connections));
  if (r.relay.failures.length) {
    lines.push('**Failed scenarios:**', '', ...r.relay.failures.map((f) => `- ${f.scenario}: ${f.error.split('\n')[0]}`), '');
  }
  if (r.crypto) lines.push(...cryptoSection(r.crypto));
  lines.push(...caseReadsSection(r.caseReads));
  lines.push(...cliSection(r.cli));
  return `${lines.join('\n')}\n`;
}

function cryptoSection(c: CryptoResults): string[] {
  const p = c.primitives;
  return [
    '## Crypto: seal, open and relay-side verification vs the libsodium calls they make',
    '',
    '"in libsodium" = the summed time of every `Crypto` call the operation made, each timed in the same runs (medians). Ratio = whole operation ÷ that sum: what the protocol code around libsodium (canonical JSON, base64, schema parsing, copies) adds. "top call" = the call with the largest share of a seal. Verify = what the relay checks per envelope: schema parse, Ed25519 signature over the header, ciphertext hash and length.',
    '',
    '| recipients | body | seal ms | in libsodium | seal ÷ libsodium | top call | open ms | in libsodium | open ÷ libsodium | verify ms | in libsodium | verify ÷ libsodium | envelope bytes |',
    '|---:|---:|---:|---:|---:|:--|---:|---:|---:|---:|---:|---:|---:|',
    ...c.rows.map(
      (row) =>
        `| ${row.recipients} | ${size(row.bodyBytes)} | ${row.sealMs} | ${row.sealSodiumMs} | ${row.sealVsSodium} | ${row.sealTopCall} ${Math.round(row.sealTopShare * 100)}% | ${row.openMs} | ${row.openSodiumMs} | ${row.openVsSodium} | ${row.verifyMs} | ${row.verifySodiumMs} | ${row.verifyVsSodium} | ${row.envelopeBytes} |`,
    ),
    '',
    `Relay-side header verification, 4 KiB body, 1 recipient: ${c.headerVerifyMs} ms per envelope.`,
    '',
    `Isolated primitives (ms per call): X25519 ${round(p.x25519Ms)}, X25519 key pair ${round(p.x25519BaseMs)}, X-Wing encaps ${round(p.xwingEncapsMs)} / decaps ${round(p.xwingDecapsMs)}, Ed25519 sign ${round(p.signMs)} / verify ${round(p.verifyMs)}, random(64) ${round(p.random64Ms)}; per MiB: AEAD ${round(p.aeadPerByteMs * 1048576, 2)}, BLAKE2b ${round(p.hashPerByteMs * 1048576, 2)}, pad ${round(p.padPerByteMs * 1048576, 2)}. The JSON also keeps a model floor built from these (\`sealFloorMs\`, \`openFloorMs\`).`,
    '',
  ];
}

export interface TargetCheck {
  target: string;
  /** The measured value and the limit, in `unit`. */
  value: number | null;
  limit: number;
  unit: string;
  /** null: not measured in this run. */
  met: boolean | null;
  detail: string;
}

const findRow = (rows: RelayRow[], system: string, durability: string, load: string, recipients = 1): RelayRow | undefined =>
  rows.find((r) => r.system === system && r.durability === durability && r.bodyBytes === 4096 && r.recipients === recipients && r.load === load);

/** The issue's measurable targets against this run's figures. */
export function evaluateTargets(r: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const rows = r.relay.rows;
  const closedMode = r.plan.configs[0]?.modes.find((m) => m.kind === 'closed');
  const closedLoad = closedMode?.kind === 'closed' ? `closed/${closedMode.window}` : 'closed/64';
  const relay = findRow(rows, 'handover', 'everysec', closedLoad);
  const durable = findRow(rows, 'durable', 'everysec', closedLoad);
  const throughput = relay && durable && durable.messagesPerS > 0 ? round(relay.messagesPerS / durable.messagesPerS, 2) : null;
  checks.push({
    target: 'Relay (Redis everysec, 4 KiB, 1 recipient) msg/s ÷ durable baseline msg/s, saturation',
    value: throughput,
    limit: 0.5,
    unit: '× (at least)',
    met: throughput === null ? null : throughput >= 0.5,
    detail: relay && durable ? `${relay.messagesPerS} vs ${durable.messagesPerS} msg/s` : 'rows missing',
  });
  // Issue 16: 20 recipients at ≥ 0.35× (full runs only: quick mode has no 20-recipient row).
  const relay20 = findRow(rows, 'handover', 'everysec', closedLoad, 20);
  const durable20 = findRow(rows, 'durable', 'everysec', closedLoad, 20);
  const throughput20 = relay20 && durable20 && durable20.messagesPerS > 0 ? round(relay20.messagesPerS / durable20.messagesPerS, 2) : null;
  checks.push({
    target: 'Relay (Redis everysec, 4 KiB, 20 recipients) msg/s ÷ durable baseline msg/s, saturation',
    value: throughput20,
    limit: 0.35,
    unit: '× (at least)',
    met: throughput20 === null ? null : throughput20 >= 0.35,
    detail: relay20 && durable20 ? `${relay20.messagesPerS} vs ${durable20.messagesPerS} msg/s` : 'no 20-recipient rows in this mode',
  });
  // Issue 16: relay CPU per envelope (cold relays in quick mode: pessimistic; bench/results/profile.md has a warm figure).
  const cpu = relay?.serverCpuMsPerMsg ?? null;
  checks.push({
    target: 'Relay CPU per envelope (Redis everysec, 4 KiB, 1 recipient, saturation)',
    value: cpu,
    limit: 0.45,
    unit: 'ms (at most)',
    met: cpu === null ? null : cpu <= 0.45,
    detail: relay ? `durable baseline ${durable?.serverCpuMsPerMsg ?? '–'} ms${r.mode === 'quick' ? '; quick mode runs cold relay processes' : ''}` : 'row missing',
  });
  // Rows from before version 2 have no version field: they were version 1.
  const wire1 = r.wire?.find((w) => w.recipients === 1 && (w.version ?? 1) === 2) ?? r.wire?.find((w) => w.recipients === 1);
  checks.push({
    target: 'Envelope bytes on the wire, 4 KiB body to 1 device ÷ (padded body + per-recipient X-Wing ciphertext and wrapped key)',
    value: wire1 ? wire1.overhead : null,
    limit: 1.2,
    unit: '× (at most)',
    met: wire1 ? wire1.overhead <= 1.2 : null,
    detail: wire1 ? `version ${wire1.version ?? 1}: ${wire1.wireBytes} B (text frame ${wire1.textFrameBytes} B + binary frame ${wire1.wireBytes - wire1.textFrameBytes} B) vs ${wire1.contentBytes} B` : 'not measured',
  });
  const tl = r.relay.targetLoad;
  const relayAt = tl ? findRow(rows, 'handover', 'everysec', `open/${tl.ratePerS}`) : undefined;
  const durableAt = tl ? findRow(rows, 'durable', 'everysec', `open/${tl.ratePerS}`) : undefined;
  const p99 = relayAt && durableAt && durableAt.e2eP99Ms > 0 ? round(relayAt.e2eP99Ms / durableAt.e2eP99Ms, 2) : null;
  // Falling behind the schedule shows as lost/skipped messages or fewer completions than offered.
  const keptUp = relayAt && tl ? relayAt.lost === 0 && relayAt.skipped === 0 && relayAt.errors === 0 && relayAt.messagesPerS >= 0.95 * tl.ratePerS : false;
  checks.push({
    target: `p99 at half the target load (${tl ? `${tl.ratePerS} msg/s = ${tl.share} × durable saturation` : '–'}) ÷ durable baseline p99 at the same load (issue 6)`,
    value: p99,
    limit: 2,
    unit: '× (at most)',
    met: p99 === null ? null : p99 <= 2 && keptUp,
    detail: relayAt && durableAt ? `p99 ${relayAt.e2eP99Ms} vs ${durableAt.e2eP99Ms} ms${keptUp ? '' : ' (the relay did not keep up with the offered load)'}` : 'rows missing',
  });
  const hs = r.relay.halfSaturation ?? null;
  const relayHalf = hs ? findRow(rows, 'handover', 'everysec', `open/${hs.ratePerS}`) : undefined;
  const durableHalf = hs ? findRow(rows, 'durable', 'everysec', `open/${hs.ratePerS}`) : undefined;
  const p99Half = relayHalf && durableHalf && durableHalf.e2eP99Ms > 0 ? round(relayHalf.e2eP99Ms / durableHalf.e2eP99Ms, 2) : null;
  const keptUpHalf = relayHalf && hs ? relayHalf.lost === 0 && relayHalf.skipped === 0 && relayHalf.errors === 0 && relayHalf.messagesPerS >= 0.95 * hs.ratePerS : false;
  checks.push({
    target: `p99 at half the relay's own saturation (${hs ? `${hs.ratePerS} msg/s of ${hs.relaySaturationMsgPerS}` : '–'}) ÷ durable baseline p99 at the same offered rate (issue 16)`,
    value: p99Half,
    limit: 2,
    unit: '× (at most)',
    met: p99Half === null ? null : p99Half <= 2 && keptUpHalf,
    detail: relayHalf && durableHalf ? `p99 ${relayHalf.e2eP99Ms} vs ${durableHalf.e2eP99Ms} ms${keptUpHalf ? '' : ' (the relay did not keep up with the offered load)'}` : 'rows missing',
  });
  const c = r.crypto;
  for (const n of [1, 20, 100]) {
    const sealRows = c?.rows.filter((row) => row.recipients === n) ?? [];
    const worst = sealRows.reduce<(typeof sealRows)[number] | undefined>((w, row) => (!w || row.sealVsSodium > w.sealVsSodium ? row : w), undefined);
    checks.push({
      target: `Seal for ${n} recipient(s) ÷ its libsodium calls (worst body size)`,
      value: worst ? worst.sealVsSodium : null,
      limit: 1.25,
      unit: '× (at most)',
      met: worst ? worst.sealVsSodium <= 1.25 : null,
      detail: sealRows.map((row) => `${size(row.bodyBytes)} ${row.sealVsSodium}`).join(', ') || 'not measured',
    });
  }
  const seal20 = c?.rows.find((row) => row.recipients === 20 && row.bodyBytes === 4096);
  checks.push({
    target: 'Seal of a 4 KiB referral to 20 devices',
    value: seal20 ? seal20.sealMs : null,
    limit: 100,
    unit: 'ms (under)',
    met: seal20 ? seal20.sealMs < 100 : null,
    detail: seal20 ? `${seal20.sealMs} ms, of which ${seal20.sealSodiumMs} ms in libsodium` : 'not measured',
  });
  const conn = r.connections?.rows ?? [];
  const worstConn = conn.reduce<(typeof conn)[number] | undefined>((w, row) => (!w || row.rssPerSocketKiB > w.rssPerSocketKiB ? row : w), undefined);
  checks.push({
    target: 'Relay memory (RSS) per idle authenticated socket (worst level measured)',
    value: worstConn ? worstConn.rssPerSocketKiB : null,
    limit: 60,
    unit: 'KiB (under)',
    met: worstConn ? worstConn.rssPerSocketKiB < 60 : null,
    detail: conn.map((row) => `${row.sockets} sockets: RSS ${row.rssPerSocketKiB} KiB, heap ${row.heapPerSocketKiB} KiB per socket`).join('; ') || 'not measured',
  });
  // Issue 15: `handover --help` and local reads under 1 s on this machine.
  for (const row of r.cli?.rows.filter((x) => x.targetMs !== undefined) ?? []) {
    const limit = row.targetMs ?? 0;
    checks.push({
      target: `CLI: \`${row.command}\` (${row.what}), whole process`,
      value: row.medianMs,
      limit,
      unit: 'ms (under)',
      met: row.medianMs < limit,
      detail: `${row.vsNode} × node -e 0 (${r.cli?.nodeMs} ms)${r.cli?.compiled ? '' : '; the TypeScript fallback ran (no current build)'}`,
    });
  }
  return checks;
}

function targetsSection(checks: TargetCheck[]): string[] {
  if (checks.length === 0) return [];
  return [
    '## Targets (issues 6 and 16), this run',
    '',
    '| target | measured | limit | met |',
    '|:--|---:|:--|:--|',
    ...checks.map((t) => `| ${t.target} | ${fmt(t.value)} (${t.detail}) | ${t.limit} ${t.unit} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'} |`),
    '',
    'The CPU breakdown per envelope comes from `npm run bench -- --profile` (bench/results/profile.md) and is discussed in docs/PERFORMANCE.md.',
    '',
  ];
}

function drainSection(drain: DrainResult[]): string[] {
  if (drain.length === 0) return [];
  return [
    '### Reconnect and drain',
    '',
    'A device goes offline, the sender queues envelopes for it (4 KiB, acked by the relay), then the device connects: connect = socket ticket over HTTP, then the WebSocket upgrade it authenticates; all acked = the relay confirmed the device\'s ack of the last envelope (its inbox is empty).',
    '',
    '| store | queued | queue ms | connect ms | first delivery ms | all delivered ms | all acked ms | envelopes/s |',
    '|:--|---:|---:|---:|---:|---:|---:|---:|',
    ...drain.map((d) => `| ${d.durability} | ${d.queued} | ${d.queueMs} | ${d.connectMs} | ${d.firstDeliveryMs} | ${d.allDeliveredMs} | ${d.allAckedMs} | ${d.envelopesPerS} |`),
    '',
  ];
}

function connectionsSection(c: ConnectionsResult | null): string[] {
  if (!c) return [];
  const mib = (b: number): number => round(b / 1024 / 1024, 1);
  return [
    '## Connections: relay memory per idle authenticated socket',
    '',
    `Relay in its own process on Redis (a second relay process took the registrations and sign-ins, so the measured one only ever saw sockets), run with --expose-gc; memory after a full GC, compared with the same process after a few warm-up sockets were opened and closed but before any measured socket. Baseline RSS ${mib(c.baseline.rss)} MiB, heap ${mib(c.baseline.heapUsed)} MiB. ulimit -n: ${c.fdLimit.soft ?? '?'} (hard ${c.fdLimit.hard ?? '?'}).`,
    '',
    '| sockets | devices | RSS delta MiB | RSS KiB/socket | heap delta MiB | heap KiB/socket | external delta MiB | connect s (sockets added) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...c.rows.map((row) => `| ${row.sockets} | ${row.devices} | ${mib(row.rssDeltaBytes)} | ${row.rssPerSocketKiB} | ${mib(row.heapDeltaBytes)} | ${row.heapPerSocketKiB} | ${mib(row.externalDeltaBytes)} | ${row.connectS} |`),
    ...c.blocked.map((b) => `| ${b.sockets} | – | blocked: ${b.reason} | | | | | |`),
    '',
  ];
}

function wireSection(rows: WireRow[] | undefined): string[] {
  if (!rows || rows.length === 0) return [];
  return [
    '### Envelope bytes on the socket (4 KiB body)',
    '',
    'One `envelope:send` as Socket.IO writes it: a text frame and a binary frame; WebSocket frame headers left out. Version 2 (what clients send): the text frame is only the event and a placeholder, the binary frame the whole envelope (header ‖ signature ‖ ciphertext). Version 1 (for comparison): header JSON with the X-Wing ciphertexts and wrapped keys in base64url, and the ciphertext. Content = padded body ciphertext + 1,168 raw bytes per recipient (X-Wing ciphertext + wrapped key).',
    '',
    '| version | recipients | wire bytes | text frame | ciphertext | content bytes | wire ÷ content |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((w) => `| ${w.version ?? 1} | ${w.recipients} | ${w.wireBytes} | ${w.textFrameBytes} | ${w.ciphertextBytes} | ${w.contentBytes} | ${w.overhead} |`),
    '',
  ];
}
