/**
 * `npm run bench [-- --quick]`: every benchmark in one run, each reported
 * next to a baseline measured in the same run. Writes
 * bench/results/latest.json and bench/results/latest.md.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCrypto } from '../shared/crypto/sodium';
import { benchSealOpen } from './crypto';
import { progress } from './timing';

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const started = Date.now();
  const crypto = await loadCrypto();
  progress(`mode: ${quick ? 'quick' : 'full'} on ${os.cpus().length} core(s)`);

  const cryptoResults = benchSealOpen(crypto, quick);

  const results = {
    when: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    crypto: cryptoResults,
    durationS: Math.round((Date.now() - started) / 1000),
  };
  const dir = path.join(__dirname, 'results');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await fs.writeFile(path.join(dir, 'latest.md'), markdown(results));
  progress(`done in ${results.durationS} s: bench/results/latest.{json,md}`);
}

function markdown(r: { when: string; mode: string; machine: { cpus: number; cpuModel: string; node: string }; crypto: ReturnType<typeof benchSealOpen> }): string {
  const lines = [
    `# Benchmark results (${r.mode}, ${r.when})`,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}.`,
    '',
    '## Crypto: seal and open vs the libsodium calls they make',
    '',
    'Floor = summed cost of the X25519, X-Wing, AEAD, BLAKE2b and Ed25519 calls, each measured in this run.',
    '',
    '| recipients | body | seal ms | floor ms | seal/floor | open ms | floor ms | open/floor | envelope bytes |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.crypto.rows.map(
      (row) =>
        `| ${row.recipients} | ${row.bodyBytes} | ${row.sealMs} | ${row.sealFloorMs} | ${row.sealRatio} | ${row.openMs} | ${row.openFloorMs} | ${row.openRatio} | ${row.envelopeBytes} |`,
    ),
    '',
    `Relay-side header verification (schema + signature + ciphertext hash), 4 KiB body, 1 recipient: ${r.crypto.headerVerifyMs} ms per envelope.`,
    '',
  ];
  return lines.join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
