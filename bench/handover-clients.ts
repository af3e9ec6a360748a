/**
 * Client side of the Handover relay benchmarks: one trust network (root;
 * sender devices, each the only device of its own org, so an envelope goes
 * to the recipients alone; a recipient org per recipient count whose
 * devices are exactly the recipients, as the relay's device-set check
 * demands), pre-signed envelope supplies, registration and sign-in on a
 * relay, and a `LoadTarget` over Socket.IO clients that speak the relay's
 * real protocol (a single-use socket ticket per connection, fetched with the
 * session token, `envelope:send` with an ack, `envelope:deliver` answered
 * by `envelope:ack`).
 *
 * Envelopes are sealed with the real `sealEnvelope` once per (body size,
 * recipient count), then copied with a fresh id and signature
 * (`resignedEnvelopes`) until the supply is big enough, all before a run
 * starts: during the timed window the generator only sends.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ROUTES, authSigningInput } from '../shared/api';
import type { Crypto } from '../shared/crypto/types';
import { toB64u } from '../shared/encoding';
import { messageIdOfDelivery } from '../shared/envelope-wire';
import { sealEnvelope } from '../shared/envelope';
import type { SealedEnvelope } from '../shared/schemas';
import { TestNetwork, type TestDevice, type TestOrg } from '../test/support/network';
import { type RawSocket, postJson, rawSocket } from '../test/support/relay';
import { type BenchEnvelope, resignedEnvelopes } from './envelopes';
import type { LoadTarget } from './load';

const THREAD_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Envelopes for one (body size, recipient count), signed ahead of use. */
export class EnvelopeSupply {
  private readonly envelopes: BenchEnvelope[] = [];
  private readonly next: () => BenchEnvelope;

  constructor(crypto: Crypto, template: SealedEnvelope, senderSignPrivateKey: Uint8Array) {
    this.next = resignedEnvelopes(crypto, template, senderSignPrivateKey);
  }

  get size(): number {
    return this.envelopes.length;
  }

  /** Sign copies until at least `count` exist; returns the ms it took. */
  ensure(count: number): number {
    const t0 = performance.now();
    while (this.envelopes.length < count) this.envelopes.push(this.next());
    return performance.now() - t0;
  }

  /** `ensure` in slices, yielding to the event loop between them so child processes and I/O can start meanwhile. */
  async ensureAsync(count: number, slice = 100): Promise<void> {
    while (this.envelopes.length < count) {
      this.ensure(Math.min(count, this.envelopes.length + slice));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  at(index: number): BenchEnvelope {
    const envelope = this.envelopes[index];
    if (!envelope) throw new Error(`envelope supply exhausted at ${index} (have ${this.envelopes.length})`);
    return envelope;
  }
}

export class BenchNetwork {
  readonly net: TestNetwork;
  /** One device per sender org: a sender's own other devices would have to be recipients too. */
  readonly senders: TestDevice[];
  private readonly recipientSets = new Map<number, { org: TestOrg; devices: TestDevice[] }>();
  private readonly supplies = new Map<string, EnvelopeSupply>();

  constructor(readonly crypto: Crypto, senderCount = 4) {
    // Certificates must be valid now: the relay checks them against its clock.
    this.net = new TestNetwork(crypto, Date.now());
    this.senders = Array.from({ length: senderCount }, (_, i) => this.net.addDevice(this.net.addOrg(`bench-ngo-${i}`), `bench-sender-${i}`, { oneTimePrekeys: 0 }));
  }

  get sender(): TestDevice {
    return this.senders[0] as TestDevice;
  }

  get rootPublicKey(): string {
    return toB64u(this.net.root.publicKey);
  }

  /** The recipient devices for a recipient count: every device of one org, created on first use. */
  recipients(count: number): TestDevice[] {
    let set = this.recipientSets.get(count);
    if (!set) {
      const org = this.net.addOrg(`bench-shelter-${count}`, 'shelter');
      const devices = Array.from({ length: count }, (_, i) => this.net.addDevice(org, `bench-r${count}-${i}`, { oneTimePrekeys: 0 }));
      set = { org, devices };
      this.recipientSets.set(count, set);
    }
    return set.devices;
  }

  /** The senders and every recipient device for these recipient counts. */
  devicesFor(recipientCounts: readonly number[]): TestDevice[] {
    return [...this.senders, ...[...new Set(recipientCounts)].flatMap((n) => this.recipients(n))];
  }

  /** Envelopes from sender `senderIndex` to every recipient device of the `recipientCount` org. */
  supply(bodyBytes: number, recipientCount: number, senderIndex = 0): EnvelopeSupply {
    const key = `${bodyBytes}|${recipientCount}|${senderIndex}`;
    const sender = this.senders[senderIndex];
    if (!sender) throw new Error(`no sender ${senderIndex}`);
    let supply = this.supplies.get(key);
    if (!supply) {
      // Signed prekeys only: one-time prekeys would be used up by the first message.
      const recipients = this.recipients(recipientCount).map((d) => this.net.recipientKeys(d, false));
      const template = sealEnvelope(this.crypto, {
        sender: this.net.senderKeys(sender),
        recipients,
        threadId: THREAD_ID,
        sentAt: Date.now(),
        body: randomFillSync(new Uint8Array(bodyBytes)),
      });
      supply = new EnvelopeSupply(this.crypto, template, sender.keys.sign.privateKey);
      this.supplies.set(key, supply);
    }
    return supply;
  }
}

async function postOk(url: string, path: string, body: unknown): Promise<unknown> {
  const res = await postJson(url, path, body);
  if (res.status >= 300) throw new Error(`POST ${path} → ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`);
  return res.json;
}

/** Challenge-response sign-in over HTTP; returns a session token. */
export async function signIn(url: string, crypto: Crypto, net: TestNetwork, device: TestDevice): Promise<string> {
  const deviceId = device.keys.deviceId;
  const ch = (await postOk(url, ROUTES.challenge, { deviceId })) as { challengeId: string; challenge: string };
  const input = authSigningInput({ networkId: net.anchor.networkId, deviceId, challengeId: ch.challengeId, challenge: ch.challenge });
  const signature = toB64u(crypto.sign(input, device.keys.sign.privateKey));
  const session = (await postOk(url, ROUTES.session, { deviceId, challengeId: ch.challengeId, signature })) as { token: string };
  return session.token;
}

/** Run `fn` over `items` with at most `limit` at a time. */
export async function inBatches<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Register orgs and devices on a relay (or on one of several sharing a
 * store) and sign every device in. Returns session tokens by device id.
 */
export async function registerAndSignIn(url: string, crypto: Crypto, net: TestNetwork, devices: readonly TestDevice[], concurrency = 8): Promise<Map<string, string>> {
  const orgs = new Map(devices.map((d) => [d.org.orgId, d.org]));
  for (const org of orgs.values()) await postOk(url, ROUTES.orgs, { certificate: org.certificate });
  const tokens = await inBatches(devices, concurrency, async (device) => {
    await postOk(url, ROUTES.devices, {
      certificate: device.certificate,
      signedPrekey: device.signedPrekey,
      pqPrekey: device.pqPrekey,
      oneTimePrekeys: device.oneTimePrekeys,
    });
    return signIn(url, crypto, net, device);
  });
  return new Map(devices.map((d, i) => [d.keys.deviceId, tokens[i] as string]));
}

/** Where a bench client connects: one relay, or the sender on one and recipients on another. */
export interface RelayEndpoints {
  senderUrl: string;
  recipientUrl: string;
  tokens: Map<string, string>;
  /** Next unused envelope index per supply: a relay refuses an id it has seen, so runs on one store never reuse one. */
  cursors: Map<EnvelopeSupply, number>;
}

export interface HandoverTarget extends LoadTarget {
  /** Sign envelopes until `count` more are ready for this relay; returns `count` (the run's maxMessages). */
  reserve(count: number): number;
  close(): void;
}

function tokenOf(endpoints: RelayEndpoints, device: TestDevice): string {
  const token = endpoints.tokens.get(device.keys.deviceId);
  if (!token) throw new Error(`device ${device.keys.deviceId} is not signed in`);
  return token;
}

export function sendEnvelope(socket: RawSocket, envelope: BenchEnvelope): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.emit('envelope:send', envelope.wire, (res) => {
      if (res.ok) resolve();
      else reject(new Error(`${res.error.code}: ${res.error.message}`));
    });
  });
}

