/** Unit and integration tests. Long suites (reliability, browser) have their own configs. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/test/reliability/', '/test/browser/'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // The web app's string catalogue library ships ES modules only: compiled to CommonJS like the tests.
  transformIgnorePatterns: ['/node_modules/(?!(intl-messageformat|@formatjs)/)'],
  testTimeout: 30000,
  // Relay fixtures close their servers and Redis in afterAll; a stray ioredis reconnect
  // timer must not keep CI waiting for ever once every test has finished.
  forceExit: true,
};
