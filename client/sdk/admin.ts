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
 */
import { issueDeviceCertificate, issueOrgCertificate, issueRevocation, networkIdOf, type Crypto, fromB64u, toB64u, HandoverError, parseOrThrow, fingerprint, type DeviceCertificate, EnrolmentRequest, OrgCertificate, type OrgCertificateBody, type Revocation, DAY_MS as DAY } from '../../shared';
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
}

interface OrgRecord {
  orgId: string;
  publicKey: string;
  privateKey: string;
  certificate?: OrgCertificate;
  revocationSeq: number;
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
    const root = await this.root();
    const { days, confirmedFingerprint, ...rest } = fields;
    requireFingerprint(`the org key of ${rest.orgId}`, this.orgKeyFingerprint(rest.orgId, rest.publicKey), confirmedFingerprint);
    const now = this.now();
    const cert = issueOrgCertificate(
      this.crypto,
      { ...rest, networkId: root.networkId, serial: root.nextSerial, issuedAt: now, expiresAt: now + days * DAY },
      fromB64u(root.privateKey),
    );
    await this.vault.put('admin/root', { ...root, nextSerial: root.nextSerial + 1 });
    return cert;
  }

  async revokeOrg(orgId: string, reason: string, seq?: number): Promise<Revocation> {
    const root = await this.root();
    const next = seq ?? root.revocationSeq + 1;
    const rev = issueRevocation(
      this.crypto,
      { networkId: root.networkId, issuer: 'root', seq: next, subject: { type: 'org', orgId }, reason, revokedAt: this.now() },
      fromB64u(root.privateKey),
    );
    await this.vault.put('admin/root', { ...root, revocationSeq: next });
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
    await this.vault.put('admin/org', { ...org, certificate: cert });
    return cert;
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

  /** Certify a device. `confirmedFingerprint` is the one its holder read out; a mismatch signs nothing. */
  async signDevice(request: unknown, role: DeviceCertificate['role'], days: number, confirmedFingerprint: string): Promise<DeviceCertificate> {
    const org = await this.org();
    const orgCertificate = await this.orgCertificate();
    const { request: parsed, fingerprint: expected } = this.enrolmentFingerprint(request);
    requireFingerprint(`the signing key of device ${parsed.deviceId}`, expected, confirmedFingerprint);
    const now = this.now();
    return issueDeviceCertificate(this.crypto, {
      request: parsed,
      orgCertificate,
      orgPrivateKey: fromB64u(org.privateKey),
      role,
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
    await this.vault.put('admin/org', { ...org, revocationSeq: next });
    return rev;
  }
}
