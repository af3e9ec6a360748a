/**
 * The trust chain: network root -> organisation -> device (PROTOCOL.md §2).
 * Issue and verify certificates, enrolment requests and revocations. No
 * trust on first use: every device key is accepted only through a chain that
 * ends at the pinned root public key.
 */
import { z } from 'zod';
import { DOMAIN, type DomainLabel, signingInput } from './canonical';
import type { Crypto } from './crypto/types';
import { fromB64u, toB64u } from './encoding';
import { HandoverError } from './errors';
import {
  DeviceCertificate,
  type DeviceCertificateBody,
  EnrolmentRequest,
  OrgCertificate,
  type OrgCertificateBody,
  PROTOCOL_VERSION,
  Revocation,
  type RevocationBody,
  orgOfDeviceId,
} from './schemas';
import { MAX_CLOCK_SKEW_MS } from './time';
import { parseOrThrow } from './validation';

/** A network is named by the hash of its root public key. */
export function networkIdOf(crypto: Crypto, rootPublicKey: Uint8Array): string {
  return toB64u(crypto.hash(rootPublicKey, 32));
}

/** Sign `body` under `label` and return it with its signature attached. */
export function signObject<T extends object>(
  crypto: Crypto,
  label: DomainLabel,
  body: T,
  privateKey: Uint8Array,
): T & { signature: string } {
  const signature = toB64u(crypto.sign(signingInput(label, body), privateKey));
  return { ...body, signature };
}

/** Verify the signature of a signed object (the signature field is not signed). */
export function verifyObject(
  crypto: Crypto,
  label: DomainLabel,
  signed: { signature: string },
  publicKey: Uint8Array,
): boolean {
  const { signature, ...body } = signed;
  let sig: Uint8Array;
  try {
    sig = fromB64u(signature);
  } catch {
    return false;
  }
  return crypto.verify(sig, signingInput(label, body), publicKey);
}

export function issueOrgCertificate(
  crypto: Crypto,
  body: Omit<OrgCertificateBody, 'v' | 'kind'>,
  rootPrivateKey: Uint8Array,
): OrgCertificate {
  const full: OrgCertificateBody = { v: PROTOCOL_VERSION, kind: 'org', ...body };
  return signObject(crypto, DOMAIN.orgCertificate, full, rootPrivateKey);
}

export function createEnrolmentRequest(
  crypto: Crypto,
  fields: { orgId: string; deviceId: string; label: string; signKeyPair: { publicKey: Uint8Array; privateKey: Uint8Array }; dhPublicKey: Uint8Array; createdAt: number },
): EnrolmentRequest {
  const body = {
    v: PROTOCOL_VERSION,
    kind: 'enrolment' as const,
    orgId: fields.orgId,
    deviceId: fields.deviceId,
    label: fields.label,
    signPublicKey: toB64u(fields.signKeyPair.publicKey),
    dhPublicKey: toB64u(fields.dhPublicKey),
    createdAt: fields.createdAt,
  };
  return signObject(crypto, DOMAIN.enrolmentRequest, body, fields.signKeyPair.privateKey);
}

/** The org admin checks the request's self-signature, then certifies the device. */
export function issueDeviceCertificate(
  crypto: Crypto,
  input: {
    request: unknown;
    orgCertificate: OrgCertificate;
    orgPrivateKey: Uint8Array;
    role: DeviceCertificateBody['role'];
    issuedAt: number;
    expiresAt: number;
  },
): DeviceCertificate {
  const request = parseOrThrow(EnrolmentRequest, input.request, 'enrolment request');
  if (request.orgId !== input.orgCertificate.orgId) {
    throw new HandoverError('FORBIDDEN', `enrolment request is for org ${request.orgId}, not ${input.orgCertificate.orgId}`);
  }
  if (orgOfDeviceId(request.deviceId) !== request.orgId) {
    throw new HandoverError('FORBIDDEN', `device id ${request.deviceId} is not in org ${request.orgId} (device ids are ${request.orgId}:<name>)`);
  }
  if (!crypto.isValidSignPublicKey(fromB64u(request.signPublicKey))) {
    throw new HandoverError('UNTRUSTED_KEY', 'enrolment request names a weak or malformed signing key');
  }
  if (!verifyObject(crypto, DOMAIN.enrolmentRequest, request, fromB64u(request.signPublicKey))) {
    throw new HandoverError('BAD_SIGNATURE', 'enrolment request is not signed by the device key it names');
  }
  const body: DeviceCertificateBody = {
    v: PROTOCOL_VERSION,
    kind: 'device',
    networkId: input.orgCertificate.networkId,
    orgId: request.orgId,
    deviceId: request.deviceId,
    label: request.label,
    role: input.role,
    signPublicKey: request.signPublicKey,
    dhPublicKey: request.dhPublicKey,
    issuedAt: input.issuedAt,
    expiresAt: input.expiresAt,
  };
  return signObject(crypto, DOMAIN.deviceCertificate, body, input.orgPrivateKey);
}

