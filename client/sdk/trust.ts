/**
 * The client's own view of who is who: org and device certificates, each
 * verified against the pinned network root, and the revocation list with
 * rollback protection. The relay is trusted for none of it.
 *
 * A chain that verifies to the root is not enough (review finding 1): org
 * keys are pinned per org id. The own org is pinned from the certificate
 * the user imported; another org on its first verified sight. Later, a
 * certificate with the pinned key and a serial at least the pinned one
 * replaces it (a renewal); one with another key is a visible "org key
 * changed" event, and that org is not used until a person confirms the new
 * key's fingerprint (`acceptOrgKey`); another key with a serial not above
 * the pinned one is a rollback and refused.
 */
import { NOTHING_REVOKED, type RevocationStatus, type TrustAnchor, type UnverifiableRevocation, rootSignedOrgCertificate, verifyDeviceChain, verifyOrgCertificate, verifyRevocationList, fromB64u, HandoverError, fingerprint, type DeviceCertificate, type OrgCertificate, type Revocation, orgOfDeviceId } from '../../shared';
import type { RelayApi } from './relay-api';
import type { Vault } from './vault';

const HEADS_RECORD = 'revocation-heads';
const PINS_RECORD = 'trust/org-pins';
const KEY_CHANGES_RECORD = 'trust/org-key-changes';

export interface KnownDevice {
  certificate: DeviceCertificate;
  org: OrgCertificate;
  signPublicKey: Uint8Array;
  identityKey: Uint8Array;
}

/** The org certificate a client trusts for an org id, and since when. */
export interface OrgPin {
  orgId: string;
  certificate: OrgCertificate;
  pinnedAt: number;
}

/** An org that presented a certificate with a new key: not used until a person confirms it. */
export interface OrgKeyChange {
  orgId: string;
  /** The certificate with the new key (verified to the root). */
  certificate: OrgCertificate;
  previousPublicKey: string;
  seenAt: number;
}

export class TrustStore {
  private pins = new Map<string, OrgPin>();
  private keyChanges = new Map<string, OrgKeyChange>();
  /** Every key each org ever held, from root-signed certificates: checks old revocations. */
  private readonly historicKeys = new Map<string, Map<string, Uint8Array>>();
  private devices = new Map<string, KnownDevice>();
  private revocations: RevocationStatus = NOTHING_REVOKED;
  private heads = new Map<string, number>();
  private unverifiable: UnverifiableRevocation[] = [];
  /** Every revocation of the last sync (verified or not), for `revokedAt`. */
  private revocationEntries: Revocation[] = [];

  constructor(
    readonly anchor: TrustAnchor,
    private readonly api: RelayApi,
    private readonly vault: Vault,
    private readonly now: () => number,
  ) {}

  async load(): Promise<void> {
    const stored = await this.vault.get(HEADS_RECORD);
    if (stored && typeof stored === 'object') {
      for (const [issuer, seq] of Object.entries(stored)) if (typeof seq === 'number') this.heads.set(issuer, seq);
    }
    // Pins were verified before they were saved; the vault is authenticated, so they are read back as they were.
    const pins = await this.vault.get(PINS_RECORD);
    if (Array.isArray(pins)) for (const pin of pins as OrgPin[]) this.setPin(pin);
    const changes = await this.vault.get(KEY_CHANGES_RECORD);
    if (Array.isArray(changes)) for (const change of changes as OrgKeyChange[]) this.keyChanges.set(change.orgId, change);
  }

  private setPin(pin: OrgPin): void {
    this.pins.set(pin.orgId, pin);
    this.rememberKey(pin.certificate);
  }

  private rememberKey(cert: OrgCertificate): void {
    const keys = this.historicKeys.get(cert.orgId) ?? new Map<string, Uint8Array>();
    if (!keys.has(cert.publicKey)) keys.set(cert.publicKey, fromB64u(cert.publicKey));
    this.historicKeys.set(cert.orgId, keys);
  }

