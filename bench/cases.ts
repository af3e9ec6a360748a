/**
 * Local case reads on a realistic profile: what `handover inbox` and
 * `handover show` cost on a device holding 200 threads × 20 events, in a
 * real profile folder (FileStorage + vault) opened by a real SDK client,
 * with the case layer on top. The baseline, measured in the same run, is
 * the floor any design must pay: reading and decrypting every record of
 * the profile once.
 *
 * The profile is built quickly: the events are made by real CaseServices on
 * the in-process loopback network, then written into the shelter device's
 * vault, whose trust store pins the orgs as a live device would.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import example from '../examples/referral.json';
import { FileStorage } from '../client/sdk/file-storage';
import { CaseService, ReferralBody } from '../client/referral';
import { HandoverClient } from '../client/sdk/client';
import { MessageStore } from '../client/sdk/message-store';
import { Vault } from '../client/sdk/vault';
import { issueDeviceCertificate } from '../shared/certificates';
import { type Crypto, PWHASH_TEST_ONLY } from '../shared/crypto/types';
import { loadNodeCrypto } from '../shared/crypto/node';
import { toB64u } from '../shared/encoding';
import { LoopbackNetwork } from '../test/support/loopback';
import { DAY, TestNetwork } from '../test/support/network';
import { progress, round } from './timing';

export interface CaseReadResults {
  threads: number;
  eventsPerThread: number;
  /** Median ms: open the profile and read and decrypt every record of it once (the floor). */
  decryptAllMs: number;
  /** Median ms of `handover inbox`'s local work: open the profile, start the case layer, list threads. */
  inboxMs: number;
  /** Median ms of `handover show`'s local work: open the profile, start the case layer, read one thread. */
  showMs: number;
  /** Median ms of opening the profile and the case layer's catch-up `start()`, which every CLI case command runs first. */
  startMs: number;
  /** The first read after the profile was written without decoded records (an upgrade): decodes every thread once. */
  firstReadMs: number;
  inboxVsFloor: number;
  showVsFloor: number;
}

const PASSPHRASE = 'bench passphrase for case reads';

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return round(samples[Math.floor(samples.length / 2)] ?? 0, 1);
}

/** Make `threads` referrals, each with `events` events in all, as the shelter device would hold them (bench/cli.ts builds its profile with it too). */
export async function generateMessages(crypto: Crypto, threads: number, events: number) {
  let clock = Date.now() - 10 * DAY;
  const network = new LoopbackNetwork(() => clock);
  const ngo = network.device('ngo-taraz', 'ngo', 'ngo-taraz:dana');
  const shelter = network.device('shelter-ist', 'shelter', 'shelter-ist:amina');
  const ngoCases = new CaseService({ transport: ngo, crypto, now: () => clock });
  const shelterCases = new CaseService({ transport: shelter, crypto, now: () => clock });
  const body = ReferralBody.parse(structuredClone(example));
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  for (let t = 0; t < threads; t++) {
    const { threadId } = await ngoCases.refer(body);
    network.deliverAll();
    await shelterCases.idle();
    clock += 1000;
    await shelterCases.acknowledge(threadId, {});
    for (let e = 2; e < events; e++) {
      clock += 1000;
      await (e % 2 === 0 ? ngoCases : shelterCases).note(threadId, `note ${e}`);
      network.deliverAll();
    }
    await ngoCases.idle();
    await shelterCases.idle();
  }
  ngoCases.dispose();
  shelterCases.dispose();
  return { messages: shelter.allMessages(), threadIds: await shelter.threadIds() };
}