export function issueRevocation(
  crypto: Crypto,
  body: Omit<RevocationBody, 'v' | 'kind'>,
  issuerPrivateKey: Uint8Array,
): Revocation {
  const full: RevocationBody = { v: PROTOCOL_VERSION, kind: 'revocation', ...body };
  return signObject(crypto, DOMAIN.revocation, full, issuerPrivateKey);
}

/** Which orgs and devices are revoked, as far as a verifier knows. */
export interface RevocationStatus {
  isOrgRevoked(orgId: string): boolean;
  /**
   * Pass the device's org: a device revocation then counts only when that
   * org issued it, so one org cannot revoke another org's device by naming
   * a device with the same id as its own. Without `orgId`, any org's counts.
   */
  isDeviceRevoked(deviceId: string, orgId?: string): boolean;
}

export const NOTHING_REVOKED: RevocationStatus = {
  isOrgRevoked: () => false,
  isDeviceRevoked: () => false,
};

export interface TrustAnchor {
  readonly crypto: Crypto;
  readonly rootPublicKey: Uint8Array;
  readonly networkId: string;
}

export function trustAnchor(crypto: Crypto, rootPublicKey: Uint8Array): TrustAnchor {
  return { crypto, rootPublicKey, networkId: networkIdOf(crypto, rootPublicKey) };
}

function checkValidity(what: string, cert: { issuedAt: number; expiresAt: number }, now: number): void {
  if (cert.expiresAt <= cert.issuedAt) throw new HandoverError('UNTRUSTED_KEY', `${what} has an empty validity period`);
  if (now >= cert.expiresAt) throw new HandoverError('EXPIRED', `${what} expired at ${new Date(cert.expiresAt).toISOString()}`);
  // A little slack for clock skew between issuer and verifier.
  if (now + MAX_CLOCK_SKEW_MS < cert.issuedAt) throw new HandoverError('UNTRUSTED_KEY', `${what} is not valid yet`);
}

/** Verify an org certificate against the pinned root. Returns the parsed certificate. */
export function verifyOrgCertificate(
  anchor: TrustAnchor,
  value: unknown,
  opts: { now: number; revocations?: RevocationStatus },
): OrgCertificate {
  const cert = parseOrThrow(OrgCertificate, value, 'org certificate');
  if (cert.networkId !== anchor.networkId) {
    throw new HandoverError('UNTRUSTED_KEY', `org ${cert.orgId} belongs to another network`);
  }
  if (!verifyObject(anchor.crypto, DOMAIN.orgCertificate, cert, anchor.rootPublicKey)) {
    throw new HandoverError('BAD_SIGNATURE', `org certificate for ${cert.orgId} is not signed by the network root`);
  }
  checkValidity(`org certificate ${cert.orgId}`, cert, opts.now);
  if (!anchor.crypto.isValidSignPublicKey(fromB64u(cert.publicKey))) {
    throw new HandoverError('UNTRUSTED_KEY', `org certificate ${cert.orgId} carries a weak or malformed public key`);
  }
  if (opts.revocations?.isOrgRevoked(cert.orgId)) {
    throw new HandoverError('REVOKED', `org ${cert.orgId} has been revoked`);
  }
  return cert;
}

/** Verify root -> org -> device. Returns the parsed device certificate. */
export function verifyDeviceChain(
  anchor: TrustAnchor,
  orgValue: unknown,
  deviceValue: unknown,
  opts: { now: number; revocations?: RevocationStatus },
): { org: OrgCertificate; device: DeviceCertificate } {
  const org = verifyOrgCertificate(anchor, orgValue, opts);
  const device = parseOrThrow(DeviceCertificate, deviceValue, 'device certificate');
  if (device.networkId !== anchor.networkId) {
    throw new HandoverError('UNTRUSTED_KEY', `device ${device.deviceId} belongs to another network`);
  }
  if (device.orgId !== org.orgId || orgOfDeviceId(device.deviceId) !== org.orgId) {
    throw new HandoverError('UNTRUSTED_KEY', `device ${device.deviceId} claims org ${device.orgId}, chain is for ${org.orgId}`);
  }
  if (!verifyObject(anchor.crypto, DOMAIN.deviceCertificate, device, fromB64u(org.publicKey))) {
    throw new HandoverError('BAD_SIGNATURE', `device certificate ${device.deviceId} is not signed by org ${org.orgId}`);
  }
  checkValidity(`device certificate ${device.deviceId}`, device, opts.now);
  if (!anchor.crypto.isValidSignPublicKey(fromB64u(device.signPublicKey))) {
    throw new HandoverError('UNTRUSTED_KEY', `device certificate ${device.deviceId} carries a weak or malformed signing key`);
  }
  if (opts.revocations?.isDeviceRevoked(device.deviceId, device.orgId)) {
    throw new HandoverError('REVOKED', `device ${device.deviceId} has been revoked`);
  }
  return { org, device };
}

/** A revocation that could not be verified: its subject counts as revoked anyway. */
export interface UnverifiableRevocation {
  issuer: string;
  seq: number;
  subject: Revocation['subject'];
  code: 'UNTRUSTED_KEY' | 'BAD_SIGNATURE' | 'UNKNOWN_ORG';
  reason: string;
}

