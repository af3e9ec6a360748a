/**
 * The protocol package's Node-only entry: the crypto loader that verifies
 * Ed25519 through Node's OpenSSL (faster than libsodium's WebAssembly).
 * Browser code never imports this file.
 */
export { loadNodeCrypto } from './crypto/node';
export { nodeEd25519Verifier } from './crypto/ed25519-node';
