/**
 * Tampering with a sealed envelope, one field at a time.
 *
 * Every mutation is tried on two paths:
 * - "without the key": an attacker (the relay, say) changes the envelope but
 *   cannot re-sign it, so the signature (or the signed ciphertext hash) no
 *   longer matches;
 * - "re-signed": the legitimate sender signs the tampered header, so the
 *   signature is fine and the AEAD / key-encryption-key bindings must catch it.
 *
 * All of it runs for both protocol versions (1: canonical JSON header, 2:
 * binary header). The binary frame itself, byte by byte, is tampered with in
 * envelope-frame-tamper.test.ts.
 */
import { type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { rotateSignedPrekeys } from '../../shared/device-keys';
import { fromB64u, toB64u } from '../../shared/encoding';
import {
  checkEnvelopeIntegrity,
  envelopeSigningInput,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  verifyEnvelopeSignature,
} from '../../shared/envelope';
import { type ErrorCode, isHandoverError } from '../../shared/errors';
import { deviceKeysFromJson, deviceKeysToJson } from '../../shared/keystore';
import { LIMITS, type RecipientEntry, type SealedEnvelope } from '../../shared/schemas';
import { DAY, T0, type TestDevice, TestNetwork } from '../support/network';

let crypto: Crypto;
let net: TestNetwork;
let sender: TestDevice;
let r1: TestDevice; // used a one-time prekey; also rotated its prekeys after the bundle was fetched
let r2: TestDevice; // no one-time prekey in the bundle (last-resort signed prekey)
let base: SealedEnvelope;
const bases = new Map<1 | 2, { base: SealedEnvelope; other: Uint8Array }>();

/** The error code `fn` throws, or a marker that makes a failing expectation readable. */
function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isHandoverError(err) ? err.code : `non-Handover error: ${String(err)}`;
  }
  return 'nothing thrown';
}

function clone(env: SealedEnvelope): SealedEnvelope {
  return { header: structuredClone(env.header), signature: env.signature, ciphertext: env.ciphertext.slice() };
}

/** Flip one bit of byte `index` of a base64url value (the result stays canonical base64url). */
function flipB64u(text: string, index = 0): string {
  const bytes = fromB64u(text);
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return toB64u(bytes);
}

function entryOf(env: SealedEnvelope, device: TestDevice): RecipientEntry {
  const entry = env.header.recipients.find((r) => r.deviceId === device.keys.deviceId);
  if (!entry) throw new Error(`no entry for ${device.keys.deviceId}`);
  return entry;
}

function resign(env: SealedEnvelope, rehash: boolean): void {
  if (rehash) {
    env.header.ciphertextLength = env.ciphertext.length;
    env.header.ciphertextHash = toB64u(crypto.hash(env.ciphertext, 32));
  }
  env.signature = toB64u(crypto.sign(envelopeSigningInput(env.header), sender.keys.sign.privateKey));
}

/** Open as `device`, on a copy of its keys so a test never consumes the fixture's prekeys. */
function openAs(device: TestDevice, env: SealedEnvelope) {
  return openEnvelope(crypto, {
    envelope: env,
    recipient: deviceKeysFromJson(deviceKeysToJson(device.keys)),
    sender: net.senderPublic(sender),
    now: T0,
    maxAgeMs: 30 * DAY,
  });
}

/** The checks the relay runs before storing: signature, then ciphertext hash, length and bucket. */
function relayChecks(env: SealedEnvelope): void {
  verifyEnvelopeSignature(crypto, env, sender.keys.sign.publicKey);
  checkEnvelopeIntegrity(crypto, env);
}

interface Mutation {
  name: string;
  apply: (env: SealedEnvelope) => void;
  /** Does the mutated envelope still pass the wire schema (parseEnvelope)? */
  wellFormed: boolean;
  /** Code when the signature is left as it was. */
  withoutKey: ErrorCode;
  /** Code when the legitimate sender re-signs (and, for ciphertext changes, re-hashes). */
  resigned: ErrorCode;
  /** The ciphertext itself changed: a re-signing sender also updates its hash and length. */
  rehash?: boolean;
  /** Who tries to open (default r1). */
  opener?: () => TestDevice;
  /** A change version 2 refuses earlier, on its own row (a header object field the binary header has no place for). */
  onlyV1?: true;
}

const LOW_ORDER_POINT = toB64u(new Uint8Array(32)); // X25519 point 0: every shared secret would be zero

