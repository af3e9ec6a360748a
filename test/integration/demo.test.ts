/**
 * `npm run demo` from the repository: exits 0 and shows what the issue
 * promises, on the in-memory store and on a private redis-server — where it
 * uses a key prefix of its own and leaves no key behind.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startRedis, type TestRedis } from '../support/redis';

const ROOT = path.resolve(__dirname, '../..');

function runDemo(env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, 'examples/demo.ts')],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 120_000 },
      (err, out) => resolve({ code: err ? 1 : 0, stdout: out }),
    );
  });
}

function expectWholeJourney(stdout: string): void {
  expect(stdout).toContain('survivor name as the shelter sees it: Aigerim Nurlanovna');
  expect(stdout).toContain('IOM holds the referral too, without health needs: yes');
  expect(stdout).toMatch(/Shelter Istanbul: purged=yes, messages still held=0, receipts from iom-ist, ngo-taraz, shelter-ist, complete=yes/);
  expect(stdout).toContain("the survivor's name appears in stored bytes: no");
  expect(stdout).toContain('Demo finished.');
}

it('plays the whole journey on the in-memory store', async () => {
  const { code, stdout } = await runDemo();
  expect(code).toBe(0);
  expectWholeJourney(stdout);
}, 150_000);

describe('on Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  it('uses its own key prefix and removes every key it made', async () => {
    // Another relay's data on the same Redis must survive the demo's clean-up.
    const client = redis.client();
    await client.set('ho:{dir}:orgs-marker', 'production data');
    const { code, stdout } = await runDemo({ REDIS_URL: redis.url });
    expect(code).toBe(0);
    expectWholeJourney(stdout);
    const prefix = /Removed the demo's (\d+) Redis keys \(prefix (demo-[\w-]+:)\)/.exec(stdout);
    expect(prefix).not.toBeNull();
    expect(Number(prefix?.[1])).toBeGreaterThan(10);
    expect(await client.keys(`${prefix?.[2]}*`)).toEqual([]);
    expect(await client.keys('*')).toEqual(['ho:{dir}:orgs-marker']);
  }, 150_000);
});
