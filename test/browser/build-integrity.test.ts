/**
 * The published build: dist/web/BUILD-SHA256.txt lists every file of the
 * build with its SHA-256 (`sha256sum -c` format) and its own SHA-256 is the
 * build hash an org compares with the published one; the served index.html
 * names every script and stylesheet with a subresource-integrity hash that
 * matches the file; and Chromium refuses a tampered asset (the app never
 * starts), whether the entry script or a preloaded chunk was changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { startWebServer, type WebServer } from '../../client/cli/web';
import { launchChromium } from './browser';

const WEB_DIR = path.join(__dirname, '../../dist/web');
const MANIFEST = 'BUILD-SHA256.txt';
const sha = (algorithm: 'sha256' | 'sha384', data: Buffer | string, encoding: 'hex' | 'base64') => createHash(algorithm).update(data).digest(encoding);

let browser: Browser;
const servers: WebServer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

/** A copy of the build, served by `handover web`'s server; `tamper` may change it first. */
async function serveCopy(tamper?: (dir: string) => void): Promise<WebServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'handover-web-'));
  dirs.push(dir);
  cpSync(WEB_DIR, dir, { recursive: true });
  tamper?.(dir);
  const server = await startWebServer({ dir, relay: 'http://127.0.0.1:9', port: 0 });
  servers.push(server);
  return server;
}

/** Open the app; whether it started, and what the console said. */
async function open(url: string): Promise<{ ready: boolean; console: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const messages: string[] = [];
  page.on('console', (m) => messages.push(m.text()));
  // Whichever comes first: the app started, or the browser reported an integrity failure.
  const refused = page.waitForEvent('console', { predicate: (m) => /integrity/i.test(m.text()), timeout: 15_000 }).then(() => false);
  const started = page.waitForSelector('html[data-ready="true"]', { timeout: 15_000 }).then(() => true);
  await page.goto(url);
  const ready = await Promise.race([started, refused]);
  // The loser of the race times out with the context closed: nothing to report.
  void started.catch(() => undefined);
  void refused.catch(() => undefined);
  await context.close();
  return { ready, console: messages };
}

it('BUILD-SHA256.txt lists every file of the build with its SHA-256; the build hash is the SHA-256 of that list', () => {
  const manifest = readFileSync(path.join(WEB_DIR, MANIFEST), 'utf8');
  const listed = manifest
    .trimEnd()
    .split('\n')
    .map((line) => {
      const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
      if (!m) throw new Error(`not a sha256sum line: ${line}`);
      return { hash: m[1], file: m[2] as string };
    });
  expect(listed.map((l) => l.file)).toEqual(filesUnder(WEB_DIR).filter((f) => f !== MANIFEST));
  for (const { hash, file } of listed) expect(sha('sha256', readFileSync(path.join(WEB_DIR, file)), 'hex')).toBe(hash);
  expect(listed.map((l) => l.file)).toContain('index.html');
  expect(listed.some((l) => /^assets\/unlock-worker-.*\.js$/.test(l.file))).toBe(true);
  expect(sha('sha256', manifest, 'hex')).toMatch(/^[0-9a-f]{64}$/);
});

it('the build is reproducible: building the same source elsewhere gives the same files and the same build hash, printed at the end', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'handover-rebuild-'));
  dirs.push(out);
  const root = path.join(__dirname, '../..');
  const printed = execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'client/web/vite.config.mjs', '--outDir', out, '--emptyOutDir'], { cwd: root, encoding: 'utf8' });
  const manifest = readFileSync(path.join(out, MANIFEST), 'utf8');
  expect(manifest).toBe(readFileSync(path.join(WEB_DIR, MANIFEST), 'utf8'));
  expect(printed).toContain(`web build SHA-256 ${sha('sha256', manifest, 'hex')} `);
}, 60_000);

it('the served index.html names every script and stylesheet with an integrity hash that matches the file', async () => {
  const server = await serveCopy();
  const html = await (await fetch(server.url)).text();
  const tags = [...html.matchAll(/<(script|link)\b[^>]*>/g)].map((m) => m[0]);
  expect(tags.length).toBeGreaterThanOrEqual(3); // the entry script, the preloaded chunks, the stylesheet
  for (const tag of tags) {
    const url = /\b(?:src|href)="([^"]+)"/.exec(tag)?.[1];
    const integrity = /\bintegrity="sha384-([^"]+)"/.exec(tag)?.[1];
    expect([tag, url !== undefined, integrity !== undefined]).toEqual([tag, true, true]);
    const body = Buffer.from(await (await fetch(new URL(url as string, server.url))).arrayBuffer());
    expect([url, sha('sha384', body, 'base64')]).toEqual([url, integrity]);
  }
  expect((await open(server.url)).ready).toBe(true);
});

it.each([
  ['the entry script', /^index-.*\.js$/],
  ['a preloaded chunk (libsodium)', /^libsodium-.*\.js$/],
])('Chromium refuses a tampered asset: %s', async (_what, pattern) => {
  const server = await serveCopy((dir) => {
    const file = readdirSync(path.join(dir, 'assets')).find((f) => pattern.test(f));
    if (!file) throw new Error(`no asset matches ${pattern}`);
    const target = path.join(dir, 'assets', file);
    writeFileSync(target, `${readFileSync(target, 'utf8')}\n;globalThis.__tampered = 1;\n`);
  });
  const { ready, console: messages } = await open(server.url);
  expect(ready).toBe(false);
  expect(messages.some((m) => /integrity/i.test(m))).toBe(true);
});
