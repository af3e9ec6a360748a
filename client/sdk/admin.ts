/**
 * Network-admin and org-admin key operations, kept in the same encrypted
 * vault as a device profile: create the network root, issue org
 * certificates, create an org key, certify device enrolment requests, and
 * sign revocations. Pure over the vault; the CLI is a thin shell on top.
 *
 * Certifying a key (an org key by the root, a device key by an org) takes
 * the key's fingerprint as a person confirmed it (read over the phone by the
 * key's holder) and signs nothing unless it matches: a key swapped on the
 * way to the admin is caught before it is certified (issue 11, finding 6).
 * A renewal of a still-valid certificate for the same key proves continuity
 * instead (renewal.ts), and the issuer remembers what it revoked so a
 * revoked org or device is never renewed.
 */
import { issueDeviceCertificate, issueOrgCertificate, issueRevocation, networkIdOf, type Crypto, fromB64u, toB64u, HandoverError, parseOrThrow, fingerprint, type DeviceCertificate, EnrolmentRequest, OrgCertificate, type OrgCertificateBody, type Revocation, DAY_MS as DAY } from '../../shared';
import { checkNotFutureDated } from './clock';
import { type CertificateStanding, standingOf } from './certificate-status';
import { checkDeviceRenewal, checkOrgRenewal, isDeviceRenewal, orgRenewalRequest, type OrgRenewalRequest } from './renewal';
import type { Vault } from './vault';


/** A fingerprint as people write it, reduced to its 60 digits; BAD_REQUEST for anything else. */
export function fingerprintDigits(text: string): string {
  const digits = text.replace(/\s+/g, '');
  if (!/^\d{60}$/.test(digits)) {
    throw new HandoverError('BAD_REQUEST', 'a fingerprint is 60 digits (12 groups of 5; spaces optional)');
  }
  return digits;
}

/** Refuse (UNTRUSTED_KEY) unless the confirmed fingerprint is the key's. Fingerprints are public: no secret to compare. */
function requireFingerprint(what: string, expected: string, confirmed: string): void {
  if (fingerprintDigits(confirmed) !== fingerprintDigits(expected)) {
    throw new HandoverError(
      'UNTRUSTED_KEY',
      `the fingerprint you were given is not the one of ${what}: nothing was signed. The key may have been swapped on its way to you; get it again from its holder`,
    );
  }
}

interface RootRecord {
  publicKey: string;
  privateKey: string;
  networkId: string;
  nextSerial: number;
  revocationSeq: number;
  /** Orgs this root revoked: never renewed (absent in profiles from before renewals). */
  revokedOrgs?: string[];
}

interface OrgRecord {
  orgId: string;
  publicKey: string;
  privateKey: string;
  certificate?: OrgCertificate;
  revocationSeq: number;
  /** Devices this org revoked: never renewed (absent in profiles from before renewals). */
  revokedDevices?: string[];
}

/** A device request as the org admin reads it: a first enrolment, or a renewal of a certificate this org issued. */
export interface DeviceRequestView {
  request: EnrolmentRequest;
  /** The fingerprint of the device signing key the request names. */
  fingerprint: string;
  /** Set for a renewal: the certificate it renews, and whether that is still valid (then no phone call is needed). */
  renewal?: { previous: DeviceCertificate; stillValid: boolean };
}

export class AdminKeys {
  constructor(
    private readonly crypto: Crypto,
    private readonly vault: Vault,
    private readonly now: () => number = Date.now,
  ) {}

  /* ---- network root ---- */

  async createRoot(): Promise<{ publicKey: string; networkId: string; fingerprint: string }> {
    if (await this.vault.get('admin/root')) throw new HandoverError('BAD_REQUEST', 'this profile already holds a network root');
    const kp = this.crypto.signKeyPair();
    const record: RootRecord = {
      publicKey: toB64u(kp.publicKey),
      privateKey: toB64u(kp.privateKey),
      networkId: networkIdOf(this.crypto, kp.publicKey),
      nextSerial: 1,
      revocationSeq: 0,
    };
    await this.vault.put('admin/root', record);
    return { publicKey: record.publicKey, networkId: record.networkId, fingerprint: fingerprint(this.crypto, 'org', 'root', kp.publicKey) };
  }

