/**
 * `npm run bench [-- --quick]`: every benchmark in one run, each reported
 * next to a baseline measured in the same run. Writes
 * bench/results/latest.json and bench/results/latest.md.
 *
 * Order: relay baselines, Handover relay scenarios, connections, then
 * crypto (CPU-bound and in this process, so it never overlaps a load run).
 *
 * `npm run bench -- --profile` instead profiles the relay once under load
 * (see profile.ts).
 */
import { measureWire } from './wire';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNodeCrypto } from '../shared/crypto/node';
import { bareRelayScenario, durableRelayScenario, startBaselineServers } from './baselines/scenario';
import { type ConnectionsResult, benchConnections, startConnectionRelays } from './connections';
import { type CaseReadResults, benchCaseReads } from './cases';
import { type CliTimingResults, FULL as CLI_FULL, QUICK as CLI_QUICK, benchCli } from './cli';
import { type CryptoResults, benchSealOpen } from './crypto';
import { drainResults, halfSaturationInfo, handoverRelayScenario, startHandoverRelays, targetLoadInfo, twoProcessScenario } from './handover-scenario';
import { profileMain } from './profile';
import { type BenchResults, addRatios, evaluateTargets, markdown } from './report';
import { type BenchContext, type RelayRow, type RelayScenario, makePlan, startRedis } from './scenario';
import { progress } from './timing';

const baselineScenarios: RelayScenario[] = [bareRelayScenario, durableRelayScenario];

/**
 * ============================ HOOK: relayScenarios ============================
 * Handover relay runs go here. Each is a `RelayScenario`
 * (`(ctx: BenchContext) => Promise<RelayRow[]>`) that, for each config in
 * `ctx.plan.configs` and each `mode` in it (and each `ctx.plan.durabilities`
 * if it runs on Redis), starts the relay (ideally in a child process via
 * `startServerProcess`), builds a `LoadTarget`, calls
 * `runLoad(target, loadOptionsFor(ctx.plan, label, mode, probes))` and returns
 * `rowFromLoad({ system: 'handover', durability, config }, result)` rows.
 * Rows with the same body, recipients and load get ratio columns against the
 * bare baseline and (same fsync policy) the durable baseline automatically.
 * ==============================================================================
 */
const relayScenarios: RelayScenario[] = [handoverRelayScenario, twoProcessScenario];

async function main(): Promise<void> {
  if (process.argv.includes('--profile')) {
    return profileMain();
  }
  const quick = process.argv.includes('--quick');
  const started = Date.now();
  const crypto = await loadNodeCrypto();
  const plan = makePlan(quick);
  const loadAverageAtStart = os.loadavg().map((v) => Math.round(v * 100) / 100);
  progress(`mode: ${quick ? 'quick' : 'full'} on ${os.cpus().length} core(s), load average ${loadAverageAtStart.join(' ')}`);
  const rows: RelayRow[] = [];
  const ctx: BenchContext = { quick, crypto, plan, startRedis, rows };

  const phasesS: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      phasesS[name] = Math.round((Date.now() - t0) / 100) / 10;
    }
  };

  const failures: BenchResults['relay']['failures'] = [];
  const runScenarios = async (scenarios: RelayScenario[]): Promise<void> => {
    for (const scenario of scenarios) {
      try {
        rows.push(...(await scenario(ctx)));
      } catch (err) {
        // One broken scenario must not cost the other results.
        const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        progress(`scenario ${scenario.name || '(anonymous)'} failed: ${error}`);
        failures.push({ scenario: scenario.name || '(anonymous)', error });
      }
    }
  };
  await phase('baselines', () => {
    // Every server process of the run starts now, side by side (about a second of CPU each);
    // each scenario waits for all of them before it measures anything.
    startBaselineServers(ctx);
    startHandoverRelays(ctx);
    void startConnectionRelays(ctx);
    return runScenarios(baselineScenarios);
  });
  await phase('relay', () => runScenarios(relayScenarios));
  addRatios(rows);
  const connections = await phase('connections', async (): Promise<ConnectionsResult | null> => {
    try {
      return await benchConnections(ctx);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      progress(`connections failed: ${error}`);
      failures.push({ scenario: 'connections', error });
      return null;
    }
  });
  const cryptoResults: CryptoResults = await phase('crypto', async () => benchSealOpen(crypto, quick));
  // Envelope bytes on the socket (issue 16).
  const wire = measureWire(crypto);
  // Local case reads on a 200-thread × 20-event profile (issue 12): what `inbox` and `show` cost before any network.
  const caseReads = await phase('cases', async (): Promise<CaseReadResults | null> => {
    try {
      return await benchCaseReads(crypto, { threads: 200, events: 20, runs: quick ? 3 : 7 });
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      progress(`case reads failed: ${error}`);
      failures.push({ scenario: 'case reads', error });
      return null;
    }
  });

  // Whole CLI processes (issue 15): `handover --help` and local reads as ratios to `node -e 0`.
  const cli = await phase('cli', async (): Promise<CliTimingResults | null> => {
    try {
      return await benchCli(crypto, quick ? CLI_QUICK : CLI_FULL);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      progress(`cli timing failed: ${error}`);
      failures.push({ scenario: 'cli timing', error });
      return null;
    }
  });

  const results: BenchResults = {
    when: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadAverageAtStart },
    plan,
    relay: { rows, failures, targetLoad: targetLoadInfo.value, halfSaturation: halfSaturationInfo.value, drain: drainResults },
    connections,
    crypto: cryptoResults,
    wire,
    caseReads,
    cli,
    targets: [],
    phasesS,
    durationS: Math.round((Date.now() - started) / 1000),
  };
  results.targets = evaluateTargets(results);
  const dir = path.join(__dirname, 'results');
  await fs.mkdir(dir, { recursive: true });
  // latest.* is whichever mode ran last; latest-<mode>.* keeps the last run of each mode.
  for (const name of ['latest', `latest-${results.mode}`]) {
    await fs.writeFile(path.join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
    await fs.writeFile(path.join(dir, `${name}.md`), markdown(results));
  }
  progress(`done in ${results.durationS} s: bench/results/latest.{json,md} and latest-${results.mode}.{json,md}`);
  if (failures.length) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
