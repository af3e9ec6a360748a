/**
 * A verification thread: checks an envelope's signature and ciphertext hash
 * (the relay's CPU-heaviest checks) off the event loop. Stateless: the main
 * thread has already looked up the sender's key and passes it in.
 */
import { parentPort } from 'node:worker_threads';
import { loadNodeCrypto } from '../../shared/node';
import { isHandoverError, readFrame } from '../../shared';
import { checkEnvelope, checkFrame } from './check';
import type { VerifyReply, VerifyRequest } from './protocol';

const port = parentPort;
if (!port) throw new Error('verify-worker.ts runs as a worker thread only');

void loadNodeCrypto().then((crypto) => {
  port.on('message', (request: VerifyRequest) => {
    let reply: VerifyReply;
    try {
      if ('frame' in request) {
        reply = { id: request.id, ok: true, ...checkFrame(crypto, readFrame(request.frame), request.signPublicKey) };
      } else {
        const envelope = { header: request.header, signature: request.signature, ciphertext: request.ciphertext };
        reply = { id: request.id, ok: true, ...checkEnvelope(crypto, envelope, request.signPublicKey) };
      }
    } catch (err) {
      reply = isHandoverError(err)
        ? { id: request.id, ok: false, code: err.code, message: err.message }
        : { id: request.id, ok: false, code: 'INTERNAL', message: 'verification failed unexpectedly' };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true });
});
