/** Starts a fresh figures file for this run (test/artifacts/reliability.json). */
const { mkdirSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async function globalSetup() {
  const file = path.resolve(__dirname, '../artifacts/reliability.json');
  mkdirSync(path.dirname(file), { recursive: true });
  const cpus = os.cpus();
  const run = {
    startedAt: new Date().toISOString(),
    command: 'npm run test:reliability',
    machine: `${cpus.length} × ${cpus[0] ? cpus[0].model.trim() : 'cpu'}, Node ${process.version}, ${os.platform()}`,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
  writeFileSync(file, `${JSON.stringify({ run }, null, 2)}\n`);
  globalThis.__RELIABILITY_STARTED__ = Date.now();
};
