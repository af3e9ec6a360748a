/**
 * Interoperability: a client written from docs/PROTOCOL.md alone
 * (test/interop/doc-client, which imports nothing from shared/, client/ or
 * server/) against the real relay on a real redis-server and a real SDK
 * device. TestNetwork plays the network coordinator and the org admins (it
 * certifies the doc client's enrolment request with the NGO org key); the
 * SDK (HandoverClient, CaseService) is used as a black box.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaseService } from '../../client/referral';
import type { HandoverClient } from '../../client/sdk/client';
import type { StoredMessage } from '../../client/sdk/messages';
import { issueDeviceCertificate } from '../../shared/certificates';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { TestNetwork, type TestOrg } from '../support/network';
import { type TestRedis, startRedis } from '../support/redis';
import { type RelayFixture, enrolClient, eventually, startTestRelay } from '../support/relay';
import { type Delivery, DocClient } from './doc-client/client';
import { loadSodium, newSignKeyPair, sign } from './doc-client/crypto';
import { DeviceKeys } from './doc-client/device';
import { sealEnvelope, signingInputV2 } from './doc-client/envelope';
import { decodeFrame } from './doc-client/frame';
import { b64u } from './doc-client/encoding';
import { type ReferralBody, buildCreate, eventHash } from './doc-client/referral';
import type { DeviceCertificate, OrgCertificate } from './doc-client/types';

const NGO = 'ngo-alm';
const SHELTER = 'shelter-ist';

let redis: TestRedis;
let fx: RelayFixture;
let network: TestNetwork;
let ngo: TestOrg;
let shelter: TestOrg;
let sdk: HandoverClient;
let doc: DocClient;
/** A hostile relay for bundle answers: rewrites the JSON the doc client gets for `GET /v1/orgs/{org}/bundles`. */
let tamperBundles: ((askedOrg: string, answer: { org: unknown; bundles: unknown[] }) => Promise<unknown>) | undefined;

const threadId = (): string => b64u(randomBytes(16));

/** The doc client's transport: the real fetch, with a hook to play a hostile relay on bundle answers. */
const hostileFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const m = /\/v1\/orgs\/([^/]+)\/bundles$/.exec(new URL(String(input)).pathname);
  if (!m || !tamperBundles || !res.ok) return res;
  const forged = await tamperBundles(m[1]!, (await res.json()) as { org: unknown; bundles: unknown[] });
  return new Response(JSON.stringify(forged), { status: 200, headers: { 'content-type': 'application/json' } });
};

/**
 * The real bundle answer for an org, as the SDK device (in the shelter) gets
 * it: the relay leaves a requester out of its own org's answer, so the NGO's
 * bundles are fetched by a device outside the NGO.
 */
async function realBundles(orgId: string): Promise<{ org: unknown; bundles: unknown[] }> {
  return sdk.api.bundles(orgId);
}

function nextMessage(client: HandoverClient, match: (m: StoredMessage) => boolean): Promise<StoredMessage> {
  return new Promise((resolve) => {
    const off = client.on('message', (m) => {
      if (!match(m)) return;
      off();
      resolve(m);
    });
  });
}

beforeAll(async () => {
  await loadSodium();
  const crypto = await loadNodeCrypto();
  network = new TestNetwork(crypto, Date.now());
  ngo = network.addOrg(NGO, 'ngo');
  shelter = network.addOrg(SHELTER, 'shelter');
  redis = await startRedis();
  fx = await startTestRelay(network, { redisUrl: redis.url, logLevel: 'warn' });
  sdk = await enrolClient(fx, shelter, 'sh-1');

  // The doc client's device: keys and enrolment request made by the doc client,
  // certified by the NGO's org admin (TestNetwork holds the org key).
  const device = new DeviceKeys(NGO, `${NGO}:doc-1`);
  const request = device.enrolmentRequest('Doc client (interop test)');
  const now = Date.now();
  const certificate = issueDeviceCertificate(crypto, {
    request,
    orgCertificate: ngo.certificate,
    orgPrivateKey: ngo.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 90 * 24 * 3600_000,
  });
  doc = new DocClient({ url: fx.url, rootPublicKey: network.root.publicKey, device, fetch: hostileFetch });
  doc.importCertificates(ngo.certificate as OrgCertificate, certificate as DeviceCertificate);
  await doc.register();
  await doc.signIn();
  await doc.refreshDirectory();
  await doc.connect();
}, 30_000);

