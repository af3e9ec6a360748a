/**
 * The SDK's Node-only parts, for apps that run in Node (the CLI, the demo):
 * a profile folder on disk and the crypto instance that verifies Ed25519
 * through OpenSSL. Browser code never imports this file.
 */
export { FileStorage } from './file-storage';
export { loadNodeCrypto } from '../../shared/node';
