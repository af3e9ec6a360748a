/**
 * The layering rules of Handover, checked on every `npm test` (npm run
 * lint:deps). Each rule is what the design forbids (docs/ARCHITECTURE.md);
 * test/architecture/rules.test.ts proves every rule fires on a violating
 * fixture. Product code only: tests may reach anywhere (and the independent
 * interop client under test/interop must not use our code at all).
 */
const PRODUCT = '^(shared|server|client|examples|bench|tools)/';
const APPS = '^(client/cli|client/web|examples)/';

module.exports = {
  forbidden: [
    {
      name: 'shared-is-the-protocol-only',
      comment: 'shared/ holds what the relay and clients both use: it imports neither client/ nor server/.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(client|server)/' },
    },
    {
      name: 'protocol-through-its-entry',
      comment: 'The relay and the clients import shared/ only through shared/index.ts (and shared/node.ts for Node\'s loader).',
      severity: 'error',
      from: { path: '^(server|client)/' },
      to: { path: '^shared/', pathNot: '^shared/(index|node)\\.ts$' },
    },
    {
      name: 'relay-knows-no-referrals',
      comment: 'The relay knows envelopes, devices and inboxes; server/ never imports client/ (the referral domain lives there).',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^client/' },
    },
    {
      name: 'apps-use-the-sdk-facade',
      comment: 'Apps (CLI, demo, web app) import the SDK only through client/sdk/index.ts or client/sdk/node.ts.',
      severity: 'error',
      from: { path: APPS },
      to: { path: '^client/sdk/', pathNot: '^client/sdk/(index|node)\\.ts$' },
    },
    {
      name: 'apps-use-the-referral-package',
      comment: 'Apps import the referral domain and case layer only through client/referral/index.ts.',
      severity: 'error',
      from: { path: APPS },
      to: { path: '^client/referral/', pathNot: '^client/referral/index\\.ts$' },
    },
    {
      name: 'apps-never-touch-the-protocol',
      comment: 'Apps never import shared/ (crypto, schemas, envelopes): the SDK does that for them.',
      severity: 'error',
      from: { path: APPS },
      to: { path: '^shared/' },
    },
    {
      name: 'apps-start-the-relay-through-its-entry',
      comment: 'An app that runs a relay (the demo) imports server/index.ts only.',
      severity: 'error',
      from: { path: APPS },
      to: { path: '^server/', pathNot: '^server/index\\.ts$' },
    },
    {
      name: 'one-libsodium-importer',
      comment: 'libsodium is imported by shared/crypto/sodium.ts alone (the crypto seam).',
      severity: 'error',
      from: { path: PRODUCT, pathNot: '^shared/crypto/sodium\\.ts$' },
      to: { path: 'libsodium-wrappers' },
    },
    {
      name: 'crypto-interface-apart',
      comment: 'Code depends on the Crypto interface (shared/crypto/types.ts); only the loaders import the libsodium implementation.',
      severity: 'error',
      from: { path: PRODUCT, pathNot: '^(shared/crypto/node\\.ts|shared/index\\.ts)$' },
      to: { path: '^shared/crypto/sodium\\.ts$' },
    },
    {
      name: 'referral-domain-is-pure',
      comment: 'The referral domain (schemas, state machine, consent, export) has no I/O: no SDK, no case layer, no Node modules.',
      severity: 'error',
      from: { path: '^client/referral/domain/' },
      to: { path: '^(client/(sdk|cli|referral/cases)/|node:)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'referral-domain-no-node-builtins',
      comment: 'The referral domain runs unchanged in a browser.',
      severity: 'error',
      from: { path: '^client/referral/domain/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'sdk-below-the-apps',
      comment: 'The SDK knows nothing of the referral package or the apps built on it.',
      severity: 'error',
      from: { path: '^client/sdk/' },
      to: { path: '^client/(referral|cli|web)/' },
    },
    {
      name: 'no-cycles',
      comment: 'Imports point one way.',
      severity: 'error',
      from: { path: PRODUCT },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
