/**
 * A device's private key material and its prekeys (PROTOCOL.md §3), as a
 * plain data object that the keystore seals, plus the functions that create
 * and publish prekeys and turn a fetched bundle into keys to encrypt to.
 */
import { DOMAIN } from './canonical';
import { type TrustAnchor, type RevocationStatus, signObject, verifyDeviceChain, verifyObject } from './certificates';
import type { Crypto, KeyPair } from './crypto/types';
import { fromB64u, toB64u } from './encoding';
import { HandoverError } from './errors';
import {
  DeviceBundle,
  type OneTimePrekey,
  type OrgCertificate,
  PROTOCOL_VERSION,
  type PqPrekey,
  type SignedPrekey,
} from './schemas';
import { DAY_MS } from './time';

export interface StoredPrekey {
  readonly id: number;
  readonly keyPair: KeyPair;
  readonly createdAt: number;
}

export interface DeviceKeys {
  readonly deviceId: string;
  readonly orgId: string;
  readonly sign: KeyPair;
  /** Long-term X25519 identity key (IK). */
  readonly identity: KeyPair;
  /** Current and recent signed prekeys (SPK), by id. */
  readonly signedPrekeys: Map<number, StoredPrekey>;
  /** Current and recent X-Wing prekeys (PQPK), by id. */
  readonly pqPrekeys: Map<number, StoredPrekey>;
  /** Unused one-time prekeys (OPK), by id; removed once a message used one. */
  readonly oneTimePrekeys: Map<number, StoredPrekey>;
  nextPrekeyId: number;
  currentSignedPrekeyId: number | undefined;
  currentPqPrekeyId: number | undefined;
}

export function createDeviceKeys(crypto: Crypto, ids: { deviceId: string; orgId: string }): DeviceKeys {
  return {
    ...ids,
    sign: crypto.signKeyPair(),
    identity: crypto.dhKeyPair(),
    signedPrekeys: new Map(),
    pqPrekeys: new Map(),
    oneTimePrekeys: new Map(),
    nextPrekeyId: 1,
    currentSignedPrekeyId: undefined,
    currentPqPrekeyId: undefined,
  };
}

function takePrekeyId(keys: DeviceKeys): number {
  const id = keys.nextPrekeyId;
  keys.nextPrekeyId += 1;
  return id;
}

/**
 * Make a new signed prekey and X-Wing prekey (the weekly rotation) and
 * return their public, signed forms for upload. Old private halves are kept
 * until `pruneOldPrekeys` drops them after the retention window.
 */
export function rotateSignedPrekeys(
  crypto: Crypto,
  keys: DeviceKeys,
  now: number,
): { signedPrekey: SignedPrekey; pqPrekey: PqPrekey } {
  const spk: StoredPrekey = { id: takePrekeyId(keys), keyPair: crypto.dhKeyPair(), createdAt: now };
  const pq: StoredPrekey = { id: takePrekeyId(keys), keyPair: crypto.kemKeyPair(), createdAt: now };
  keys.signedPrekeys.set(spk.id, spk);
  keys.pqPrekeys.set(pq.id, pq);
  keys.currentSignedPrekeyId = spk.id;
  keys.currentPqPrekeyId = pq.id;
  return publicSignedPrekeys(crypto, keys);
}

/** The signed public forms of the current signed prekey and X-Wing prekey. */
export function publicSignedPrekeys(crypto: Crypto, keys: DeviceKeys): { signedPrekey: SignedPrekey; pqPrekey: PqPrekey } {
  const spk = keys.currentSignedPrekeyId === undefined ? undefined : keys.signedPrekeys.get(keys.currentSignedPrekeyId);
  const pq = keys.currentPqPrekeyId === undefined ? undefined : keys.pqPrekeys.get(keys.currentPqPrekeyId);
  if (!spk || !pq) throw new HandoverError('BAD_REQUEST', 'device has no signed prekeys yet: rotate first');
  const signedPrekey = signObject(
    crypto,
    DOMAIN.signedPrekey,
    { v: PROTOCOL_VERSION, kind: 'signed-prekey' as const, deviceId: keys.deviceId, id: spk.id, publicKey: toB64u(spk.keyPair.publicKey), createdAt: spk.createdAt },
    keys.sign.privateKey,
  );
  const pqPrekey = signObject(
    crypto,
    DOMAIN.pqPrekey,
    { v: PROTOCOL_VERSION, kind: 'pq-prekey' as const, deviceId: keys.deviceId, id: pq.id, publicKey: toB64u(pq.keyPair.publicKey), createdAt: pq.createdAt },
    keys.sign.privateKey,
  );
  return { signedPrekey, pqPrekey };
}