  /** Import an existing root key pair (e.g. a development network's). */
  async importRoot(privateKey: Uint8Array | string): Promise<{ publicKey: string; networkId: string }> {
    const bytes = typeof privateKey === 'string' ? fromB64u(privateKey) : privateKey;
    if (bytes.length < 32) throw new HandoverError('BAD_REQUEST', 'the root private key must be at least 32 bytes of base64url');
    const kp = this.crypto.signKeyPair(bytes.subarray(0, 32));
    const held = (await this.vault.get('admin/root')) as RootRecord | undefined;
    if (held) {
      // Importing the same key again is harmless; another would silently restart serials and revocation numbers.
      if (held.publicKey === toB64u(kp.publicKey)) return { publicKey: held.publicKey, networkId: held.networkId };
      throw new HandoverError('BAD_REQUEST', 'this profile already holds another network root: use a new profile folder (--profile) for another network');
    }
    const record: RootRecord = {
      publicKey: toB64u(kp.publicKey),
      privateKey: toB64u(kp.privateKey),
      networkId: networkIdOf(this.crypto, kp.publicKey),
      nextSerial: 1,
      revocationSeq: 0,
    };
    await this.vault.put('admin/root', record);
    return { publicKey: record.publicKey, networkId: record.networkId };
  }

  private async root(): Promise<RootRecord> {
    const r = (await this.vault.get('admin/root')) as RootRecord | undefined;
    if (!r) throw new HandoverError('BAD_REQUEST', 'this profile holds no network root: run `handover network init`');
    return r;
  }

  async rootPublicKey(): Promise<string> {
    return (await this.root()).publicKey;
  }

  /** The fingerprint of an org key as the CLI shows it before certifying (what `org init` printed for its holder). */
  orgKeyFingerprint(orgId: string, publicKey: string): string {
    return fingerprint(this.crypto, 'org', orgId, this.parseSignPublicKey(publicKey, 'the org public key'));
  }

  private parseSignPublicKey(text: string, what: string): Uint8Array {
    let key: Uint8Array;
    try {
      key = fromB64u(text);
    } catch {
      throw new HandoverError('BAD_REQUEST', `${what} is not canonical base64url`);
    }
    if (key.length !== 32) throw new HandoverError('BAD_REQUEST', `${what} is not a 32-byte Ed25519 public key`);
    if (!this.crypto.isValidSignPublicKey(key)) throw new HandoverError('UNTRUSTED_KEY', `${what} is a weak or malformed Ed25519 key`);
    return key;
  }

  /**
   * Certify an org key. `confirmedFingerprint` is the fingerprint the org
   * admin read out; a mismatch signs nothing and uses up no serial.
   */
  async issueOrg(
    fields: Omit<OrgCertificateBody, 'v' | 'kind' | 'networkId' | 'serial' | 'issuedAt' | 'expiresAt'> & { days: number; confirmedFingerprint: string },
  ): Promise<OrgCertificate> {
    const { days, confirmedFingerprint, ...rest } = fields;
    requireFingerprint(`the org key of ${rest.orgId}`, this.orgKeyFingerprint(rest.orgId, rest.publicKey), confirmedFingerprint);
    return this.certifyOrg(rest, days);
  }

  private async certifyOrg(fields: Omit<OrgCertificateBody, 'v' | 'kind' | 'networkId' | 'serial' | 'issuedAt' | 'expiresAt'>, days: number): Promise<OrgCertificate> {
    const root = await this.root();
    const now = this.now();
    const cert = issueOrgCertificate(
      this.crypto,
      { ...fields, networkId: root.networkId, serial: root.nextSerial, issuedAt: now, expiresAt: now + days * DAY },
      fromB64u(root.privateKey),
    );
    await this.vault.put('admin/root', { ...root, nextSerial: root.nextSerial + 1 });
    return cert;
  }

