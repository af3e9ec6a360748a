/**
 * This profile's staff device, unlocked for one command: every device,
 * directory, trust and case command starts here.
 *
 * Read commands (inbox, show, export, due) put the device's own data
 * first: they sync with the relay only if it can be reached within a short
 * wait (HANDOVER_READ_TIMEOUT_MS), and otherwise — or with --offline — show
 * what the device holds, saying so and when it last synced. Every other
 * command that needs the relay fails with UNAVAILABLE within
 * HANDOVER_TIMEOUT_MS, naming the relay.
 */
import { HandoverClient, HandoverError } from '../../sdk';
import { unlockDeviceVault } from '../agent/unlock';
import { type GlobalOptions, localTime, openExistingStorage, progress, readTimeoutMs, requestTimeoutMs, serverUrl } from '../context';

/** The app record holding when this device last finished a sync with the relay. */
const LAST_SYNC_RECORD = 'cli/last-sync';

/** Open this profile's device, sign in and (optionally) connect and sync. */
export async function openDevice(opts: GlobalOptions, connect: boolean): Promise<HandoverClient> {
  const session = await openExistingStorage(opts, 'handover device init');
  const vault = await unlockDeviceVault(session);
  const client = await HandoverClient.open({
    crypto: session.crypto,
    storage: session.storage,
    vault,
    requestTimeoutMs: requestTimeoutMs(),
    ...(opts.server || process.env.HANDOVER_SERVER ? { serverUrl: serverUrl(opts) } : {}),
  });
  // Background work that failed is retried on a later run; people are told, never left guessing.
  client.on('problem', (p) => progress(`${p.what} did not finish (${p.code}: ${p.message}); it is tried again next time`));
  if (!connect) return client;
  if (opts.localRead) {
    await syncIfReachable(client, opts);
  } else {
    if (opts.offline) throw new HandoverError('BAD_REQUEST', '--offline is for the read commands (inbox, show, export, due); this command needs the relay');
    await signInAndSync(client);
  }
  return client;
}

async function signInAndSync(client: HandoverClient): Promise<void> {
  progress('signing in to the relay');
  await client.connect();
  await syncNow(client);
}

async function syncNow(client: HandoverClient): Promise<void> {
  const pending = await client.sync();
  if (pending > 0) progress(`received ${pending} pending message(s)`);
  await client.putRecord(LAST_SYNC_RECORD, { at: Date.now() });
}

/**
 * Sync if the relay can be reached within the read wait (a relay that
 * answers then gets the usual time to hand over what is pending);
 * otherwise go on with what the device holds, and say so.
 */
async function syncIfReachable(client: HandoverClient, opts: GlobalOptions): Promise<void> {
  if (opts.offline) {
    progress(`offline (--offline): showing what this device holds (${await lastSyncText(client)})`);
    return;
  }
  try {
    await reachWithin(client, readTimeoutMs());
    await syncNow(client);
  } catch (err) {
    // Stop everything still waiting on the relay, so nothing arrives while the device's data is read.
    client.api.cancel();
    await client.close();
    // Only an unreachable relay means "offline"; a relay that refuses this device (revoked, expired) is an answer to show.
    if (err instanceof HandoverError && err.code !== 'UNAVAILABLE') throw err;
    const reason = err instanceof Error ? err.message : String(err);
    progress(`offline: showing what this device holds (${await lastSyncText(client)}); ${reason}`);
  }
}

/** Sign in and open the socket, or fail with UNAVAILABLE once `waitMs` has passed. */
async function reachWithin(client: HandoverClient, waitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HandoverError('UNAVAILABLE', `the relay at ${client.api.baseUrl} did not answer within ${waitMs / 1000} s`)), waitMs);
  });
  progress('syncing with the relay');
  const attempt = client.connect();
  attempt.catch(() => undefined); // settled after the deadline won: nobody waits for it any more
  try {
    await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function lastSyncText(client: HandoverClient): Promise<string> {
  const record = (await client.getRecord(LAST_SYNC_RECORD)) as { at?: unknown } | undefined;
  return typeof record?.at === 'number' ? `last sync ${localTime(record.at)}` : 'no sync with the relay on record';
}
