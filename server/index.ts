/**
 * The relay's public entry: what a process (server/main.ts), the demo and
 * the benches use to run a relay. The relay knows envelopes, devices and
 * inboxes — never referrals (the dependency rules forbid it).
 */
export { type Relay, type RelayOptions, startRelay } from './relay';
export { type RelayConfig, loadConfig, testConfig } from './config';
export { type Logger, createLogger } from './logger';
export { type EnqueueRequest, type RelayStore, createStore, removeRedisPrefix } from './store';
export { decodeStored, storedEnvelope } from './services/envelopes';