  /**
   * Re-issue an org certificate for the same key and details, from the org
   * admin's renewal request (renewal.ts): a new serial and validity period.
   * While the certificate it renews is valid, the request's proof of
   * continuity stands in for the phone call; after that, the fingerprint
   * the org admin reads out is needed, as for `issueOrg`.
   */
  async renewOrg(value: unknown, days: number, confirmedFingerprint?: string): Promise<{ certificate: OrgCertificate; previous: OrgCertificate; confirmedBy: 'continuity' | 'fingerprint' }> {
    const root = await this.root();
    const { previous, stillValid } = checkOrgRenewal(this.crypto, value, root.publicKey, this.now());
    if (root.revokedOrgs?.includes(previous.orgId)) throw new HandoverError('REVOKED', `org ${previous.orgId} was revoked by this root: it cannot be renewed`);
    if (!stillValid || confirmedFingerprint !== undefined) {
      if (confirmedFingerprint === undefined) {
        throw new HandoverError(
          'BAD_REQUEST',
          `the certificate of ${previous.orgId} expired ${new Date(previous.expiresAt).toISOString().slice(0, 10)}: confirm its key as for a new org — ask its admin to read you the org key fingerprint and pass it with --fingerprint`,
        );
      }
      requireFingerprint(`the org key of ${previous.orgId}`, this.orgKeyFingerprint(previous.orgId, previous.publicKey), confirmedFingerprint);
    }
    const { v: _v, kind: _k, networkId: _n, serial: _s, issuedAt: _i, expiresAt: _e, signature: _sig, ...fields } = previous;
    const certificate = await this.certifyOrg(fields, days);
    return { certificate, previous, confirmedBy: confirmedFingerprint === undefined ? 'continuity' : 'fingerprint' };
  }

  async revokeOrg(orgId: string, reason: string, seq?: number): Promise<Revocation> {
    const root = await this.root();
    const next = seq ?? root.revocationSeq + 1;
    const rev = issueRevocation(
      this.crypto,
      { networkId: root.networkId, issuer: 'root', seq: next, subject: { type: 'org', orgId }, reason, revokedAt: this.now() },
      fromB64u(root.privateKey),
    );
    await this.vault.put('admin/root', { ...root, revocationSeq: next, revokedOrgs: [...new Set([...(root.revokedOrgs ?? []), orgId])] });
    return rev;
  }

  /* ---- organisation ---- */

  async createOrgKey(orgId: string): Promise<{ orgId: string; publicKey: string; fingerprint: string }> {
    if (await this.vault.get('admin/org')) throw new HandoverError('BAD_REQUEST', 'this profile already holds an org key');
    const kp = this.crypto.signKeyPair();
    const record: OrgRecord = { orgId, publicKey: toB64u(kp.publicKey), privateKey: toB64u(kp.privateKey), revocationSeq: 0 };
    await this.vault.put('admin/org', record);
    return { orgId, publicKey: record.publicKey, fingerprint: fingerprint(this.crypto, 'org', orgId, kp.publicKey) };
  }

  private async org(): Promise<OrgRecord> {
    const r = (await this.vault.get('admin/org')) as OrgRecord | undefined;
    if (!r) throw new HandoverError('BAD_REQUEST', 'this profile holds no org key: run `handover org init`');
    return r;
  }

  /** Keep the org certificate the network admin issued (it must carry our org key). */
  async importOrgCertificate(value: unknown): Promise<OrgCertificate> {
    const org = await this.org();
    const cert = parseOrThrow(OrgCertificate, value, 'org certificate');
    if (cert.orgId !== org.orgId || cert.publicKey !== org.publicKey) {
      throw new HandoverError('UNTRUSTED_KEY', 'this org certificate is not for this org key');
    }
    checkNotFutureDated(`the org certificate of ${cert.orgId}`, cert, this.now());
    await this.vault.put('admin/org', { ...org, certificate: cert });
    return cert;
  }

  /** The request the coordinator renews this org's certificate from (same key), signed with the org key. */
  async orgRenewal(): Promise<OrgRenewalRequest> {
    const org = await this.org();
    return orgRenewalRequest(this.crypto, await this.orgCertificate(), fromB64u(org.privateKey), this.now());
  }

