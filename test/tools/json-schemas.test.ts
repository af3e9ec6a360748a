/**
 * The published JSON Schemas (docs/schemas) stay true to the code:
 * 1. the committed files are exactly what the generator makes from today's
 *    zod schemas (run `npm run schemas` after changing a wire schema);
 * 2. real objects made by the real code (test network, sealed envelope,
 *    the known-answer vectors) validate against them;
 * 3. on hostile variants (unknown keys, non-canonical base64url, device ids
 *    outside an org, wrong versions) the JSON Schema and the zod schema give
 *    the same verdict, so the regexes and strictness survived the export.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { createEnrolmentRequest } from '../../shared/certificates';
import { type Crypto } from '../../shared/crypto/types';
import { loadCrypto } from '../../shared/crypto/sodium';
import { toB64u, utf8 } from '../../shared/encoding';
import { sealEnvelope } from '../../shared/envelope';
import { HandoverError } from '../../shared/errors';
import type { SealedEnvelope } from '../../shared/schemas';
import { CATALOGUE } from '../../tools/json-schemas/catalogue';
import { SCHEMA_DIR, committedFiles, renderAll } from '../../tools/json-schemas/generate';
import { type JsonSchema, validate } from '../../tools/json-schemas/validate';
import { T0, type TestDevice, TestNetwork } from '../support/network';
import type { HandoverVectors } from '../support/vectors';
import { VECTORS_FILE } from '../support/vectors';

const rendered = renderAll();

function schemaOf(file: string): { json: JsonSchema; zod: z.ZodType } {
  const entry = CATALOGUE.find((e) => e.file === file);
  const text = rendered.get(file);
  if (!entry || !text) throw new Error(`no schema ${file} in the catalogue`);
  return { json: JSON.parse(text) as JsonSchema, zod: entry.schema };
}

describe('committed schema files', () => {
  it('are exactly what `npm run schemas` generates from the zod schemas', () => {
    expect(committedFiles()).toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered) {
      const committed = readFileSync(path.join(SCHEMA_DIR, file), 'utf8');
      if (committed !== text) throw new Error(`docs/schemas/${file} is out of date: run \`npm run schemas\` and commit the result`);
    }
  });

  it('name their source and carry no zod type that JSON cannot express (the socket ciphertext is described in words)', () => {
    for (const [file, text] of rendered) {
      const json = JSON.parse(text) as Record<string, unknown>;
      expect(json.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(String(json.$comment)).toContain('npm run schemas');
      expect(typeof json.title).toBe('string');
      if (file !== 'envelope.schema.json' && file !== 'socket-delivery.schema.json') expect(text).not.toContain('binary:');
    }
  });
});

/* ----------------------------------------------------- real objects -- */

let crypto: Crypto;
let samples: Array<{ file: string; value: unknown }>;

beforeAll(async () => {
  crypto = await loadCrypto();
  samples = buildSamples();
});

