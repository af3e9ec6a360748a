/**
 * Why this exists: a client may encrypt only to keys that chain to the
 * network root it pins, under the org key it pinned (PROTOCOL.md §2.2,
 * §2.7, §2.10, §2.11), and must check every bundle the relay serves
 * (§3.2, §3.3, §5.6). This file is that verification, written from the
 * document's ordered lists, with the document's client error codes.
 */
import { blake2b256, isValidSignKey, verify } from './crypto';
import { DocClientError, LABEL, b64u, fromB64u, signingInput } from './encoding';
import type { DeviceBundle, DeviceCertificate, OrgCertificate, Revocation } from './types';

const SKEW_MS = 5 * 60_000;
const ORG_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}:[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function networkIdOf(rootPublicKey: Uint8Array): string {
  return b64u(blake2b256(rootPublicKey));
}

/** The org part of a device id: the text before the first ':' (§2.2). */
export function orgOfDevice(deviceId: string): string {
  return deviceId.slice(0, deviceId.indexOf(':'));
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function validity(cert: { issuedAt: number; expiresAt: number }, now: number): void {
  if (!(cert.expiresAt > cert.issuedAt)) throw new DocClientError('UNTRUSTED_KEY', 'empty validity');
  if (cert.expiresAt <= now) throw new DocClientError('EXPIRED', 'certificate expired');
  if (cert.issuedAt > now + SKEW_MS) throw new DocClientError('UNTRUSTED_KEY', 'certificate issued in the future');
}

export class TrustStore {
  readonly networkId: string;
  /** One pinned org certificate per org id (§2.10). */
  private readonly pins = new Map<string, OrgCertificate>();
  private readonly revokedOrgs = new Set<string>();
  private readonly revokedDevices = new Set<string>();
  private readonly heads = new Map<string, number>();

  constructor(readonly rootPublicKey: Uint8Array, private readonly now: () => number = Date.now) {
    this.networkId = networkIdOf(rootPublicKey);
  }

  /** §2.7 steps 1–6, then the pin (§2.10). Returns the org key. */
  admitOrg(cert: unknown, opts: { replacePin?: boolean } = {}): OrgCertificate {
    if (!isObject(cert) || cert.v !== 1 || cert.kind !== 'org' || typeof cert.orgId !== 'string' || !ORG_ID.test(cert.orgId)) {
      throw new DocClientError('BAD_REQUEST', 'not an org certificate');
    }
    const org = cert as unknown as OrgCertificate;
    if (org.networkId !== this.networkId) throw new DocClientError('UNTRUSTED_KEY', 'org certificate of another network');
    if (!verify(fromB64u(org.signature, 64), signingInput(LABEL.orgCertificate, org), this.rootPublicKey)) {
      throw new DocClientError('BAD_SIGNATURE', 'org certificate not signed by the root');
    }
    validity(org, this.now());
    if (!isValidSignKey(fromB64u(org.publicKey, 32))) throw new DocClientError('UNTRUSTED_KEY', 'weak org key');
    if (this.revokedOrgs.has(org.orgId)) throw new DocClientError('REVOKED', `org ${org.orgId} revoked`);
    const pinned = this.pins.get(org.orgId);
    if (!pinned || opts.replacePin) {
      this.pins.set(org.orgId, org);
      return org;
    }
    if (pinned.publicKey === org.publicKey) {
      const newer = org.serial > pinned.serial || (org.serial === pinned.serial && org.issuedAt > pinned.issuedAt);
      if (newer) this.pins.set(org.orgId, org);
      return org;
    }
    throw new DocClientError('UNTRUSTED_KEY', `org ${org.orgId} key changed`, { orgId: org.orgId, keyChanged: org.serial > pinned.serial });
  }

  /** §2.7 steps 7–10 under an org certificate already admitted. */
  verifyDevice(org: OrgCertificate, cert: unknown): DeviceCertificate {
    if (!isObject(cert) || cert.v !== 1 || cert.kind !== 'device' || typeof cert.deviceId !== 'string' || !DEVICE_ID.test(cert.deviceId)) {
      throw new DocClientError('BAD_REQUEST', 'not a device certificate');
    }
    const device = cert as unknown as DeviceCertificate;
    if (device.networkId !== this.networkId) throw new DocClientError('UNTRUSTED_KEY', 'device certificate of another network');
    if (device.orgId !== org.orgId || orgOfDevice(device.deviceId) !== org.orgId) {
      throw new DocClientError('UNTRUSTED_KEY', 'device outside its org');
    }
    if (!verify(fromB64u(device.signature, 64), signingInput(LABEL.deviceCertificate, device), fromB64u(org.publicKey, 32))) {
      throw new DocClientError('BAD_SIGNATURE', 'device certificate not signed by the org key');
    }
    validity(device, this.now());
    if (!isValidSignKey(fromB64u(device.signPublicKey, 32))) throw new DocClientError('UNTRUSTED_KEY', 'weak device key');
    if (this.revokedDevices.has(device.deviceId)) throw new DocClientError('REVOKED', `device ${device.deviceId} revoked`);
    return device;
  }

  pinnedOrg(orgId: string): OrgCertificate | undefined {
    return this.pins.get(orgId);
  }

  isRevoked(deviceId: string): boolean {
    return this.revokedDevices.has(deviceId) || this.revokedOrgs.has(orgOfDevice(deviceId));
  }

  /**
   * §3.2 verifyBundle: chain under the pinned org certificate, prekeys name
   * this device and carry its signature, signed and PQ prekeys not too old
   * or from the future (§3.3).
   */
  verifyBundle(org: OrgCertificate, bundle: DeviceBundle, maxPrekeyAgeMs: number): DeviceBundle {
    const device = this.verifyDevice(org, bundle.certificate);
    const signKey = fromB64u(device.signPublicKey, 32);
    const check = (label: string, prekey: { deviceId: string; signature: string } | undefined): void => {
      if (!prekey) return;
      if (prekey.deviceId !== device.deviceId) throw new DocClientError('UNTRUSTED_KEY', 'prekey names another device', { deviceId: device.deviceId });
      if (!verify(fromB64u(prekey.signature, 64), signingInput(label, prekey), signKey)) {
        throw new DocClientError('BAD_SIGNATURE', 'prekey signature', { deviceId: device.deviceId });
      }
    };
    check(LABEL.signedPrekey, bundle.signedPrekey);
    check(LABEL.pqPrekey, bundle.pqPrekey);
    check(LABEL.oneTimePrekey, bundle.oneTimePrekey);
    const now = this.now();
    for (const p of [bundle.signedPrekey, bundle.pqPrekey]) {
      if (p.createdAt > now + SKEW_MS || now - p.createdAt > maxPrekeyAgeMs) {
        throw new DocClientError('UNTRUSTED_KEY', 'prekey too old or in the future', { deviceId: device.deviceId });
      }
    }
    return bundle;
  }

  /**
   * §2.11, kept small: seq runs 1, 2, 3 … per issuer and never goes back
   * (else ROLLBACK); a root entry revokes an org, an org entry one of its
   * devices. An entry whose signature cannot be checked still revokes its
   * subject (step 3), so signature checks only decide what gets reported.
   */
  applyRevocations(list: { revocations: Revocation[]; issuers: OrgCertificate[] }): string[] {
    const unverifiable: string[] = [];
    const seqs = new Map<string, number>();
    for (const r of list.revocations) {
      const last = seqs.get(r.issuer) ?? 0;
      if (r.seq !== last + 1) throw new DocClientError('ROLLBACK', `revocation gap for ${r.issuer}`);
      seqs.set(r.issuer, r.seq);
    }
    for (const [issuer, head] of this.heads) {
      if ((seqs.get(issuer) ?? 0) < head) throw new DocClientError('ROLLBACK', `revocation list of ${issuer} went back`);
    }
    for (const [issuer, head] of seqs) this.heads.set(issuer, head);
    for (const r of list.revocations) {
      const input = signingInput(LABEL.revocation, r);
      let ok = r.networkId === this.networkId;
      if (r.issuer === 'root') {
        ok = ok && r.subject.type === 'org' && verify(fromB64u(r.signature, 64), input, this.rootPublicKey);
      } else {
        const keys = [...list.issuers.filter((c) => c.orgId === r.issuer), ...(this.pins.has(r.issuer) ? [this.pins.get(r.issuer)!] : [])]
          .filter((c) => c.networkId === this.networkId && verify(fromB64u(c.signature, 64), signingInput(LABEL.orgCertificate, c), this.rootPublicKey))
          .map((c) => fromB64u(c.publicKey, 32));
        ok = ok && r.subject.type === 'device' && r.subject.orgId === r.issuer && orgOfDevice(r.subject.deviceId) === r.issuer;
        ok = ok && keys.some((k) => verify(fromB64u(r.signature, 64), input, k));
      }
      if (!ok) unverifiable.push(`${r.issuer}#${r.seq}`);
      if (r.subject.type === 'org') this.revokedOrgs.add(r.subject.orgId);
      else this.revokedDevices.add(r.subject.deviceId);
    }
    return unverifiable;
  }
}