/**
 * A recipient device's socket that acks every delivery (as the SDK does once
 * it has stored the envelope) and reports it to `onDeliver`.
 */
export async function recipientSocket(url: string, token: string, onDeliver: (messageId: string, at: number) => void, onAcked?: () => void): Promise<RawSocket> {
  const socket = await rawSocket(url, token);
  socket.on('envelope:deliver', (delivery) => {
    const at = performance.now();
    const messageId = messageIdOfDelivery(delivery);
    onDeliver(messageId, at);
    socket.emit('envelope:ack', { messageId }, () => onAcked?.());
  });
  return socket;
}

/**
 * `config.senders` sender sockets, socket i signed in as sender device
 * i mod (bench senders), and one socket per recipient device. Message
 * `seq` leaves on socket seq mod senders, from that socket's device.
 */
export async function connectHandoverTarget(
  bench: BenchNetwork,
  endpoints: RelayEndpoints,
  config: { bodyBytes: number; recipients: number; senders: number },
): Promise<HandoverTarget> {
  const deviceOfSocket = (i: number): number => i % bench.senders.length;
  const supplies = Array.from({ length: config.senders }, (_, i) => bench.supply(config.bodyBytes, config.recipients, deviceOfSocket(i)));
  const seqOf = new Map<string, number>();
  let delivered: (seq: number, at?: number) => void = () => undefined;
  const senders = await Promise.all(
    Array.from({ length: config.senders }, (_, i) => rawSocket(endpoints.senderUrl, tokenOf(endpoints, bench.senders[deviceOfSocket(i)] as TestDevice))),
  );
  const recipients = await Promise.all(
    bench.recipients(config.recipients).map((device) =>
      recipientSocket(endpoints.recipientUrl, tokenOf(endpoints, device), (messageId, at) => {
        const seq = seqOf.get(messageId);
        if (seq !== undefined) delivered(seq, at);
      }),
    ),
  );
  return {
    fanOut: config.recipients,
    observe(fn) {
      delivered = fn;
    },
    reserve(count) {
      // Sockets take turns, so each takes at most its share (rounded up); sockets of one device share a supply.
      const perSocket = Math.ceil(count / senders.length);
      const perSupply = new Map<EnvelopeSupply, number>();
      for (const supply of supplies) perSupply.set(supply, (perSupply.get(supply) ?? 0) + perSocket);
      for (const [supply, n] of perSupply) supply.ensure((endpoints.cursors.get(supply) ?? 0) + n);
      return count;
    },
    send(seq) {
      const socket = seq % senders.length;
      const supply = supplies[socket] as EnvelopeSupply;
      const index = endpoints.cursors.get(supply) ?? 0;
      endpoints.cursors.set(supply, index + 1);
      const envelope = supply.at(index);
      seqOf.set(envelope.header.messageId, seq);
      return sendEnvelope(senders[socket] as RawSocket, envelope);
    },
    close() {
      for (const socket of [...senders, ...recipients]) socket.close();
    },
  };
}
