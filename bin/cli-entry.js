// Which code `handover` runs: the compiled JavaScript in dist/cli/ (one
// bundled file, `npm run build:cli`) when it is there and not older than
// what it is built from, else the TypeScript sources through tsx (a
// development tree where someone just edited a file, or a checkout nobody
// has built). Start-up through tsx costs several times more, so a stale
// build must not silently run old code, nor a missing one fail.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const COMPILED_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const SOURCE_MAIN = path.join(ROOT, 'client', 'cli', 'main.ts');
/** Everything the CLI is compiled from (it imports no server code); the lock file stands for the bundled packages. */
const SOURCE_DIRS = ['client', 'shared'].map((d) => path.join(ROOT, d));
const LOCK_FILE = path.join(ROOT, 'package-lock.json');

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time of any .ts file under `dir` (0 when there is none). */
function newestSource(dir) {
  let newest = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Why the compiled CLI cannot be used, or undefined when it can. */
function staleReason() {
  let built;
  try {
    built = fs.statSync(COMPILED_MAIN).mtimeMs;
  } catch {
    return 'missing';
  }
  if (mtime(LOCK_FILE) > built) return 'older than package-lock.json';
  return SOURCE_DIRS.some((dir) => newestSource(dir) > built) ? 'older than the sources' : undefined;
}

/** The compiled entry to run, or undefined to run the sources. HANDOVER_CLI_FROM_SOURCE=1 forces the sources. */
function compiledEntry() {
  if (process.env.HANDOVER_CLI_FROM_SOURCE === '1') return undefined;
  return staleReason() === undefined ? COMPILED_MAIN : undefined;
}

module.exports = { COMPILED_MAIN, SOURCE_MAIN, compiledEntry, staleReason };
