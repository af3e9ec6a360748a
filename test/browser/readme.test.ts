/**
 * README's "The web app" section, run as written (only the two ports are
 * swapped for free ones): the relay started with `npm start` serves the app
 * with its development banner, and `npx handover web` serves it on
 * 127.0.0.1 for a relay that allows that origin; the build check
 * (sha256sum against BUILD-SHA256.txt) passes on the fresh build.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { webAppCsp } from '../../client/cli/web';
import { launchChromium } from './browser';
import { freePort } from '../support/redis';

const ROOT = path.join(__dirname, '../..');

/** The commands of the section's ```sh blocks, comments dropped. */
function webAppCommands(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## The web app');
  if (start < 0) throw new Error('README.md has no "## The web app" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.flatMap((b) => b.split('\n')).map((line) => line.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

const children: ChildProcess[] = [];
let browser: Browser | undefined;
const dataDir = mkdtempSync(path.join(tmpdir(), 'handover-web-readme-'));

/** Run one README command in its own process group (so the test can stop it and everything it started). */
function start(command: string): ChildProcess {
  const child = spawn('bash', ['-c', command], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HANDOVER_DATA_DIR: dataDir, LOG_LEVEL: 'warn', HANDOVER_PROFILE: path.join(dataDir, 'profile') },
  });
  child.stdout?.resume();
  child.stderr?.resume();
  children.push(child);
  return child;
}

async function until(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer at ${url}`);
}

afterAll(async () => {
  await browser?.close();
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

it('the README commands build, serve and self-host the web app as they say', async () => {
  const commands = webAppCommands();
  expect(commands).toEqual([
    'npm run build:web',
    'npm start',
    'CORS_ORIGINS=http://127.0.0.1:8088 npm start',
    'npx handover web --server http://127.0.0.1:8080 --port 8088',
    '(cd dist/web && sha256sum -c --quiet BUILD-SHA256.txt)',
    'sha256sum dist/web/BUILD-SHA256.txt',
  ]);
  // The build check: silent when every file matches; the build hash is the one the build printed (build-integrity.test.ts).
  expect(execSync(commands[4] as string, { cwd: ROOT, encoding: 'utf8' })).toBe('');
  const manifest = readFileSync(path.join(ROOT, 'dist/web/BUILD-SHA256.txt'));
  expect(execSync(commands[5] as string, { cwd: ROOT, encoding: 'utf8' })).toBe(`${createHash('sha256').update(manifest).digest('hex')}  dist/web/BUILD-SHA256.txt\n`);
  // `npm run test:web` ran the first one before this suite.
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts['test:web']).toMatch(/^npm run build:web && /);

  const relayPort = await freePort();
  const webPort = await freePort();
  const ports = (c: string) => c.replace(/8080/g, String(relayPort)).replace(/8088/g, String(webPort));
  const relay = `http://127.0.0.1:${relayPort}`;
  const web = `http://127.0.0.1:${webPort}`;
  // `npm start` listens on PORT (8080 by default); the second relay command is the first plus CORS_ORIGINS.
  start(`PORT=${relayPort} ${ports(commands[2] as string)}`);
  await until(`${relay}/healthz`, 'the relay');
  start(ports(commands[3] as string));
  await until(web, 'handover web');

  browser = await launchChromium();
  const page = await (await browser.newContext()).newPage();
  await page.goto(relay);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
  expect(await page.textContent('#banner')).toMatch(/DEVELOPMENT BUILD/);
  expect(await page.isVisible('#setup')).toBe(true);

  await page.goto(web);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
  expect(await page.isVisible('#banner')).toBe(false);
  expect(await page.inputValue('#setup input[name="relay"]')).toBe(relay);
  // The relay allows this origin (CORS) and the page's CSP allows the relay.
  const root = await page.evaluate(async (url) => ((await (await fetch(`${url}/v1/network`)).json()) as { rootPublicKey: string }).rootPublicKey, relay);
  expect(root).toMatch(/^[A-Za-z0-9_-]{43}$/);
}, 90_000);

it("the hosting steps name the same Content-Security-Policy and cache headers `handover web` sends", async () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const csp = /the Content-Security-Policy `([^`]+)`/.exec(readme)?.[1];
  expect(csp).toBe(webAppCsp('https://relay.example.org').replace("'self' https://relay.example.org wss://relay.example.org", "'self' <relay origin> <relay ws origin>"));
  const source = readFileSync(path.join(ROOT, 'client/cli/web.ts'), 'utf8');
  for (const header of ["'public, max-age=31536000, immutable'", "'no-store'", "'no-referrer'", "'nosniff'", "'DENY'"]) expect(source).toContain(header);
  for (const header of ['`Cache-Control: no-store`', '`public, max-age=31536000, immutable`', '`Referrer-Policy: no-referrer`', '`X-Content-Type-Options: nosniff`', '`X-Frame-Options: DENY`']) {
    expect(readme).toContain(header);
  }
});
