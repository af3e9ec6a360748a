/**
 * The layering rules are enforced by the toolchain (issue 12): the rule
 * checker (dependency-cruiser, `.dependency-cruiser.cjs`) runs over the
 * product code as part of `npm test`, and over a miniature tree in which
 * every file breaks one rule on purpose, to prove each rule fires.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const BIN = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(cwd: string, dirs: string[]): Violation[] {
  const run = spawnSync(process.execPath, [BIN, '--config', CONFIG, '--output-type', 'json', ...dirs], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (!run.stdout) throw new Error(`dependency-cruiser did not run: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

it('the product code obeys every layering rule', () => {
  const violations = cruise(ROOT, ['shared', 'server', 'client', 'examples', 'bench', 'tools']);
  expect(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
});

describe('each rule fires on a file that breaks it', () => {
  let byRule: Map<string, string[]>;
  beforeAll(() => {
    const violations = cruise(path.join(__dirname, 'fixtures'), ['shared', 'server', 'client', 'examples']);
    byRule = new Map();
    for (const v of violations) byRule.set(v.rule.name, [...(byRule.get(v.rule.name) ?? []), v.from]);
  });

  it.each([
    ['shared-is-the-protocol-only', 'shared/protocol.ts'],
    ['protocol-through-its-entry', 'client/sdk/deep-protocol.ts'],
    ['relay-knows-no-referrals', 'server/relay.ts'],
    ['apps-use-the-sdk-facade', 'client/cli/deep.ts'],
    ['apps-use-the-referral-package', 'client/cli/deep.ts'],
    ['apps-never-touch-the-protocol', 'client/cli/deep.ts'],
    ['apps-start-the-relay-through-its-entry', 'client/cli/deep.ts'],
    ['apps-use-the-sdk-facade', 'client/web/deep.ts'],
    ['apps-use-the-referral-package', 'client/web/deep.ts'],
    ['apps-never-touch-the-protocol', 'client/web/deep.ts'],
    ['one-libsodium-importer', 'server/own-sodium.ts'],
    ['crypto-interface-apart', 'server/deep-crypto.ts'],
    ['referral-domain-is-pure', 'client/referral/domain/impure.ts'],
    ['referral-domain-no-node-builtins', 'client/referral/domain/impure.ts'],
    ['sdk-below-the-apps', 'client/sdk/upward.ts'],
    ['no-cycles', 'shared/cycle-a.ts'],
  ])('%s', (rule, file) => {
    expect(byRule.get(rule)).toContain(file);
  });

  it('files that follow the rules are not reported', () => {
    const reported = new Set([...byRule.values()].flat());
    for (const clean of ['client/cli/clean.ts', 'examples/demo.ts', 'shared/crypto/sodium.ts', 'client/sdk/index.ts']) expect(reported.has(clean)).toBe(false);
  });
});
