/**
 * The reliability and adversarial suite (`npm run test:reliability`): real
 * relay processes, a private redis-server, fault injection, fuzzing and
 * attacks. Files run one at a time (they start processes and measure them);
 * figures go to test/artifacts/reliability.json.
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/reliability'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  maxWorkers: 1,
  testTimeout: 240_000,
  // Peers and SDK clients stop in afterAll; a socket.io or ioredis timer still armed must not keep the run waiting.
  forceExit: true,
  globalSetup: '<rootDir>/test/reliability/global-setup.js',
  globalTeardown: '<rootDir>/test/reliability/global-teardown.js',
};
