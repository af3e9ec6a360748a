/**
 * Where the relay listens: loopback unless HOST says otherwise, and the
 * start log names the address the OS really bound (it once said 127.0.0.1
 * while listening on every address). 127.0.0.2 is another loopback address:
 * a socket bound to 127.0.0.1 does not answer there, one bound to 0.0.0.0 does.
 */
import net from 'node:net';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u } from '../../shared/encoding';
import { eventually } from '../support/relay';
import { type RelayProcess, spawnRelay } from '../support/relay-process';

let relay: RelayProcess | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

/** 'open' if a TCP connection to host:port is accepted, else the error code. */
function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** The fields of the "handover relay listening" log line. */
function listeningLine(r: RelayProcess): { url: string; address: string; port: number } {
  const line = r.output.find((l) => l.includes('handover relay listening'));
  if (!line) throw new Error('no listening line');
  return JSON.parse(line) as { url: string; address: string; port: number };
}

const rootKey = async () => toB64u((await loadCrypto()).signKeyPair().publicKey);

it('listens on 127.0.0.1 when HOST is not set, and says so', async () => {
  relay = await spawnRelay({ HOST: '', HANDOVER_ROOT_PUBLIC_KEY: await rootKey() });
  const line = listeningLine(relay);
  expect(line).toMatchObject({ address: '127.0.0.1', url: `http://127.0.0.1:${relay.port}`, port: relay.port });
  await eventually(() => relay!.output.some((l) => l.includes('reachable from this machine only')), 5000, 'the loopback notice');
  expect(await probe('127.0.0.1', relay.port)).toBe('open');
  expect(await probe('127.0.0.2', relay.port)).toBe('ECONNREFUSED');
});

it('listens on every address with HOST=0.0.0.0, and the log says 0.0.0.0', async () => {
  relay = await spawnRelay({ HOST: '0.0.0.0', HANDOVER_ROOT_PUBLIC_KEY: await rootKey() });
  const line = listeningLine(relay);
  expect(line).toMatchObject({ address: '0.0.0.0', url: `http://127.0.0.1:${relay.port}` });
  await eventually(() => relay!.output.some((l) => l.includes('listening beyond this machine')), 5000, 'the notice about other machines');
  expect(await probe('127.0.0.2', relay.port)).toBe('open');
  expect((await fetch(`http://127.0.0.2:${relay.port}/healthz`)).status).toBe(200);
});