const MUTATIONS: Mutation[] = [
  // Header fields.
  { name: 'header.v (the other version)', apply: (e) => Object.assign(e.header, { v: e.header.v === 1 ? 2 : 1 }), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.messageId', apply: (e) => (e.header.messageId = flipB64u(e.header.messageId)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.senderDeviceId', apply: (e) => (e.header.senderDeviceId = 'ngo-taraz:ngo-dev-2'), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.threadId', apply: (e) => (e.header.threadId = flipB64u(e.header.threadId)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.sentAt', apply: (e) => (e.header.sentAt -= 1), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.ephemeralKey', apply: (e) => (e.header.ephemeralKey = flipB64u(e.header.ephemeralKey)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.ephemeralKey (low-order point)', apply: (e) => (e.header.ephemeralKey = LOW_ORDER_POINT), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'UNTRUSTED_KEY' },
  { name: 'header.bodyNonce', apply: (e) => (e.header.bodyNonce = flipB64u(e.header.bodyNonce)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'header.ciphertextLength', apply: (e) => (e.header.ciphertextLength += 16), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'BAD_REQUEST' },
  { name: 'header.ciphertextHash', apply: (e) => (e.header.ciphertextHash = flipB64u(e.header.ciphertextHash)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'BAD_SIGNATURE' },

  // The opener's own recipient entry.
  { name: 'own entry.deviceId', apply: (e) => (entryOf(e, r1).deviceId = 'shelter-ist:sh-dev-9'), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'NOT_RECIPIENT' },
  { name: 'own entry.signedPrekeyId (unknown id)', apply: (e) => (entryOf(e, r1).signedPrekeyId = 999), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  // r1 holds prekeys 5 (signed) and 6 (X-Wing) from a later rotation: real keys, but not the ones used.
  { name: 'own entry.signedPrekeyId (another held prekey)', apply: (e) => (entryOf(e, r1).signedPrekeyId = 5), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.pqPrekeyId (another held prekey)', apply: (e) => (entryOf(e, r1).pqPrekeyId = 6), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.oneTimePrekeyId (another held prekey)', apply: (e) => (entryOf(e, r1).oneTimePrekeyId = 4), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.oneTimePrekeyId removed', apply: (e) => delete entryOf(e, r1).oneTimePrekeyId, wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  {
    name: 'own entry.oneTimePrekeyId added (bundle had none)',
    apply: (e) => (entryOf(e, r2).oneTimePrekeyId = 3),
    opener: () => r2,
    wellFormed: true,
    withoutKey: 'BAD_SIGNATURE',
    resigned: 'DECRYPT_FAILED',
  },
  { name: 'own entry.pqCiphertext (ML-KEM part)', apply: (e) => (entryOf(e, r1).pqCiphertext = flipB64u(entryOf(e, r1).pqCiphertext, 0)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.pqCiphertext (X25519 part)', apply: (e) => (entryOf(e, r1).pqCiphertext = flipB64u(entryOf(e, r1).pqCiphertext, -1)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: "own entry.pqCiphertext (another recipient's)", apply: (e) => (entryOf(e, r1).pqCiphertext = entryOf(e, r2).pqCiphertext), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.wrappedKey (key bytes)', apply: (e) => (entryOf(e, r1).wrappedKey = flipB64u(entryOf(e, r1).wrappedKey, 0)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry.wrappedKey (tag bytes)', apply: (e) => (entryOf(e, r1).wrappedKey = flipB64u(entryOf(e, r1).wrappedKey, -1)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: "own entry.wrappedKey (another recipient's)", apply: (e) => (entryOf(e, r1).wrappedKey = entryOf(e, r2).wrappedKey), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'own entry: extra field', apply: (e) => Object.assign(entryOf(e, r1), { note: 'x' }), wellFormed: false, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED', onlyV1: true },

  // Other recipients' entries and the recipient list: the body AD covers all of it.
  {
    name: 'entries swap deviceIds',
    apply: (e) => {
      const a = entryOf(e, r1);
      const b = entryOf(e, r2);
      [a.deviceId, b.deviceId] = [b.deviceId, a.deviceId];
    },
    wellFormed: true,
    withoutKey: 'BAD_SIGNATURE',
    resigned: 'DECRYPT_FAILED',
  },
  { name: "other entry.deviceId", apply: (e) => (entryOf(e, r2).deviceId = 'shelter-ist:sh-dev-9'), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: "other entry.wrappedKey", apply: (e) => (entryOf(e, r2).wrappedKey = flipB64u(entryOf(e, r2).wrappedKey)), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  {
    name: 'recipient added',
    apply: (e) => e.header.recipients.push({ ...entryOf(e, r2), deviceId: 'shelter-ist:sh-dev-extra' }),
    wellFormed: true,
    withoutKey: 'BAD_SIGNATURE',
    resigned: 'DECRYPT_FAILED',
  },
  {
    name: 'recipient removed',
    apply: (e) => (e.header.recipients = e.header.recipients.filter((r) => r.deviceId !== r2.keys.deviceId)),
    wellFormed: true,
    withoutKey: 'BAD_SIGNATURE',
    resigned: 'DECRYPT_FAILED',
  },
  { name: 'recipient listed twice', apply: (e) => e.header.recipients.push({ ...entryOf(e, r1) }), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'BAD_REQUEST' },
  { name: 'recipients reordered', apply: (e) => e.header.recipients.reverse(), wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },

  // The ciphertext bytes (signed only through ciphertextHash / ciphertextLength).
  { name: 'ciphertext first byte', apply: (e) => flipByte(e.ciphertext, 0), rehash: true, wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'ciphertext padding byte', apply: (e) => flipByte(e.ciphertext, 900), rehash: true, wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'ciphertext tag byte', apply: (e) => flipByte(e.ciphertext, e.ciphertext.length - 1), rehash: true, wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
  { name: 'ciphertext truncated', apply: (e) => (e.ciphertext = e.ciphertext.slice(0, -1)), rehash: true, wellFormed: true, withoutKey: 'BAD_REQUEST', resigned: 'BAD_REQUEST' },
  {
    name: 'ciphertext extended to the next bucket',
    apply: (e) => (e.ciphertext = concat(e.ciphertext, new Uint8Array(1024))),
    rehash: true,
    wellFormed: true,
    withoutKey: 'BAD_REQUEST',
    resigned: 'DECRYPT_FAILED',
  },
  { name: 'ciphertext from another envelope', apply: (e) => (e.ciphertext = otherCiphertext.slice()), rehash: true, wellFormed: true, withoutKey: 'BAD_SIGNATURE', resigned: 'DECRYPT_FAILED' },
];

/** Signature mutations (there is nothing to re-sign: the signature itself is what changes). */
const SIGNATURE_MUTATIONS: Array<{ name: string; apply: (e: SealedEnvelope) => void; wellFormed: boolean }> = [
  { name: 'one bit flipped (R half)', apply: (e) => (e.signature = flipB64u(e.signature, 0)), wellFormed: true },
  { name: 'one bit flipped (S half)', apply: (e) => (e.signature = flipB64u(e.signature, 40)), wellFormed: true },
  { name: 'all zeros', apply: (e) => (e.signature = toB64u(new Uint8Array(64))), wellFormed: true },
  {
    name: 'by another device of the same org',
    apply: (e) => (e.signature = toB64u(crypto.sign(envelopeSigningInput(e.header), otherSender.keys.sign.privateKey))),
    wellFormed: true,
  },
  {
    name: 'by the sender, over the header under another domain label',
    apply: (e) => {
      const input = envelopeSigningInput(e.header);
      const label = new TextEncoder().encode('handover/v1/envelope');
      const relabelled = concat(new TextEncoder().encode('handover/v1/auth-challenge'), input.subarray(label.length));
      e.signature = toB64u(crypto.sign(relabelled, sender.keys.sign.privateKey));
    },
    wellFormed: true,
  },
  { name: 'not base64url', apply: (e) => (e.signature = '!'.repeat(86)), wellFormed: false },
  { name: 'truncated', apply: (e) => (e.signature = e.signature.slice(0, 80)), wellFormed: false },
];

let otherSender: TestDevice;
let otherCiphertext: Uint8Array;

function flipByte(bytes: Uint8Array, index: number): void {
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

beforeAll(async () => {
  crypto = await loadCrypto();
  net = new TestNetwork(crypto);
  const ngo = net.addOrg('ngo-taraz');
  const shelter = net.addOrg('shelter-ist', 'shelter');
  sender = net.addDevice(ngo, 'ngo-taraz:ngo-dev-1', { oneTimePrekeys: 0 });
  otherSender = net.addDevice(ngo, 'ngo-taraz:ngo-dev-2', { oneTimePrekeys: 0 });
  // Prekey ids: signed 1, X-Wing 2, one-time 3 and 4.
  r1 = net.addDevice(shelter, 'shelter-ist:sh-dev-1', { oneTimePrekeys: 2 });
  r2 = net.addDevice(shelter, 'shelter-ist:sh-dev-2', { oneTimePrekeys: 1 });
  const recipients = [net.recipientKeys(r1), net.recipientKeys(r2, false)];
  // r1 rotates after its bundle went out: it now also holds signed prekey 5 and X-Wing prekey 6.
  rotateSignedPrekeys(crypto, r1.keys, T0);
  const body = new TextEncoder().encode(JSON.stringify({ type: 'note', text: 'tamper test body' }));
  const seal = (version: 1 | 2) => sealEnvelope(crypto, { sender: net.senderKeys(sender), recipients, threadId: toB64u(new Uint8Array(16).fill(7)), sentAt: T0, body, version });
  // The other ciphertext: same size bucket, other content key.
  for (const version of [1, 2] as const) bases.set(version, { base: seal(version), other: seal(version).ciphertext });
});

describe.each([1, 2] as const)('protocol version %i', (version) => {
beforeAll(() => {
  const fixture = bases.get(version);
  if (!fixture) throw new Error('no fixture');
  base = fixture.base;
  otherCiphertext = fixture.other;
});

test('fixture: sealed under this version', () => {
  expect(base.header.v).toBe(version);
});

test('fixture: the untampered envelope opens for both recipients and passes the relay checks', () => {
  expect(parseEnvelope(clone(base))).toBeDefined();
  expect(thrownCode(() => relayChecks(clone(base)))).toBe('nothing thrown');
  expect(openAs(r1, clone(base)).usedOneTimePrekeyId).toBe(3);
  expect(openAs(r2, clone(base)).usedOneTimePrekeyId).toBeUndefined();
  expect(entryOf(base, r1)).toMatchObject({ signedPrekeyId: 1, pqPrekeyId: 2, oneTimePrekeyId: 3 });
  expect([...r1.keys.signedPrekeys.keys()]).toEqual([1, 5]);
  expect([...r1.keys.pqPrekeys.keys()]).toEqual([2, 6]);
  expect([...r1.keys.oneTimePrekeys.keys()]).toEqual([3, 4]);
});

describe('attacker without the sender key: every change is refused by the recipient and by the relay', () => {
  test.each(MUTATIONS.filter((m) => version === 1 || !m.onlyV1).map((m) => [m.name, m.withoutKey, m] as const))('%s -> %s', (_name, code, m) => {
    const env = clone(base);
    m.apply(env);
    expect(thrownCode(() => parseEnvelope(env))).toBe(m.wellFormed ? 'nothing thrown' : 'BAD_REQUEST');
    expect(thrownCode(() => openAs(m.opener?.() ?? r1, env))).toBe(code);
    expect(thrownCode(() => relayChecks(env))).toBe(code);
  });
});

describe('sender re-signs a tampered envelope: the AEAD and KEK bindings refuse it', () => {
  test.each(MUTATIONS.filter((m) => version === 1 || !m.onlyV1).map((m) => [m.name, m.resigned, m] as const))('%s -> %s', (_name, code, m) => {
    const env = clone(base);
    m.apply(env);
    resign(env, m.rehash ?? false);
    expect(thrownCode(() => parseEnvelope(env))).toBe(m.wellFormed ? 'nothing thrown' : 'BAD_REQUEST');
    // The signature is genuine now, so the refusal comes from the bindings, not the signature.
    expect(thrownCode(() => verifyEnvelopeSignature(crypto, env, sender.keys.sign.publicKey))).toBe('nothing thrown');
    const opener = m.opener?.() ?? r1;
    const keys = deviceKeysFromJson(deviceKeysToJson(opener.keys));
    const before = [...keys.oneTimePrekeys.keys()];
    expect(
      thrownCode(() =>
        openEnvelope(crypto, { envelope: env, recipient: keys, sender: net.senderPublic(sender), now: T0, maxAgeMs: 30 * DAY }),
      ),
    ).toBe(code);
    // A refused envelope never burns a one-time prekey.
    expect([...keys.oneTimePrekeys.keys()]).toEqual(before);
  });
});

describe('signature tampering -> BAD_SIGNATURE', () => {
  test.each(SIGNATURE_MUTATIONS.map((m) => [m.name, m] as const))('%s', (_name, m) => {
    const env = clone(base);
    m.apply(env);
    expect(thrownCode(() => parseEnvelope(env))).toBe(m.wellFormed ? 'nothing thrown' : 'BAD_REQUEST');
    expect(thrownCode(() => openAs(r1, env))).toBe('BAD_SIGNATURE');
    expect(thrownCode(() => verifyEnvelopeSignature(crypto, env, sender.keys.sign.publicKey))).toBe('BAD_SIGNATURE');
  });

  test("a genuine envelope checked against another device's key -> BAD_SIGNATURE", () => {
    expect(thrownCode(() => verifyEnvelopeSignature(crypto, clone(base), otherSender.keys.sign.publicKey))).toBe('BAD_SIGNATURE');
  });
});

describe('malformed envelopes -> BAD_REQUEST at the boundary', () => {
  const SHAPES: Array<[string, (e: Record<string, unknown> & { header: Record<string, unknown> }) => void]> = [
    ['header field missing', (e) => delete e.header.threadId],
    ['unknown header field', (e) => (e.header.caseId = 'case-1')],
    ['unknown top-level field', (e) => (e.note = 'x')],
    ['messageId too short', (e) => (e.header.messageId = 'AAAA')],
    ['messageId not base64url', (e) => (e.header.messageId = '+'.repeat(22))],
    ['senderDeviceId with a slash', (e) => (e.header.senderDeviceId = 'ngo/dev')],
    ['senderDeviceId too long', (e) => (e.header.senderDeviceId = 'd'.repeat(LIMITS.idLength + 1))],
    ['sentAt negative', (e) => (e.header.sentAt = -1)],
    ['sentAt fractional', (e) => (e.header.sentAt = T0 + 0.5)],
    ['sentAt a string', (e) => (e.header.sentAt = String(T0))],
    ['ciphertextLength below a tag', (e) => (e.header.ciphertextLength = 15)],
    ['ephemeralKey 31 bytes', (e) => (e.header.ephemeralKey = toB64u(new Uint8Array(31)))],
    ['bodyNonce 12 bytes', (e) => (e.header.bodyNonce = toB64u(new Uint8Array(12)))],
    ['no recipients', (e) => (e.header.recipients = [])],
    [
      'too many recipients',
      (e) => {
        const first = (e.header.recipients as RecipientEntry[])[0];
        e.header.recipients = Array.from({ length: LIMITS.maxRecipients + 1 }, (_, i) => ({ ...first, deviceId: `dev-${i}` }));
      },
    ],
    ['recipient wrappedKey 32 bytes', (e) => ((e.header.recipients as RecipientEntry[])[0]!.wrappedKey = toB64u(new Uint8Array(32)))],
    ['recipient pqCiphertext 1088 bytes', (e) => ((e.header.recipients as RecipientEntry[])[0]!.pqCiphertext = toB64u(new Uint8Array(1088)))],
    ['recipient prekey id negative', (e) => ((e.header.recipients as RecipientEntry[])[0]!.signedPrekeyId = -1)],
    ['recipient prekey id above 2^32-1', (e) => ((e.header.recipients as RecipientEntry[])[0]!.pqPrekeyId = 2 ** 32)],
    ['ciphertext as a number array', (e) => (e.ciphertext = Array.from(base.ciphertext))],
    ['ciphertext as base64url text', (e) => (e.ciphertext = toB64u(base.ciphertext))],
    ['signature missing', (e) => delete e.signature],
  ];
  test.each(SHAPES)('%s', (_name, mutate) => {
    const env = { header: structuredClone(base.header) as Record<string, unknown>, signature: base.signature, ciphertext: base.ciphertext.slice() } as Record<string, unknown> & {
      header: Record<string, unknown>;
    };
    mutate(env);
    expect(thrownCode(() => parseEnvelope(env))).toBe('BAD_REQUEST');
  });
  test('non-objects', () => {
    for (const value of [null, undefined, 42, 'envelope', [], new Uint8Array(10)]) {
      expect(thrownCode(() => parseEnvelope(value))).toBe('BAD_REQUEST');
    }
  });
});
});

describe('version 2: a header object with a field the binary header cannot carry', () => {
  test.each([
    ['own entry', (e: SealedEnvelope) => Object.assign(entryOf(e, r1), { note: 'x' })],
    ['header', (e: SealedEnvelope) => Object.assign(e.header, { caseId: 'case-1' })],
  ] as const)('%s: refused before any signature is checked or made (BAD_REQUEST)', (_name, mutate) => {
    const env = clone(bases.get(2)!.base);
    mutate(env);
    expect(thrownCode(() => parseEnvelope(env))).toBe('BAD_REQUEST');
    expect(thrownCode(() => openAs(r1, env))).toBe('BAD_REQUEST');
    expect(thrownCode(() => relayChecks(env))).toBe('BAD_REQUEST');
    // Nothing to re-sign: the sender cannot sign such a header either.
    expect(thrownCode(() => envelopeSigningInput(env.header))).toBe('BAD_REQUEST');
  });
});
