/**
 * server/main.ts as the process tests and benches run (test/support/
 * relay-process.ts): it announces its URL, restarts on the same port after
 * kill -9, answers the benchmarks' measurements, and exits 0 on SIGTERM.
 */
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import { spawnRelay } from '../support/relay-process';

it('runs, restarts on the same port after kill -9, is measured, and stops cleanly', async () => {
  const crypto = await loadCrypto();
  const env = { HANDOVER_ROOT_PUBLIC_KEY: toB64u(crypto.signKeyPair().publicKey) };
  const first = await spawnRelay(env, { measure: true, execArgv: ['--expose-gc'] });
  expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  expect(await first.cpuMs()).toBeGreaterThan(0);
  const memory = await first.memory();
  expect(memory.gc).toBe(true);
  expect(memory.heapUsed).toBeGreaterThan(0);
  expect(first.rss()).toBeGreaterThan(0);

  const second = await first.restart();
  expect(first.alive()).toBe(false);
  expect(second.url).toBe(first.url);
  expect(second.pid).not.toBe(first.pid);
  expect((await fetch(`${second.url}/healthz`)).status).toBe(200);

  expect(await second.stop()).toBe(0);
  expect(second.output.some((line) => line.includes('relay stopped'))).toBe(true);
}, 60_000);

it('says why when the relay cannot start', async () => {
  await expect(spawnRelay({ PORT: 'not-a-port' })).rejects.toThrow(/relay exited with 78[\s\S]*PORT/);
});
