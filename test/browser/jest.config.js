/**
 * The web app in a real headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core; no browser is ever downloaded) against a real
 * relay on a real redis-server. `npm run test:web` builds the app first.
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/browser'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // ESM-only packages the web app's sources may import (compiled for jest like the sources).
  transformIgnorePatterns: ['/node_modules/(?!(intl-messageformat|@formatjs)/)'],
  testTimeout: 60000,
  forceExit: true,
};
