/**
 * This profile's staff device, unlocked for one command: every device,
 * directory, trust and case command starts here.
 */
import { HandoverClient } from '../../sdk';
import { type GlobalOptions, openStorage, passphrase, progress, serverUrl } from '../context';

/** Open this profile's device, sign in and (optionally) connect. */
export async function openDevice(opts: GlobalOptions, connect: boolean): Promise<HandoverClient> {
  const { crypto, storage } = await openStorage(opts);
  const client = await HandoverClient.open({
    crypto,
    storage,
    passphrase: await passphrase(),
    ...(opts.server || process.env.HANDOVER_SERVER ? { serverUrl: serverUrl(opts) } : {}),
  });
  if (connect) {
    progress('signing in to the relay');
    await client.connect();
    const pending = await client.sync();
    if (pending > 0) progress(`received ${pending} pending message(s)`);
  }
  return client;
}