function buildSamples(): Array<{ file: string; value: unknown }> {
  const net = new TestNetwork(crypto);
  const ngo = net.addOrg('ngo-taraz');
  const shelter = net.addOrg('shelter-ist', 'shelter', { region: 'Istanbul' });
  const sender = net.addDevice(ngo, 'ngo-dev-1');
  const receivers: TestDevice[] = [net.addDevice(shelter, 'sh-dev-1', { oneTimePrekeys: 3 }), net.addDevice(shelter, 'sh-dev-2', { oneTimePrekeys: 0 })];
  const threadId = toB64u(crypto.random(16));
  const body = { v: 1, threadId, orgIds: ['ngo-taraz', 'shelter-ist'], payload: { any: 'application data' } };
  const envelope: SealedEnvelope = sealEnvelope(crypto, {
    sender: net.senderKeys(sender),
    recipients: receivers.map((d) => net.recipientKeys(d)),
    threadId,
    sentAt: T0,
    body: utf8(JSON.stringify(body)),
  });
  const enrolment = createEnrolmentRequest(crypto, {
    orgId: 'shelter-ist',
    deviceId: 'shelter-ist:new-laptop',
    label: 'New laptop',
    signKeyPair: crypto.signKeyPair(),
    dhPublicKey: crypto.dhKeyPair().publicKey,
    createdAt: T0,
  });
  const rootRevocation = net.revokeOrg(net.addOrg('ngo-closed'));
  const deviceRevocation = net.revokeDevice(receivers[1] as TestDevice);
  const device = receivers[0] as TestDevice;
  const bundle = net.bundle(device);
  const refusal = new HandoverError('DEVICE_SET_MISMATCH', 'fetch bundles again', { missing: ['shelter-ist:sh-dev-3'], stale: [] }).toJSON();
  const messageId = envelope.header.messageId;
  const event = {
    type: 'note',
    eventId: toB64u(crypto.random(16)),
    threadId,
    prev: [toB64u(crypto.random(32))],
    author: { deviceId: sender.keys.deviceId, orgId: 'ngo-taraz', orgType: 'ngo' },
    at: T0,
    body: { text: 'Called the shelter; bed confirmed.' },
  };
  return [
    { file: 'org-certificate.schema.json', value: shelter.certificate },
    { file: 'device-certificate.schema.json', value: device.certificate },
    { file: 'enrolment-request.schema.json', value: enrolment },
    { file: 'revocation.schema.json', value: rootRevocation },
    { file: 'revocation.schema.json', value: deviceRevocation },
    { file: 'signed-prekey.schema.json', value: device.signedPrekey },
    { file: 'pq-prekey.schema.json', value: device.pqPrekey },
    { file: 'one-time-prekey.schema.json', value: device.oneTimePrekeys[0] },
    { file: 'device-bundle.schema.json', value: bundle },
    { file: 'recipient-entry.schema.json', value: envelope.header.recipients[0] },
    { file: 'recipient-entry.schema.json', value: envelope.header.recipients[1] },
    { file: 'envelope-header.schema.json', value: envelope.header },
    { file: 'message-body.schema.json', value: body },
    { file: 'referral-event.schema.json', value: event },
    {
      file: 'referral-supplement.schema.json',
      value: { kind: 'referral.supplement', threadId, eventHash: toB64u(crypto.random(32)), data: { identity: { caseCode: 'TEST-0001', mobilePhone: '+77015550123', languages: ['kk', 'ru'] } } },
    },
    { file: 'error-body.schema.json', value: refusal },
    { file: 'http-register-org-request.schema.json', value: { certificate: ngo.certificate } },
    { file: 'http-register-org-response.schema.json', value: { orgId: 'ngo-taraz', replaced: false } },
    { file: 'http-org-entry.schema.json', value: { certificate: shelter.certificate, devices: receivers.map((d) => d.certificate) } },
    { file: 'http-org-directory.schema.json', value: { orgs: [{ certificate: shelter.certificate, devices: [device.certificate] }] } },
    {
      file: 'http-register-device-request.schema.json',
      value: { certificate: sender.certificate, signedPrekey: sender.signedPrekey, pqPrekey: sender.pqPrekey, oneTimePrekeys: sender.oneTimePrekeys },
    },
    { file: 'http-register-device-response.schema.json', value: { deviceId: sender.keys.deviceId, oneTimePrekeys: 2 } },
    { file: 'http-challenge-request.schema.json', value: { deviceId: sender.keys.deviceId } },
    { file: 'http-challenge-response.schema.json', value: { challengeId: toB64u(crypto.random(16)), challenge: toB64u(crypto.random(32)), expiresAt: T0 + 60_000 } },
    { file: 'http-session-request.schema.json', value: { deviceId: sender.keys.deviceId, challengeId: toB64u(crypto.random(16)), signature: toB64u(crypto.random(64)) } },
    { file: 'http-session-response.schema.json', value: { token: toB64u(crypto.random(32)), expiresAt: T0 + 3_600_000 } },
    { file: 'http-socket-ticket-response.schema.json', value: { ticket: toB64u(crypto.random(32)), expiresAt: T0 + 30_000 } },
    { file: 'http-upload-signed-prekeys-request.schema.json', value: { signedPrekey: sender.signedPrekey, pqPrekey: sender.pqPrekey } },
    { file: 'http-ok-response.schema.json', value: { ok: true } },
    { file: 'http-upload-one-time-prekeys-request.schema.json', value: { prekeys: device.oneTimePrekeys } },
    { file: 'http-upload-one-time-prekeys-response.schema.json', value: { count: 102 } },
    { file: 'http-prekey-status.schema.json', value: { oneTimePrekeys: 0, signedPrekeyId: null } },
    { file: 'http-bundles-response.schema.json', value: { org: shelter.certificate, bundles: [bundle, net.bundle(receivers[1] as TestDevice)] } },
    { file: 'http-revocation-list.schema.json', value: { revocations: [rootRevocation, deviceRevocation], issuers: [shelter.certificate] } },
    { file: 'http-publish-revocation-request.schema.json', value: { revocation: deviceRevocation } },
    { file: 'http-publish-revocation-response.schema.json', value: { issuer: 'shelter-ist', seq: 1 } },
    {
      file: 'http-network-info.schema.json',
      value: {
        networkId: net.anchor.networkId,
        rootPublicKey: toB64u(net.root.publicKey),
        development: false,
        limits: { maxEnvelopeBytes: 16_777_280, maxRecipients: 200, retentionMs: 2_592_000_000, maxOneTimePrekeys: 500, oneTimePrekeyLowWater: 20, sessionTtlMs: 3_600_000 },
      },
    },
    { file: 'socket-send-ack.schema.json', value: { ok: true, messageId, storedAt: T0 } },
    { file: 'socket-send-ack.schema.json', value: { ok: false, error: { code: 'REPLAY', message: 'already accepted', details: { messageId, alreadyAccepted: true } } } },
    { file: 'socket-envelope-ack-request.schema.json', value: { messageId } },
    { file: 'socket-empty-ack.schema.json', value: { ok: true } },
    { file: 'socket-inbox-sync-ack.schema.json', value: { ok: true, pending: 3 } },
    { file: 'socket-notice-ack-request.schema.json', value: { noticeId: '1796000000000-0' } },
    { file: 'socket-delivered.schema.json', value: { messageId, recipientDeviceId: device.keys.deviceId, at: T0, noticeId: '1796000000000-2' } },
    { file: 'socket-expired.schema.json', value: { messageId, recipientDeviceIds: [device.keys.deviceId], at: T0, noticeId: '1796000000000-1' } },
    { file: 'socket-prekeys-low.schema.json', value: { remaining: 4 } },
    { file: 'socket-revocations-changed.schema.json', value: { issuer: 'root', seq: 1 } },
    { file: 'envelope.schema.json', value: envelope },
    { file: 'socket-delivery.schema.json', value: { envelope, storedAt: T0 } },
  ];
}

