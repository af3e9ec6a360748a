/**
 * The suite's figures: each test file merges its own section into
 * test/artifacts/reliability.json (files run one after another, maxWorkers 1);
 * the global teardown adds the totals quoted in docs/RELIABILITY.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ARTIFACT = path.resolve(__dirname, '../../artifacts/reliability.json');

/** Figures of one fault scenario (deliveries are counted per recipient device). */
export interface DeliveryFigures {
  envelopesSent: number;
  envelopesAcknowledged: number;
  recipientDeliveriesExpected: number;
  recipientDeliveriesDelivered: number;
  lost: number;
  duplicatesAfterDedupe: number;
  redeliveriesBeforeDedupe: number;
  orderViolations: number;
  corruptDeliveries: number;
  [extra: string]: unknown;
}

/** All delivery counts at zero, to count up from (or to report for a scenario that sends nothing). */
export function noDeliveries(): DeliveryFigures {
  return {
    envelopesSent: 0,
    envelopesAcknowledged: 0,
    recipientDeliveriesExpected: 0,
    recipientDeliveriesDelivered: 0,
    lost: 0,
    duplicatesAfterDedupe: 0,
    redeliveriesBeforeDedupe: 0,
    orderViolations: 0,
    corruptDeliveries: 0,
  };
}

type Json = Record<string, unknown>;

function read(): Json {
  try {
    return JSON.parse(readFileSync(ARTIFACT, 'utf8')) as Json;
  } catch {
    return {};
  }
}

/** Merge `figures` under `section.name`; `section` is faults, hostileInput or attacks. */
export function recordFigures(section: 'faults' | 'hostileInput' | 'attacks', name: string, figures: Json): void {
  const all = read();
  const part = (all[section] as Json | undefined) ?? {};
  part[name] = figures;
  all[section] = part;
  mkdirSync(path.dirname(ARTIFACT), { recursive: true });
  writeFileSync(ARTIFACT, `${JSON.stringify(all, null, 2)}\n`);
}