  /** How long this org's certificate has left (for `handover certificates` on an admin profile), if one was imported. */
  async orgCertificateStanding(): Promise<CertificateStanding | undefined> {
    const org = (await this.vault.get('admin/org')) as OrgRecord | undefined;
    const cert = org?.certificate;
    return cert ? standingOf('own-org', cert, cert.orgId, cert.name, this.now()) : undefined;
  }

  async orgCertificate(): Promise<OrgCertificate> {
    const org = await this.org();
    if (!org.certificate) throw new HandoverError('BAD_REQUEST', 'import the org certificate first: `handover org import-certificate`');
    return org.certificate;
  }

  /**
   * The enrolment request, parsed, and the fingerprint of the device signing
   * key it names (what `device init` printed on the device).
   */
  enrolmentFingerprint(request: unknown): { request: EnrolmentRequest; fingerprint: string } {
    const parsed = parseOrThrow(EnrolmentRequest, request, 'enrolment request');
    const { deviceId, signPublicKey } = parsed;
    return { request: parsed, fingerprint: fingerprint(this.crypto, 'device', deviceId, this.parseSignPublicKey(signPublicKey, 'the device signing key')) };
  }

  /** A first enrolment request or a renewal request (of a certificate this org issued), read before signing. */
  async readDeviceRequest(value: unknown): Promise<DeviceRequestView> {
    if (!isDeviceRenewal(value)) return this.enrolmentFingerprint(value);
    const org = await this.org();
    const renewal = checkDeviceRenewal(this.crypto, value, org.publicKey, this.now());
    return { ...this.enrolmentFingerprint(renewal.request), renewal: { previous: renewal.previous, stillValid: renewal.stillValid } };
  }

  /**
   * Certify a device. `confirmedFingerprint` is the one its holder read out;
   * a mismatch signs nothing. A renewal of a still-valid certificate this
   * org issued needs none (continuity) and keeps the device's role unless
   * another is given; a revoked device is never certified again.
   */
  async signDevice(request: unknown, role: DeviceCertificate['role'] | undefined, days: number, confirmedFingerprint?: string): Promise<DeviceCertificate> {
    const org = await this.org();
    const orgCertificate = await this.orgCertificate();
    const { request: parsed, fingerprint: expected, renewal } = await this.readDeviceRequest(request);
    if (org.revokedDevices?.includes(parsed.deviceId)) throw new HandoverError('REVOKED', `device ${parsed.deviceId} was revoked by this org: it cannot be certified again (enrol it under a new device id)`);
    if (confirmedFingerprint !== undefined || !renewal?.stillValid) {
      if (confirmedFingerprint === undefined) {
        throw new HandoverError('BAD_REQUEST', `confirm the key before signing: ask the holder of ${parsed.deviceId} to read you its fingerprint and pass it with --fingerprint`);
      }
      requireFingerprint(`the signing key of device ${parsed.deviceId}`, expected, confirmedFingerprint);
    }
    const now = this.now();
    return issueDeviceCertificate(this.crypto, {
      request: parsed,
      orgCertificate,
      orgPrivateKey: fromB64u(org.privateKey),
      role: role ?? renewal?.previous.role ?? 'caseworker',
      issuedAt: now,
      expiresAt: now + days * DAY,
    });
  }

  async revokeDevice(deviceId: string, reason: string, seq?: number): Promise<Revocation> {
    const org = await this.org();
    const cert = await this.orgCertificate();
    const next = seq ?? org.revocationSeq + 1;
    const rev = issueRevocation(
      this.crypto,
      { networkId: cert.networkId, issuer: org.orgId, seq: next, subject: { type: 'device', orgId: org.orgId, deviceId }, reason, revokedAt: this.now() },
      fromB64u(org.privateKey),
    );
    await this.vault.put('admin/org', { ...org, revocationSeq: next, revokedDevices: [...new Set([...(org.revokedDevices ?? []), deviceId])] });
    return rev;
  }
}