  private async savePins(): Promise<void> {
    await this.vault.put(PINS_RECORD, [...this.pins.values()]);
    await this.vault.put(KEY_CHANGES_RECORD, [...this.keyChanges.values()]);
  }

  revocationStatus(): RevocationStatus {
    return this.revocations;
  }

  /** When a device (or its org) was revoked, by the earliest revocation naming it; undefined when it is not. */
  revokedAt(deviceId: string, orgId: string): number | undefined {
    let earliest: number | undefined;
    for (const r of this.revocationEntries) {
      const hit = r.subject.type === 'org' ? r.subject.orgId === orgId : r.subject.deviceId === deviceId && r.subject.orgId === orgId;
      if (hit && (earliest === undefined || r.revokedAt < earliest)) earliest = r.revokedAt;
    }
    return earliest;
  }

  /** Whether `publicKey` is a key this device knows `orgId` held (pinned now, or seen in root-signed certificates). */
  knowsOrgKey(orgId: string, publicKey: string): boolean {
    return this.historicKeys.get(orgId)?.has(publicKey) ?? false;
  }

  /** Revocations the last sync could not verify (their subjects count as revoked). */
  unverifiableRevocations(): readonly UnverifiableRevocation[] {
    return this.unverifiable;
  }

  /** Orgs whose certificate now carries another key than the pinned one, waiting for a person to confirm it. */
  pendingKeyChanges(): OrgKeyChange[] {
    return [...this.keyChanges.values()];
  }

  /** The org type the root certified for an org this device pinned, whatever the certificate's validity now. */
  certifiedOrgType(orgId: string): OrgCertificate['orgType'] | undefined {
    return this.pins.get(orgId)?.certificate.orgType;
  }

  /** The pinned certificate of an org (whatever its validity now), if any. */
  pinned(orgId: string): OrgCertificate | undefined {
    return this.pins.get(orgId)?.certificate;
  }

  /**
   * Pin the own org from a certificate the user imported on purpose (the
   * chain was verified by the caller): an explicit act, so it replaces any
   * earlier pin.
   */
  async pinOwnOrg(cert: OrgCertificate): Promise<void> {
    this.setPin({ orgId: cert.orgId, certificate: cert, pinnedAt: this.now() });
    this.keyChanges.delete(cert.orgId);
    await this.savePins();
  }

  /**
   * Verify an org certificate the relay served and apply the pin: returns
   * the certificate to use for this org, or throws UNTRUSTED_KEY when it
   * carries another key than the pinned one (recorded as a key change) or
   * rolls back to an older key.
   */
  async admitOrg(value: unknown): Promise<OrgCertificate> {
    const cert = verifyOrgCertificate(this.anchor, value, { now: this.now(), revocations: this.revocations });
    this.rememberKey(cert);
    const pin = this.pins.get(cert.orgId);
    if (!pin) {
      this.setPin({ orgId: cert.orgId, certificate: cert, pinnedAt: this.now() });
      await this.savePins();
      return cert;
    }
    if (pin.certificate.publicKey === cert.publicKey) {
      const newer = cert.serial > pin.certificate.serial || (cert.serial === pin.certificate.serial && cert.issuedAt > pin.certificate.issuedAt);
      if (newer) {
        this.setPin({ ...pin, certificate: cert });
        await this.savePins();
      }
      return cert;
    }
    if (cert.serial <= pin.certificate.serial) {
      throw new HandoverError(
        'UNTRUSTED_KEY',
        `org ${cert.orgId} is presented with an older key than the one this device trusts (serial ${cert.serial} ≤ ${pin.certificate.serial}): refused as a rollback`,
      );
    }
    const known = this.keyChanges.get(cert.orgId);
    if (!known || known.certificate.signature !== cert.signature) {
      this.keyChanges.set(cert.orgId, { orgId: cert.orgId, certificate: cert, previousPublicKey: pin.certificate.publicKey, seenAt: this.now() });
      await this.savePins();
    }
    throw new HandoverError(
      'UNTRUSTED_KEY',
      `org ${cert.orgId} now presents a NEW org key. Nothing is sent to it or accepted from it until someone confirms the new fingerprint with the org by phone: handover trust accept-org-key ${cert.orgId} <fingerprint>`,
      { orgId: cert.orgId, keyChanged: true, fingerprint: this.orgFingerprint(cert) },
    );
  }

