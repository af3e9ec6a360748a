/**
 * The protocol package's one public entry: schemas, the HTTP and socket
 * contracts, canonical signing inputs, encodings, time spans, certificates,
 * prekeys, the envelope, the keystore, the crypto seam (the `Crypto`
 * interface and the browser-safe libsodium loader). The relay and the
 * clients import `shared/` through this file only (`shared/node.ts` adds
 * Node's faster loader); the dependency rules enforce it.
 */
export * from './errors';
export * from './encoding';
export * from './canonical';
export * from './schemas';
export * from './api';
export * from './socket-events';
export * from './time';
export * from './validation';
export * from './relay-errors';
export * from './padding';
export * from './certificates';
export * from './device-keys';
export { bodyAssociatedDataV2, checkEnvelopeIntegrity, envelopeSigningInput, signingInputV2, verifyFrame, openEnvelope, openWithContentKey, parseEnvelope, sealEnvelope, verifyEnvelopeSignature } from './envelope';
export type { OpenInput, OpenedEnvelope, SealInput, SenderKeys } from './envelope';
export * from './envelope-wire';
export * from './fingerprint';
export * from './keystore';
export * from './crypto/types';
export { createCrypto, cryptoReady, loadCrypto } from './crypto/sodium';
