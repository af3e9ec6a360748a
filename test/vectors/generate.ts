/**
 * Regenerate test/vectors/handover-v1.json from its fixed seeds:
 *   npx tsx test/vectors/generate.ts
 * Only needed when the protocol changes on purpose; the vectors test fails
 * until the committed file matches what the code produces.
 */
import { writeFileSync } from 'node:fs';
import { VECTORS_FILE, buildVectors, serializeVectors } from '../support/vectors';

async function main(): Promise<void> {
  writeFileSync(VECTORS_FILE, serializeVectors(await buildVectors()));
  process.stdout.write(`wrote ${VECTORS_FILE}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
