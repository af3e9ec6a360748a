/** Adds the run's totals to test/artifacts/reliability.json. */
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

module.exports = async function globalTeardown() {
  const file = path.resolve(__dirname, '../artifacts/reliability.json');
  let all;
  try {
    all = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  const faults = Object.values(all.faults || {});
  const sum = (key) => faults.reduce((n, f) => n + (typeof f[key] === 'number' ? f[key] : 0), 0);
  const hostile = Object.values(all.hostileInput || {});
  const attacks = all.attacks || {};
  all.totals = {
    faultScenarios: faults.length,
    envelopesSent: sum('envelopesSent'),
    envelopesAcknowledged: sum('envelopesAcknowledged'),
    recipientDeliveriesExpected: sum('recipientDeliveriesExpected'),
    recipientDeliveriesDelivered: sum('recipientDeliveriesDelivered'),
    lost: sum('lost'),
    duplicatesAfterDedupe: sum('duplicatesAfterDedupe'),
    redeliveriesBeforeDedupe: sum('redeliveriesBeforeDedupe'),
    orderViolations: sum('orderViolations'),
    corruptDeliveries: sum('corruptDeliveries'),
    fuzzCases: hostile.reduce((n, h) => n + (typeof h.cases === 'number' ? h.cases : 0), 0),
    attackCases: Object.values(attacks).reduce((n, a) => n + (Array.isArray(a.cases) ? a.cases.length : 0), 0),
    knownGaps: faults.flatMap((f) => [].concat(f.knownGap || [], f.knownGaps || [])),
  };
  const started = globalThis.__RELIABILITY_STARTED__;
  all.run = { ...(all.run || {}), finishedAt: new Date().toISOString(), ...(started ? { wallSeconds: Math.round((Date.now() - started) / 100) / 10 } : {}) };
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
};