  orgFingerprint(cert: OrgCertificate): string {
    return fingerprint(this.anchor.crypto, 'org', cert.orgId, fromB64u(cert.publicKey));
  }

  /**
   * A person confirmed an org's new key by its fingerprint: pin it. The
   * digits must match the pending key change (spaces are ignored).
   */
  async acceptOrgKey(orgId: string, fingerprintDigits: string): Promise<OrgCertificate> {
    const change = this.keyChanges.get(orgId);
    if (!change) throw new HandoverError('BAD_REQUEST', `no key change is waiting for org ${orgId}`);
    const expected = this.orgFingerprint(change.certificate).replace(/\s+/g, '');
    const told = fingerprintDigits.replace(/\s+/g, '');
    if (!this.anchor.crypto.equal(new TextEncoder().encode(expected), new TextEncoder().encode(told))) {
      throw new HandoverError('UNTRUSTED_KEY', `the fingerprint does not match org ${orgId}'s new key: do not trust it`);
    }
    // Check it again now: it may have expired or been revoked since it was seen.
    const cert = verifyOrgCertificate(this.anchor, change.certificate, { now: this.now(), revocations: this.revocations });
    this.setPin({ orgId, certificate: cert, pinnedAt: this.now() });
    this.keyChanges.delete(orgId);
    for (const [id, d] of this.devices) if (d.org.orgId === orgId) this.devices.delete(id);
    await this.savePins();
    return cert;
  }

  /**
   * Fetch and verify the revocation list (with every certificate its
   * issuers ever had); refuses one older than any seen before. Entries that
   * do not verify revoke their subject and are kept in `unverifiableRevocations()`.
   */
  async syncRevocations(): Promise<void> {
    const { revocations, issuers } = await this.api.revocations();
    for (const value of issuers) {
      const cert = rootSignedOrgCertificate(this.anchor, value);
      if (cert) this.rememberKey(cert);
    }
    const result = verifyRevocationList(this.anchor, revocations, {
      orgPublicKeys: (orgId) => [...(this.historicKeys.get(orgId)?.values() ?? [])],
      seen: this.heads,
    });
    this.revocations = result.status;
    this.heads = result.heads;
    this.unverifiable = result.unverifiable;
    this.revocationEntries = result.revocations;
    await this.vault.put(HEADS_RECORD, Object.fromEntries(this.heads));
    for (const [id, d] of this.devices) if (this.isRevoked(d)) this.devices.delete(id);
  }

  /** Fetch the directory and keep every org and device whose chain verifies under the pinned org keys. */
  async refreshDirectory(): Promise<{ refused: Array<{ id: string; code: string }> }> {
    const { orgs } = await this.api.directory();
    const refused: Array<{ id: string; code: string }> = [];
    const now = this.now();
    /** Device ids claimed by more than one org entry: a relay playing tricks; trust neither. */
    const claimedBy = new Map<string, string>();
    const ambiguous = new Set<string>();
    const fresh = new Map<string, KnownDevice>();
    for (const entry of orgs) {
      let org: OrgCertificate;
      try {
        org = await this.admitOrg(entry.certificate);
      } catch (err) {
        refused.push({ id: entry.certificate.orgId, code: err instanceof HandoverError ? err.code : 'INTERNAL' });
        continue;
      }
      for (const cert of entry.devices) {
        try {
          const { device } = verifyDeviceChain(this.anchor, org, cert, { now, revocations: this.revocations });
          const owner = claimedBy.get(device.deviceId);
          if (owner !== undefined) {
            ambiguous.add(device.deviceId);
            continue;
          }
          claimedBy.set(device.deviceId, org.orgId);
          fresh.set(device.deviceId, { certificate: device, org, signPublicKey: fromB64u(device.signPublicKey), identityKey: fromB64u(device.dhPublicKey) });
        } catch (err) {
          refused.push({ id: cert.deviceId, code: err instanceof HandoverError ? err.code : 'INTERNAL' });
        }
      }
    }
    for (const id of ambiguous) {
      fresh.delete(id);
      refused.push({ id, code: 'UNTRUSTED_KEY' });
    }
    // What the directory no longer lists (revoked, expired, re-keyed) is forgotten.
    this.devices = fresh;
    return { refused };
  }

