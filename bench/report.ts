/** The result file shapes and the markdown report. */
import type { CryptoResults } from './crypto';
import type { Ratios, RelayPlan, RelayRow } from './scenario';
import { round } from './timing';

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
  };
  crypto: CryptoResults | null;
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
    '## Relay: Handover vs baselines',
    '',
    'Systems: **bare** = thinnest Socket.IO relay (no auth, validation or storage); **durable** = bare + one Redis stream XADD per recipient before the ack and XDEL on the recipient\'s ack, on a private redis-server with AOF and the given `appendfsync`; other systems are the Handover relay.',
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
  ];
  if (r.relay.failures.length) {
    lines.push('**Failed scenarios:**', '', ...r.relay.failures.map((f) => `- ${f.scenario}: ${f.error.split('\n')[0]}`), '');
  }
  if (r.crypto) lines.push(...cryptoSection(r.crypto));
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
