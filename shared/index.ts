/** The protocol package: schemas, canonical encoding, the crypto seam and the primitives built on it. */
export * from './errors';
export * from './encoding';
export * from './canonical';
export * from './schemas';
export * from './padding';
export * from './certificates';
export * from './device-keys';
export * from './envelope';
export * from './fingerprint';
export * from './keystore';
export * from './crypto/types';
export { createCrypto, cryptoReady, loadCrypto } from './crypto/sodium';