export async function benchCaseReads(crypto: Crypto, opts: { threads: number; events: number; runs: number }): Promise<CaseReadResults> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'handover-bench-profile-'));
  try {
    progress(`case reads: building a profile of ${opts.threads} threads × ${opts.events} events`);
    const net = new TestNetwork(crypto, Date.now());
    const ngoOrg = net.addOrg('ngo-taraz', 'ngo');
    const shelterOrg = net.addOrg('shelter-ist', 'shelter');
    const storage = await new FileStorage(dir).init();
    const { client, enrolmentRequest } = await HandoverClient.createProfile({
      crypto,
      storage,
      passphrase: PASSPHRASE,
      pwhashLimits: PWHASH_TEST_ONLY,
      orgId: 'shelter-ist',
      deviceId: 'shelter-ist:amina',
      label: 'Amina',
      rootPublicKey: toB64u(net.root.publicKey),
      serverUrl: 'http://127.0.0.1:9',
    });
    const now = Date.now();
    const deviceCert = issueDeviceCertificate(crypto, {
      request: enrolmentRequest,
      orgCertificate: shelterOrg.certificate,
      orgPrivateKey: shelterOrg.keys.privateKey,
      role: 'caseworker',
      issuedAt: now - DAY,
      expiresAt: now + 90 * DAY,
    });
    await client.importCertificates(shelterOrg.certificate, deviceCert);
    await client.trust.admitOrg(ngoOrg.certificate); // as its first directory sync would
    await client.close();

    let t0 = performance.now();
    const { messages, threadIds } = await generateMessages(crypto, opts.threads, opts.events);
    progress(`case reads: ${messages.length} messages made in ${Math.round(performance.now() - t0)} ms`);
    t0 = performance.now();
    const store = new MessageStore(await Vault.unlock(crypto, storage, PASSPHRASE));
    await store.addAll(messages);
    progress(`case reads: stored in ${Math.round(performance.now() - t0)} ms`);

    const open = () => HandoverClient.open({ crypto, storage, passphrase: PASSPHRASE });
    const target = threadIds[Math.floor(threadIds.length / 2)] ?? '';
    // What one CLI command does locally (after start-up and before any network): open the profile,
    // start the case layer (its catch-up), then read. Every run starts cold, as a new process would.
    const command = async (read: (cases: CaseService) => Promise<unknown>) => {
      const client = await open();
      const cases = new CaseService({ transport: client, crypto });
      try {
        await cases.start();
        return await read(cases);
      } finally {
        cases.dispose();
        await client.close();
      }
    };
    let t1 = performance.now();
    await command((cases) => cases.listThreads()); // the first read decodes every thread once (an upgrade from an older profile)
    const firstReadMs = round(performance.now() - t1, 1);
    const shown = (await command((cases) => cases.thread(target))) as Awaited<ReturnType<CaseService['thread']>>;
    if (shown.timeline.length !== opts.events) throw new Error('the bench profile is not what it should be');

    const decryptAllMs = await median(opts.runs, async () => {
      const client = await open();
      await client.close();
      const vault = await Vault.unlock(crypto, storage, PASSPHRASE);
      for (const name of await vault.list('')) await vault.get(name);
    });
    const inboxMs = await median(opts.runs, () => command((cases) => cases.listThreads()));
    const showMs = await median(opts.runs, () => command((cases) => cases.thread(target)));
    t1 = performance.now();
    const startMs = await median(opts.runs, () => command(async () => undefined));
    return {
      threads: opts.threads,
      eventsPerThread: opts.events,
      decryptAllMs,
      inboxMs,
      showMs,
      startMs,
      firstReadMs,
      inboxVsFloor: round(inboxMs / decryptAllMs, 2),
      showVsFloor: round(showMs / decryptAllMs, 2),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export function caseReadsSection(r: CaseReadResults | null): string[] {
  if (!r) return [];
  return [
    '## Local case reads (`handover inbox` / `show`, local work of one command)',
    '',
    `A real profile folder with ${r.threads} threads × ${r.eventsPerThread} events. Each figure opens the profile cold (as a new CLI process would, Argon2id at test cost), starts the case layer and reads. Floor = open the profile and decrypt every record once. Process start-up and network are not included (see the CLI timing).`,
    '',
    '| measure | ms (median) | × floor |',
    '|:--|--:|--:|',
    `| floor: open + decrypt every record | ${r.decryptAllMs} | 1 |`,
    `| inbox: open + start() + listThreads() | ${r.inboxMs} | ${r.inboxVsFloor} |`,
    `| show: open + start() + thread(id) | ${r.showMs} | ${r.showVsFloor} |`,
    `| open + start() alone | ${r.startMs} | ${round(r.startMs / r.decryptAllMs, 2)} |`,
    `| first read after an upgrade (decodes every thread once) | ${r.firstReadMs} | ${round(r.firstReadMs / r.decryptAllMs, 2)} |`,
    '',
  ];
}

if (require.main === module) {
  void (async () => {
    const quick = process.argv.includes('--quick');
    const result = await benchCaseReads(await loadNodeCrypto(), { threads: 200, events: 20, runs: quick ? 3 : 7 });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  })();
}