describe('real objects', () => {
  it('validate against their published schema and parse with their zod schema', () => {
    for (const { file, value } of samples) {
      const { json, zod } = schemaOf(file);
      expect({ file, problems: validate(json, value) }).toEqual({ file, problems: [] });
      expect({ file, zod: zod.safeParse(value).success }).toEqual({ file, zod: true });
    }
  });

  it('the known-answer vectors (what another implementation checks against) validate too', () => {
    const v = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as HandoverVectors;
    const check = (file: string, values: unknown[]) => {
      for (const value of values) expect({ file, problems: validate(schemaOf(file).json, value) }).toEqual({ file, problems: [] });
    };
    check('org-certificate.schema.json', v.orgCertificates);
    check('device-certificate.schema.json', v.deviceCertificates);
    check('revocation.schema.json', v.revocations);
    check('signed-prekey.schema.json', v.prekeys.map((p) => p.signedPrekey));
    check('pq-prekey.schema.json', v.prekeys.map((p) => p.pqPrekey));
    check('one-time-prekey.schema.json', v.prekeys.flatMap((p) => p.oneTimePrekeys));
    check('envelope-header.schema.json', [v.envelope.sealed.header]);
  });

  it('every catalogue entry has at least one real sample', () => {
    const covered = new Set(samples.map((s) => s.file));
    const uncovered = CATALOGUE.map((e) => e.file).filter((f) => !covered.has(f));
    expect(uncovered).toEqual([]);
  });
});

/* ------------------------------------------------ hostile variants -- */

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same bytes' neighbour spelling: the last character with one stray low bit set (non-canonical). */
function nonCanonical(text: string): string {
  const last = text[text.length - 1] ?? 'A';
  return text.slice(0, -1) + B64U[B64U.indexOf(last) + 1];
}

type Mutation = (value: Record<string, unknown>) => unknown;