/**
 * Verify a full revocation list and turn it into a status lookup.
 *
 * `orgPublicKeys` gives every key org X has ever held, from root-signed
 * certificates (also revoked, expired and superseded ones): an old
 * revocation stays checkable after its issuer is revoked or re-keyed.
 *
 * Fail safe, never fail closed on the whole network: an entry that does not
 * verify (unknown issuer key, bad signature, another network, an issuer
 * revoking what it may not) makes its subject count as revoked and is
 * reported in `unverifiable`; it never aborts the list, so one bad entry
 * cannot stop every client from signing in. Each issuer's entries must
 * still run 1..n with no gap, and `seen` (the highest seq per issuer this
 * verifier accepted before) must not go back: a list with an entry dropped
 * or rolled back is refused (ROLLBACK), because that is a relay hiding a
 * revocation.
 */
export function verifyRevocationList(
  anchor: TrustAnchor,
  values: unknown,
  opts: { orgPublicKeys: (orgId: string) => readonly Uint8Array[]; seen?: ReadonlyMap<string, number> },
): { status: RevocationStatus; heads: Map<string, number>; revocations: Revocation[]; unverifiable: UnverifiableRevocation[] } {
  const list = parseOrThrow(z.array(Revocation).max(10_000), values, 'revocation list');
  const heads = new Map<string, number>();
  const revokedOrgs = new Set<string>();
  /** deviceId -> the orgs that revoked a device of theirs with that id. */
  const revokedDevices = new Map<string, Set<string>>();
  const unverifiable: UnverifiableRevocation[] = [];
  for (const rev of list) {
    const expected = (heads.get(rev.issuer) ?? 0) + 1;
    if (rev.seq !== expected) {
      throw new HandoverError('ROLLBACK', `revocations of ${rev.issuer} skip from ${expected - 1} to ${rev.seq}`);
    }
    heads.set(rev.issuer, rev.seq);
    const problem = revocationProblem(anchor, rev, opts.orgPublicKeys);
    if (problem) unverifiable.push({ issuer: rev.issuer, seq: rev.seq, subject: rev.subject, ...problem });
    if (rev.subject.type === 'org') revokedOrgs.add(rev.subject.orgId);
    else revokedDevices.set(rev.subject.deviceId, (revokedDevices.get(rev.subject.deviceId) ?? new Set()).add(rev.subject.orgId));
  }
  for (const [issuer, seenSeq] of opts.seen ?? []) {
    if ((heads.get(issuer) ?? 0) < seenSeq) {
      throw new HandoverError('ROLLBACK', `revocation list for ${issuer} is older than one already seen (seq ${seenSeq})`);
    }
  }
  return {
    heads,
    revocations: list,
    unverifiable,
    status: {
      isOrgRevoked: (orgId) => revokedOrgs.has(orgId),
      isDeviceRevoked: (deviceId, orgId) => {
        const byOrgs = revokedDevices.get(deviceId);
        return byOrgs !== undefined && (orgId === undefined || byOrgs.has(orgId));
      },
    },
  };
}

/** Why one revocation does not verify, or null when it does. */
function revocationProblem(
  anchor: TrustAnchor,
  rev: Revocation,
  orgPublicKeys: (orgId: string) => readonly Uint8Array[],
): Pick<UnverifiableRevocation, 'code' | 'reason'> | null {
  if (rev.networkId !== anchor.networkId) return { code: 'UNTRUSTED_KEY', reason: 'revocation from another network' };
  let keys: readonly Uint8Array[];
  if (rev.issuer === 'root') {
    if (rev.subject.type !== 'org') return { code: 'UNTRUSTED_KEY', reason: 'the root revokes orgs only' };
    keys = [anchor.rootPublicKey];
  } else {
    if (rev.subject.type !== 'device' || rev.subject.orgId !== rev.issuer || orgOfDeviceId(rev.subject.deviceId) !== rev.issuer) {
      return { code: 'UNTRUSTED_KEY', reason: `org ${rev.issuer} may revoke only its own devices` };
    }
    keys = orgPublicKeys(rev.issuer);
    if (keys.length === 0) return { code: 'UNKNOWN_ORG', reason: `no certificate of issuer ${rev.issuer} is known` };
  }
  if (!keys.some((key) => verifyObject(anchor.crypto, DOMAIN.revocation, rev, key))) {
    return { code: 'BAD_SIGNATURE', reason: `revocation ${rev.issuer}#${rev.seq} is not signed by any key ${rev.issuer} ever held` };
  }
  return null;
}

/**
 * Check an org certificate's root signature and network only, whatever its
 * validity period or revocation: enough to trust the key it names for
 * checking that org's old revocations. Returns the parsed certificate, or
 * null when it is not a root-signed certificate of this network.
 */
export function rootSignedOrgCertificate(anchor: TrustAnchor, value: unknown): OrgCertificate | null {
  const parsed = OrgCertificate.safeParse(value);
  if (!parsed.success || parsed.data.networkId !== anchor.networkId) return null;
  return verifyObject(anchor.crypto, DOMAIN.orgCertificate, parsed.data, anchor.rootPublicKey) ? parsed.data : null;
}