  /** Revocations first (with their issuers' keys), then the directory checked against them. */
  async refresh(): Promise<void> {
    await this.syncRevocations();
    await this.refreshDirectory();
  }

  /**
   * The pinned certificates of every org but `ownOrgId`, expired ones
   * included (revoked orgs left out): the partners whose certificate
   * lifetime this device depends on, for expiry warnings.
   */
  partnerOrgs(ownOrgId: string): OrgCertificate[] {
    return [...this.pins.values()]
      .map((p) => p.certificate)
      .filter((c) => c.orgId !== ownOrgId && !this.revocations.isOrgRevoked(c.orgId))
      .sort((a, b) => (a.orgId < b.orgId ? -1 : a.orgId > b.orgId ? 1 : 0));
  }

  /** Orgs with a pinned, currently valid certificate. */
  listOrgs(): OrgCertificate[] {
    return [...this.pins.values()].map((p) => p.certificate).filter((c) => this.isOrgUsable(c));
  }

  /** Devices whose chain verified and that are still valid now. */
  listDevices(orgId?: string): KnownDevice[] {
    return [...this.devices.values()].filter((d) => (orgId === undefined || d.org.orgId === orgId) && this.isDeviceUsable(d));
  }

  /** The pinned certificate of an org when it is valid now (not expired or revoked). */
  org(orgId: string): OrgCertificate | undefined {
    const cert = this.pins.get(orgId)?.certificate;
    return cert && this.isOrgUsable(cert) ? cert : undefined;
  }

  private isOrgUsable(cert: OrgCertificate): boolean {
    return this.now() < cert.expiresAt && !this.revocations.isOrgRevoked(cert.orgId);
  }

  private isRevoked(d: KnownDevice): boolean {
    return this.revocations.isDeviceRevoked(d.certificate.deviceId, d.org.orgId) || this.revocations.isOrgRevoked(d.org.orgId);
  }

  private isDeviceUsable(d: KnownDevice): boolean {
    const now = this.now();
    const pin = this.pins.get(d.org.orgId);
    return !this.isRevoked(d) && now < d.certificate.expiresAt && now < d.org.expiresAt && pin?.certificate.publicKey === d.org.publicKey;
  }

  /** A verified, unrevoked, unexpired device; refreshes once when it is not known (or no longer valid). */
  async device(deviceId: string): Promise<KnownDevice> {
    let known = this.devices.get(deviceId);
    if (!known || !this.isDeviceUsable(known)) {
      await this.refresh();
      known = this.devices.get(deviceId);
    }
    if (!known) {
      // The directory lists active devices only: a revoked sender is told apart by the revocation list
      // (its org is the part of its id before ':'), so its envelopes are acked away, not retried.
      const orgId = orgOfDeviceId(deviceId);
      if (this.revocations.isOrgRevoked(orgId) || this.revocations.isDeviceRevoked(deviceId, orgId)) {
        throw new HandoverError('REVOKED', `device ${deviceId} is revoked`);
      }
      throw new HandoverError('UNTRUSTED_KEY', `device ${deviceId} has no valid certificate chain`);
    }
    if (this.isRevoked(known)) throw new HandoverError('REVOKED', `device ${deviceId} is revoked`);
    if (!this.isDeviceUsable(known)) throw new HandoverError('EXPIRED', `the certificate of device ${deviceId} is no longer valid`);
    return known;
  }
}