function at(pathKeys: Array<string | number>, change: (v: unknown) => unknown): Mutation {
  return (value) => {
    const copy = structuredClone(value) as Record<string | number, unknown>;
    let node = copy;
    for (const key of pathKeys.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    const lastKey = pathKeys[pathKeys.length - 1] as string | number;
    node[lastKey] = change(node[lastKey]);
    return copy;
  };
}

const COMMON: Array<[string, Mutation]> = [
  ['an unknown key', (v) => ({ ...v, extra: 1 })],
  ['a missing field', (v) => Object.fromEntries(Object.entries(v).slice(1))],
  ['a __proto__ key', (v) => JSON.parse(JSON.stringify(v).replace(/^\{/, '{"__proto__":{"x":1},')) as unknown],
];

const SPECIFIC: Record<string, Array<[string, Mutation]>> = {
  'org-certificate.schema.json': [
    ['non-canonical public key', at(['publicKey'], (k) => nonCanonical(String(k)))],
    ['non-canonical signature', at(['signature'], (k) => nonCanonical(String(k)))],
    ['protocol version 2', at(['v'], () => 2)],
    ['another kind', at(['kind'], () => 'device')],
    ['org id with a colon', at(['orgId'], () => 'ngo:taraz')],
    ['lower-case country', at(['country'], () => 'tr')],
    ['serial 0', at(['serial'], () => 0)],
  ],
  'device-certificate.schema.json': [
    ['device id without its org part', at(['deviceId'], () => 'sh-dev-1')],
    ['device id with an org part of 2 characters', at(['deviceId'], () => 'sh:dev-1')],
    ['device id with two colons', at(['deviceId'], () => 'shelter-ist:sh:dev')],
    ['non-canonical network id', at(['networkId'], (k) => nonCanonical(String(k)))],
    ['unknown role', at(['role'], () => 'root')],
  ],
  'envelope-header.schema.json': [
    ['non-canonical message id', at(['messageId'], (k) => nonCanonical(String(k)))],
    ['non-canonical thread id', at(['threadId'], (k) => nonCanonical(String(k)))],
    ['a 15-byte message id', at(['messageId'], () => 'AAAAAAAAAAAAAAAAAAAA')],
    ['a fractional sentAt', at(['sentAt'], (t) => Number(t) + 0.5)],
    ['no recipients', at(['recipients'], () => [])],
    ['an unknown key in a recipient', at(['recipients', 0, 'extra'], () => true)],
    ['a non-canonical X-Wing ciphertext', at(['recipients', 0, 'pqCiphertext'], (k) => nonCanonical(String(k)))],
    ['a prekey id beyond 32 bits', at(['recipients', 0, 'signedPrekeyId'], () => 2 ** 32)],
  ],
  'revocation.schema.json': [
    ['a subject of another type', at(['subject', 'type'], () => 'thread')],
    ['seq 0', at(['seq'], () => 0)],
  ],
  'message-body.schema.json': [
    ['non-canonical thread id', at(['threadId'], (k) => nonCanonical(String(k)))],
    ['no orgs', at(['orgIds'], () => [])],
    ['version 2', at(['v'], () => 2)],
  ],
  'socket-notice-ack-request.schema.json': [['a notice id that is not a stream id', at(['noticeId'], () => '12')]],
  'error-body.schema.json': [['a client-only code on the wire', at(['error', 'code'], () => 'DECRYPT_FAILED')]],
};

describe('hostile variants', () => {
  it('are refused by the JSON Schema exactly when the zod schema refuses them', () => {
    let checked = 0;
    for (const { file, value } of samples) {
      if (file === 'envelope.schema.json' || file === 'socket-delivery.schema.json') continue; // binary: not JSON
      const { json, zod } = schemaOf(file);
      for (const [what, mutate] of [...COMMON, ...(SPECIFIC[file] ?? [])]) {
        const variant = mutate(value as Record<string, unknown>);
        const verdict = { file, what, json: validate(json, variant).length === 0, zod: zod.safeParse(variant).success };
        expect(verdict).toEqual({ ...verdict, json: verdict.zod });
        if (SPECIFIC[file]?.some(([name]) => name === what)) expect(verdict).toEqual({ ...verdict, zod: false });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
  });
});
