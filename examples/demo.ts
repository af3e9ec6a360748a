/**
 * `npm run demo`: the whole Handover journey in one command, with real keys,
 * a real relay and real sockets.
 *
 *   network root -> NGO in Taraz, IOM Istanbul, shelter in Istanbul
 *   NGO refers a survivor (examples/referral.json, as is) to the shelter, IOM in the thread
 *   shelter acknowledges, accepts, schedules intake, confirms arrival
 *   IOM records return steps
 *   the survivor withdraws consent: every party purges and sends a signed receipt
 *
 * Then it prints each party's timeline and what the relay stored (sizes of
 * ciphertext only). Uses the in-memory store, or Redis when REDIS_URL is set:
 * then under a key prefix of its own (`demo-<time>-<pid>:`), removed at the
 * end, failure included — never point it at a production Redis all the same.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaseService } from '../client/referral';
import { AdminKeys, HandoverClient, MemoryStorage, PWHASH_INTERACTIVE, PWHASH_TEST_ONLY, Vault, type OrgCertificate } from '../client/sdk';
import { loadNodeCrypto } from '../client/sdk/node';
import { type EnqueueRequest, type RelayStore, createLogger, createStore, removeRedisPrefix, storedEnvelope, startRelay, testConfig } from '../server';

interface Party {
  name: string;
  client: HandoverClient;
  cases: CaseService;
}

const say = (line = '') => process.stdout.write(`${line}\n`);

/** Set once the demo writes to Redis: removes its keys (also when the demo fails). */
let removeDemoKeys: (() => Promise<number>) | undefined;
const step = (line: string) => say(`\n▶ ${line}`);

