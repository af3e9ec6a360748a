/**
 * Which code `handover` runs (bin/cli-entry.js): the compiled CLI when
 * dist/cli/ holds it and it is not older than any source it is built from
 * (nor than package-lock.json, which stands for the bundled packages),
 * the TypeScript sources otherwise — so a stale build never runs old code
 * and a missing one never fails. Checked on a small copy of the layout,
 * with file times set by hand.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
let tree: string;

interface Entry {
  compiledEntry(): string | undefined;
  staleReason(): string | undefined;
  COMPILED_MAIN: string;
}

function touch(file: string, secondsAgo: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '// stand-in\n');
  const t = Date.now() / 1000 - secondsAgo;
  utimesSync(file, t, t);
}

/** A fresh copy of cli-entry.js in `tree`/bin, loaded anew. */
function entry(): Entry {
  mkdirSync(path.join(tree, 'bin'), { recursive: true });
  copyFileSync(path.join(ROOT, 'bin/cli-entry.js'), path.join(tree, 'bin/cli-entry.js'));
  const file = path.join(tree, 'bin/cli-entry.js');
  delete require.cache[file];
  return require(file) as Entry;
}

beforeEach(() => {
  tree = mkdtempSync(path.join(tmpdir(), 'handover-entry-'));
  touch(path.join(tree, 'client/cli/main.ts'), 300);
  touch(path.join(tree, 'client/sdk/vault.ts'), 300);
  touch(path.join(tree, 'shared/index.ts'), 300);
});
afterEach(() => {
  rmSync(tree, { recursive: true, force: true });
  delete process.env.HANDOVER_CLI_FROM_SOURCE;
});

it('runs the sources when nothing is built', () => {
  const e = entry();
  expect(e.compiledEntry()).toBeUndefined();
  expect(e.staleReason()).toBe('missing');
});

it('runs the compiled CLI when it is newer than every source', () => {
  touch(path.join(tree, 'dist/cli/main.js'), 60);
  const e = entry();
  expect(e.compiledEntry()).toBe(path.join(tree, 'dist/cli/main.js'));
  expect(e.COMPILED_MAIN).toBe(e.compiledEntry());
});

it('falls back to the sources once any source under client/ or shared/ is edited after the build, however deep', () => {
  touch(path.join(tree, 'dist/cli/main.js'), 60);
  touch(path.join(tree, 'shared/crypto/sodium.ts'), 1);
  expect(entry().compiledEntry()).toBeUndefined();
  expect(entry().staleReason()).toBe('older than the sources');
});

it('a newer file that is not a TypeScript source does not count, and HANDOVER_CLI_FROM_SOURCE=1 forces the sources', () => {
  touch(path.join(tree, 'dist/cli/main.js'), 60);
  touch(path.join(tree, 'client/cli/notes.md'), 1);
  expect(entry().compiledEntry()).toBeDefined();
  process.env.HANDOVER_CLI_FROM_SOURCE = '1';
  expect(entry().compiledEntry()).toBeUndefined();
});

it('a package-lock.json newer than the build (packages changed) makes it stale too', () => {
  touch(path.join(tree, 'dist/cli/main.js'), 60);
  touch(path.join(tree, 'package-lock.json'), 1);
  expect(entry().staleReason()).toBe('older than package-lock.json');
});

it('npm ci builds the CLI and its agent into dist/cli/, where the bin and the agent starter look for them', () => {
  const pkg = require(path.join(ROOT, 'package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
  expect(pkg.bin.handover).toBe('bin/handover.js');
  expect(pkg.scripts.prepare).toBe('npm run build:cli');
  const build = pkg.scripts['build:cli'] ?? '';
  expect(build).toMatch(/^esbuild client\/cli\/main\.ts client\/cli\/agent\/agent-main\.ts --bundle /);
  expect(build).toContain('--outdir=dist/cli --entry-names=[name]');
});