afterAll(async () => {
  doc?.close();
  await sdk?.close();
  await fx?.close();
  await redis?.destroy();
});

describe('a client written from PROTOCOL.md alone', () => {
  test('a. doc client → SDK device: the SDK opens it with the exact payload', async () => {
    const tid = threadId();
    const payload = { text: 'Hello from the doc client — Ünïcödé ✓ Қазақ', n: [1, 2, 3], nested: { ok: true } };
    const got = nextMessage(sdk, (m) => m.threadId === tid);
    const sent = await doc.send({ threadId: tid, orgIds: [SHELTER], payload });
    const message = await got;
    expect(message.messageId).toBe(sent.messageId);
    expect(message.payload).toEqual(payload);
    expect(message.senderDeviceId).toBe(doc.device.deviceId);
    expect(message.senderOrgId).toBe(NGO);
    expect(message.orgIds).toEqual([NGO, SHELTER]);
    expect(message.recipientDeviceIds).toEqual([sdk.deviceId]);
  });

  test('b. SDK device → doc client: opened, acked, gone from the relay, the SDK sender told delivered', async () => {
    const tid = threadId();
    const payload = { text: 'Hello from the SDK', list: ['a', 'b'] };
    const deliveredNotice = new Promise<{ messageId: string; recipientDeviceId: string }>((resolve) => {
      const off = sdk.on('delivered', (n) => {
        off();
        resolve(n);
      });
    });
    const sent = await sdk.send({ threadId: tid, orgIds: [NGO], payload });
    const received = await doc.waitFor(() => doc.received.find((r) => r.messageId === sent.messageId), 10_000, 'the SDK message');
    expect(received.body).toMatchObject({ v: 1, threadId: tid, payload });
    expect([...received.body.orgIds].sort()).toEqual([NGO, SHELTER]);
    expect(received.header.senderDeviceId).toBe(sdk.deviceId);
    await eventually(async () => (await fx.relay.store.inboxLength(doc.device.deviceId)) === 0, 5000, 'the inbox to empty');
    await expect(deliveredNotice).resolves.toMatchObject({ messageId: sent.messageId, recipientDeviceId: doc.device.deviceId });
    expect(doc.failures).toEqual([]);
  });

  test('c. referral.create from the doc client: the SDK case layer shows the thread, sent, NGO as sender', async () => {
    const example = JSON.parse(readFileSync(join(__dirname, '../../examples/referral.json'), 'utf8')) as ReferralBody;
    const body: ReferralBody = {
      ...example,
      header: { ...example.header, referredOrganisation: { orgId: SHELTER, orgType: 'shelter' }, coordinators: [] },
      consent: { ...example.consent, coveredOrgIds: [SHELTER], coveredOrgTypes: [], withheld: [] },
    };
    const cases = new CaseService({ transport: sdk, crypto: fx.crypto });
    await cases.start();
    try {
      const { event, message } = buildCreate({ deviceId: doc.device.deviceId, orgId: NGO, orgType: 'ngo' }, body);
      expect(message.orgIds).toEqual([NGO, SHELTER]);
      await doc.send({ threadId: message.threadId, orgIds: message.orgIds, payload: event });
      await eventually(async () => (await cases.thread(event.threadId)).status === 'sent', 10_000, 'the thread to be sent');
      const thread = await cases.thread(event.threadId);
      expect(thread.threadId).toBe(event.threadId);
      expect(thread.participants).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ orgId: NGO, orgType: 'ngo', role: 'sender' }),
          expect.objectContaining({ orgId: SHELTER, orgType: 'shelter', role: 'receiving' }),
        ]),
      );
      expect(thread.rejected).toEqual([]);
      expect(thread.dropped).toEqual([]);
      expect(thread.securityWarnings).toEqual([]);
      // Both sides name the event by the same hash.
      expect(cases.eventId(event as never)).toBe(eventHash(event));
      expect(thread.heads).toEqual([eventHash(event)]);
    } finally {
      cases.dispose();
    }
  });

  test('d1. a bundle answer for another org than asked, or with a device of another org, is refused and nothing is sent', async () => {
    const before = doc.sends;
    // The relay answers the NGO's bundles when asked for the shelter's.
    tamperBundles = async (asked) => (asked === SHELTER ? realBundles(NGO) : realBundles(asked));
    await expect(doc.send({ threadId: threadId(), orgIds: [SHELTER], payload: { x: 1 } })).rejects.toMatchObject({
      code: 'UNTRUSTED_KEY',
      message: expect.stringContaining(`answer for ${NGO}, asked ${SHELTER}`),
    });
    // The right org certificate, with the NGO's device bundle spliced in.
    tamperBundles = async (asked, answer) => {
      if (asked !== SHELTER) return answer;
      const other = await realBundles(NGO);
      return { org: answer.org, bundles: [...answer.bundles, ...other.bundles] };
    };
    await expect(doc.send({ threadId: threadId(), orgIds: [SHELTER], payload: { x: 2 } })).rejects.toMatchObject({
      code: 'UNTRUSTED_KEY',
      message: expect.stringContaining('a bundle of another org'),
    });
    tamperBundles = undefined;
    expect(doc.sends).toBe(before);
  });

  test('d2. an envelope whose signature does not verify is refused (BAD_SIGNATURE), acked away and never shown', async () => {
    const impostor = newSignKeyPair();
    const tampered = new Set<string>();
    doc.inbound = (d: Delivery): Delivery => {
      // The SDK sends version 2: the delivery is the frame of §4.12, its signature at 5 + H.
      if (!('frame' in d)) throw new Error('expected a version 2 frame from the SDK');
      const frame = new Uint8Array(d.frame);
      const decoded = decodeFrame(frame);
      if (decoded.header.senderDeviceId !== sdk.deviceId || tampered.has(decoded.header.messageId)) return d;
      tampered.add(decoded.header.messageId);
      // A well-formed signature over the right header bytes, by a key that is not the sender's.
      frame.set(sign(signingInputV2(decoded.headerBytes), impostor.privateKey), 5 + decoded.headerBytes.length);
      return { ...d, frame };
    };
    try {
      const sent = await sdk.send({ threadId: threadId(), orgIds: [NGO], payload: { forged: true } });
      const failure = await doc.waitFor(() => doc.failures.find((f) => f.messageId === sent.messageId), 10_000, 'the refusal');
      expect(failure).toMatchObject({ code: 'BAD_SIGNATURE', acked: true });
      expect(doc.received.find((r) => r.messageId === sent.messageId)).toBeUndefined();
      await eventually(async () => (await fx.relay.store.inboxLength(doc.device.deviceId)) === 0, 5000, 'the inbox to empty');
    } finally {
      doc.inbound = undefined;
    }
  });

  test('e. reconnect with a new ticket: what arrived meanwhile is replayed on connect', async () => {
    doc.close();
    const sent = await sdk.send({ threadId: threadId(), orgIds: [NGO], payload: { while: 'away' } });
    expect(await fx.relay.store.inboxLength(doc.device.deviceId)).toBe(1);
    await doc.connect();
    await doc.waitFor(() => doc.received.find((r) => r.messageId === sent.messageId), 10_000, 'the replayed message');
    await eventually(async () => (await fx.relay.store.inboxLength(doc.device.deviceId)) === 0, 5000, 'the inbox to empty');
  });

  test("f. the sender's own other devices: left out is DEVICE_SET_MISMATCH naming them; included, they get it", async () => {
    const sibling = await enrolClient(fx, ngo, 'sdk-2');
    try {
      await doc.refreshDirectory();
      const tid = threadId();
      // Sealed to the shelter alone, leaving out the NGO's other device.
      const envelope = sealEnvelope({
        sender: doc.device,
        threadId: tid,
        sentAt: Date.now(),
        body: new TextEncoder().encode(JSON.stringify({ v: 1, threadId: tid, orgIds: [NGO, SHELTER], payload: {} })),
        recipients: await doc.bundlesFor(SHELTER),
      });
      await expect(doc.sendEnvelope(envelope)).rejects.toMatchObject({
        code: 'DEVICE_SET_MISMATCH',
        details: { missing: [sibling.deviceId], stale: [] },
      });
      const payload = { to: 'everyone' };
      const atShelter = nextMessage(sdk, (m) => m.threadId === tid);
      const atSibling = nextMessage(sibling, (m) => m.threadId === tid);
      await doc.send({ threadId: tid, orgIds: [SHELTER], payload });
      expect((await atShelter).payload).toEqual(payload);
      expect((await atSibling).payload).toEqual(payload);
    } finally {
      await sibling.close();
    }
  });
});