/** Records what the relay writes to inboxes: ids and sizes only, as an operator could see them. */
function recordingStore(store: RelayStore, log: EnqueueRequest[]): RelayStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'enqueue') {
        return async (req: EnqueueRequest) => {
          const result = await target.enqueue(req);
          if (result.status === 'stored') log.push(req);
          return result;
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function main(): Promise<void> {
  const crypto = await loadNodeCrypto();

  step('Network coordinator creates the network root key');
  // Every admin keeps its keys in its own encrypted vault (a folder on its own machine in real life).
  const adminVault = async () => new AdminKeys(crypto, await Vault.create(crypto, new MemoryStorage(), 'demo admin passphrase', PWHASH_TEST_ONLY));
  const coordinator = await adminVault();
  const root = await coordinator.createRoot();
  say(`  network ${root.networkId}`);

  const stored: EnqueueRequest[] = [];
  const redisUrl = process.env.REDIS_URL;
  const config = testConfig({
    rootPublicKey: root.publicKey,
    logLevel: 'warn',
    ...(redisUrl ? { redisUrl, redisKeyPrefix: `demo-${Date.now()}-${process.pid}:` } : {}),
  });
  if (redisUrl) removeDemoKeys = () => removeRedisPrefix(redisUrl, config.redisKeyPrefix);
  const baseStore = await createStore({
    ...(redisUrl ? { redisUrl, keyPrefix: config.redisKeyPrefix } : {}),
    retentionMs: config.retentionMs,
  });
  const relay = await startRelay(config, { crypto, store: recordingStore(baseStore, stored), logger: createLogger('warn') });
  say(`  relay listening at ${relay.url} (${relay.store.kind === 'redis' ? `Redis ${redisUrl}` : 'embedded in-memory store'})`);

  step('Each org admin makes an org key; the coordinator certifies it after comparing its fingerprint');
  const orgAdmin = async (fields: Pick<OrgCertificate, 'orgId' | 'name' | 'orgType' | 'country' | 'services'> & { region: string }) => {
    const admin = await adminVault();
    const key = await admin.createOrgKey(fields.orgId);
    // The org admin reads `key.fingerprint` to the coordinator over the phone.
    const certificate = await coordinator.issueOrg({ ...fields, publicKey: key.publicKey, days: 365, confirmedFingerprint: key.fingerprint });
    await admin.importOrgCertificate(certificate);
    const res = await fetch(new URL('/v1/orgs', relay.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ certificate }),
    });
    if (!res.ok) throw new Error(`registering ${fields.orgId} failed: ${await res.text()}`);
    say(`  certified and registered ${fields.orgId} (${fields.name})`);
    return { admin, certificate };
  };
  const orgs = {
    ngo: await orgAdmin({ orgId: 'ngo-taraz', name: 'Safe Path Taraz', orgType: 'ngo', country: 'KZ', region: 'Taraz', services: ['case-management', 'legal'] }),
    iom: await orgAdmin({ orgId: 'iom-ist', name: 'IOM Istanbul', orgType: 'iom', country: 'TR', region: 'Istanbul', services: ['return', 'case-management'] }),
    shelter: await orgAdmin({
      orgId: 'shelter-ist',
      name: "Umut Women's Shelter",
      orgType: 'shelter',
      country: 'TR',
      region: 'Istanbul',
      services: ['safe-accommodation', 'medical', 'psychosocial'],
    }),
  };

  step('Each org admin enrols one staff device (keys made on the device, certificate signed by the org key)');
  const party = async (name: string, org: (typeof orgs)[keyof typeof orgs], deviceId: string, label: string): Promise<Party> => {
    const { client, enrolmentRequest } = await HandoverClient.createProfile({
      crypto,
      storage: new MemoryStorage(),
      passphrase: `demo passphrase for ${deviceId}`,
      pwhashLimits: PWHASH_INTERACTIVE,
      orgId: org.certificate.orgId,
      deviceId,
      label,
      rootPublicKey: root.publicKey,
      serverUrl: relay.url,
    });
    // The staff member reads the device key fingerprint to the org admin, who certifies it.
    const { fingerprint } = org.admin.enrolmentFingerprint(enrolmentRequest);
    const certificate = await org.admin.signDevice(enrolmentRequest, 'caseworker', 180, fingerprint);
    await client.importCertificates(org.certificate, certificate);
    await client.register();
    const cases = new CaseService({ transport: client });
    await client.connect();
    await client.sync();
    await cases.start();
    say(`  ${name}: device ${deviceId} (${label}) registered and connected`);
    return { name, client, cases };
  };
  const ngo = await party('NGO Taraz', orgs.ngo, 'ngo-taraz:dana', 'Dana, caseworker');
  const iom = await party('IOM Istanbul', orgs.iom, 'iom-ist:emre', 'Emre, return officer');
  const shelter = await party('Shelter Istanbul', orgs.shelter, 'shelter-ist:amina', 'Amina, intake officer');
  const everyone = [ngo, iom, shelter];
  const settle = async () => {
    // Deliveries are asynchronous: give the sockets a moment, then wait for every client and case layer.
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 150));
      for (const p of everyone) {
        await p.client.idle();
        await p.cases.idle();
      }
    }
  };

  step('NGO refers the survivor to the shelter, with IOM as coordinator (examples/referral.json)');
  const referral: unknown = JSON.parse(readFileSync(path.join(__dirname, 'referral.json'), 'utf8'));
  const sent = await ngo.cases.refer(referral);
  const threadId = sent.threadId;
  for (const r of sent.recipients) {
    say(`  to ${r.orgId}: ${r.withheld.length > 0 ? `withheld by consent: ${r.withheld.join(', ')}` : 'everything the consent covers'}`);
  }
  await settle();

  const seen = await shelter.cases.thread(threadId);
  const identity = seen.referral?.identity;
  step('The shelter decrypts the referral on its own device');
  say(`  survivor name as the shelter sees it: ${identity?.firstName ?? '?'} ${identity?.secondName ?? ''}`.trimEnd());
  say(`  case code ${identity?.caseCode ?? '-'}, priority ${seen.priority}, respond by ${new Date(seen.responseDeadline ?? 0).toISOString()}`);
  const iomView = await iom.cases.thread(threadId);
  say(`  IOM holds the referral too, without health needs: ${iomView.referral?.healthNeeds === undefined ? 'yes' : 'NO'}`);

  step('Shelter acknowledges, accepts, schedules intake and confirms arrival');
  await shelter.cases.acknowledge(threadId, { note: 'Received, reviewing bed availability' });
  await settle();
  await shelter.cases.accept(threadId, { note: 'Bed reserved in unit B', bedReserved: true });
  await settle();
  await shelter.cases.scheduleIntake(threadId, {
    scheduledFor: Date.now() + 6 * 3600_000,
    location: 'Shelter reception (address by phone)',
    transport: 'Consulate car',
  });
  await settle();
  await shelter.cases.arrived(threadId, { note: 'Arrived safely, intake interview done' });
  await settle();

  step('IOM records return steps');
  await iom.cases.returnStep(threadId, { step: 'return-requested', status: 'done', note: 'Voluntary return requested by the survivor' });
  await settle();
  await iom.cases.returnStep(threadId, { step: 'receipt-confirmed', status: 'done', note: 'Case received by IOM Istanbul' });
  await settle();
  await iom.cases.returnStep(threadId, { step: 'risk-assessment', status: 'done', decision: 'go', note: 'No known threat at home address' });
  await settle();
  await iom.cases.returnStep(threadId, { step: 'travel-documents', status: 'in-progress', note: 'Emergency travel document requested' });
  await settle();

  step('Each party\'s timeline');
  for (const p of everyone) await printTimeline(p, threadId);

  step('The survivor withdraws consent; the NGO records it and every party purges');
  await ngo.cases.withdrawConsent(threadId, {
    givenBy: 'survivor',
    method: 'verbal',
    recordedBy: { name: 'Dana Seitkali', title: 'Caseworker' },
  });
  await settle();
  await settle();
  for (const p of everyone) {
    const t = await p.cases.thread(threadId);
    const receipts = t.consentWithdrawal?.confirmed.map((c) => c.orgId).sort() ?? [];
    const stillHeld = (await p.client.threadMessages(threadId)).length;
    say(`  ${p.name}: purged=${t.purged ? 'yes' : 'no'}, messages still held=${stillHeld}, receipts from ${receipts.join(', ') || 'none'}, complete=${t.consentWithdrawal?.complete ? 'yes' : 'no'}`);
  }

  step('What the relay stored (ciphertext only, as the operator sees it)');
  let total = 0;
  for (const req of stored) {
    const cipherBytes = storedEnvelope(req.blob).ciphertext.length;
    total += cipherBytes;
    say(`  message ${req.messageId.slice(0, 8)}… from ${req.senderDeviceId} to ${req.recipientDeviceIds.length} device(s): ciphertext ${cipherBytes} bytes (header with wrapped keys ${req.blob.length - cipherBytes} bytes)`);
  }
  const haystack = Buffer.concat(stored.map((r) => Buffer.from(r.blob)));
  const name = `${identity?.firstName ?? 'Aigerim'}`;
  say(`  ${stored.length} envelopes, ${total} ciphertext bytes in all; the survivor's name appears in stored bytes: ${haystack.includes(Buffer.from(name)) ? 'YES (bug!)' : 'no'}`);

  for (const p of everyone) {
    p.cases.dispose();
    await p.client.close();
  }
  await relay.close();
  await baseStore.close();
  if (removeDemoKeys) say(`\nRemoved the demo's ${await removeDemoKeys()} Redis keys (prefix ${config.redisKeyPrefix}).`);
  removeDemoKeys = undefined;
  say('\nDemo finished.');
}

async function printTimeline(p: Party, threadId: string): Promise<void> {
  const t = await p.cases.thread(threadId);
  say(`  ${p.name} (${p.client.deviceId}) — status ${t.status}, ${t.timeline.length} events`);
  for (const e of t.timeline) {
    say(`    ${new Date(e.at).toISOString().slice(11, 19)}  ${e.author.orgId.padEnd(12)} ${e.type.padEnd(22)} ${e.summary}`);
  }
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err)}\n`);
    await removeDemoKeys?.().catch(() => undefined);
    process.exit(1);
  },
);