/** Make `count` one-time prekeys and return their signed public forms. */
export function generateOneTimePrekeys(crypto: Crypto, keys: DeviceKeys, count: number, now: number): OneTimePrekey[] {
  const out: OneTimePrekey[] = [];
  for (let i = 0; i < count; i++) {
    const opk: StoredPrekey = { id: takePrekeyId(keys), keyPair: crypto.dhKeyPair(), createdAt: now };
    keys.oneTimePrekeys.set(opk.id, opk);
    out.push(
      signObject(
        crypto,
        DOMAIN.oneTimePrekey,
        { v: PROTOCOL_VERSION, kind: 'one-time-prekey' as const, deviceId: keys.deviceId, id: opk.id, publicKey: toB64u(opk.keyPair.publicKey) },
        keys.sign.privateKey,
      ),
    );
  }
  return out;
}

/** Drop old signed and X-Wing prekeys no message can still use (older than `keepMs`, never the current one). */
export function pruneOldPrekeys(keys: DeviceKeys, now: number, keepMs: number): void {
  for (const [map, current] of [
    [keys.signedPrekeys, keys.currentSignedPrekeyId],
    [keys.pqPrekeys, keys.currentPqPrekeyId],
  ] as const) {
    for (const [id, pk] of map) {
      if (id !== current && now - pk.createdAt > keepMs) map.delete(id);
    }
  }
}

/** The public keys a sender encrypts to for one recipient device. */
export interface RecipientKeys {
  readonly deviceId: string;
  readonly orgId: string;
  readonly identityKey: Uint8Array;
  readonly signedPrekey: { id: number; publicKey: Uint8Array };
  readonly pqPrekey: { id: number; publicKey: Uint8Array };
  readonly oneTimePrekey?: { id: number; publicKey: Uint8Array };
}

/**
 * Verify a fetched bundle end to end — device chain to the pinned root,
 * revocation, and the device's signature on every prekey — and return the
 * keys to encrypt to. The server is never trusted for any of it.
 */
export function verifyBundle(
  anchor: TrustAnchor,
  orgCertificate: OrgCertificate | unknown,
  bundleValue: unknown,
  opts: { now: number; revocations?: RevocationStatus; maxPrekeyAgeMs?: number; maxClockSkewMs?: number },
): RecipientKeys {
  const parsed = DeviceBundle.safeParse(bundleValue);
  if (!parsed.success) throw new HandoverError('UNTRUSTED_KEY', 'key bundle is malformed');
  const bundle = parsed.data;
  const { device } = verifyDeviceChain(anchor, orgCertificate, bundle.certificate, opts);
  const signKey = fromB64u(device.signPublicKey);
  const checks: Array<[string, { deviceId: string; signature: string }, Parameters<typeof verifyObject>[1]]> = [
    ['signed prekey', bundle.signedPrekey, DOMAIN.signedPrekey],
    ['post-quantum prekey', bundle.pqPrekey, DOMAIN.pqPrekey],
  ];
  if (bundle.oneTimePrekey) checks.push(['one-time prekey', bundle.oneTimePrekey, DOMAIN.oneTimePrekey]);
  for (const [what, prekey, label] of checks) {
    if (prekey.deviceId !== device.deviceId) throw new HandoverError('UNTRUSTED_KEY', `${what} belongs to another device`);
    if (!verifyObject(anchor.crypto, label, prekey, signKey)) {
      throw new HandoverError('BAD_SIGNATURE', `${what} of device ${device.deviceId} has a bad signature`);
    }
  }
  // Signed and post-quantum prekeys are rotated weekly: a very old one means a
  // device that stopped rotating (or a relay serving a stale key), and one
  // dated in the future was not made by an honest clock (review finding 9).
  for (const [what, prekey] of [['signed prekey', bundle.signedPrekey], ['post-quantum prekey', bundle.pqPrekey]] as const) {
    if (opts.maxPrekeyAgeMs !== undefined && opts.now - prekey.createdAt > opts.maxPrekeyAgeMs) {
      const days = Math.floor((opts.now - prekey.createdAt) / DAY_MS);
      throw new HandoverError(
        'UNTRUSTED_KEY',
        `the ${what} of device ${device.deviceId} is ${days} days old (at most ${Math.floor(opts.maxPrekeyAgeMs / DAY_MS)}): the device has not been online to rotate it; its org admin should check or revoke it`,
        { deviceId: device.deviceId },
      );
    }
    if (opts.maxClockSkewMs !== undefined && prekey.createdAt > opts.now + opts.maxClockSkewMs) {
      throw new HandoverError('UNTRUSTED_KEY', `the ${what} of device ${device.deviceId} is dated in the future`, { deviceId: device.deviceId });
    }
  }
  return {
    deviceId: device.deviceId,
    orgId: device.orgId,
    identityKey: fromB64u(device.dhPublicKey),
    signedPrekey: { id: bundle.signedPrekey.id, publicKey: fromB64u(bundle.signedPrekey.publicKey) },
    pqPrekey: { id: bundle.pqPrekey.id, publicKey: fromB64u(bundle.pqPrekey.publicKey) },
    ...(bundle.oneTimePrekey
      ? { oneTimePrekey: { id: bundle.oneTimePrekey.id, publicKey: fromB64u(bundle.oneTimePrekey.publicKey) } }
      : {}),
  };
}
