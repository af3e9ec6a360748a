/**
 * `npm run screenshots`: after the three-org browser scenario ran (the npm
 * script runs it first), copy its window-sized screenshots of a few screens
 * (test/artifacts/web/screens/readme/) to docs/screenshots/ for README.
 * Refuses a missing or stale shot (older than an hour) and one of 150 KB or
 * more, so README never shows an old screen or a heavy file.
 */
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '../..');
const FROM = path.join(ROOT, 'test/artifacts/web/screens/readme');
const TO = path.join(ROOT, 'docs/screenshots');
const MAX_BYTES = 150 * 1024;
const FRESH_MS = 60 * 60 * 1000;

function main(): void {
  const shots = readdirSync(FROM).filter((f) => f.endsWith('.png')).sort();
  if (shots.length === 0) throw new Error(`no screenshots in ${FROM}: run the browser scenario first (npm run screenshots does)`);
  mkdirSync(TO, { recursive: true });
  for (const file of shots) {
    const stat = statSync(path.join(FROM, file));
    if (Date.now() - stat.mtimeMs > FRESH_MS) throw new Error(`${file} is older than an hour: run the browser scenario again`);
    if (stat.size >= MAX_BYTES) throw new Error(`${file} is ${stat.size} bytes, over ${MAX_BYTES}: use a smaller viewport`);
    copyFileSync(path.join(FROM, file), path.join(TO, file));
    process.stdout.write(`docs/screenshots/${file} (${Math.round(stat.size / 1024)} KB)\n`);
  }
}

main();
