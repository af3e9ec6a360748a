/**
 * What the relay knows about the network: the pinned root, the registered
 * orgs and devices (verified when they were registered), and the revocation
 * list. Answers "is this org / device active now?" for every request.
 *
 * Certificates were verified against the root when registered; on each use
 * only expiry and revocation can have changed, so those are checked again.
 * The revocation status is cached for `revocationCacheMs` (default 1 s) and
 * dropped at once when this process appends one; another relay process may
 * see a new revocation up to that long later — and revocation also ends the
 * device's sessions and sockets in every process right away.
 *
 * Each org's active device list is cached for as long (it is read on every
 * send by the device-set check); a send that does not match the cached list
 * is checked again against the store before it is refused, so a device
 * registered through another process is never refused for being unknown.
 */
import { type TrustAnchor, HandoverError, fromB64u, type DeviceCertificate, type OrgCertificate, type Revocation } from '../../shared';
import type { DirectoryStore, RevocationStore } from '../store';

export interface ActiveDevice {
  device: DeviceCertificate;
  org: OrgCertificate;
  signPublicKey: Uint8Array;
}

interface Revoked {
  orgs: Set<string>;
  /** `${orgId}/${deviceId}` */
  devices: Set<string>;
}

export class RelayTrust {
  private revoked: { value: Revoked; at: number } | undefined;
  /** The reload in progress, shared by every caller that arrives meanwhile (no stampede under load). */
  private revocationReload: Promise<Revoked> | undefined;
  private readonly orgDevicesCache = new Map<string, { devices: DeviceCertificate[]; at: number }>();
  /** Bumped by invalidate(): loads that started before it are not cached. */
  private generation = 0;
  /** Parsed certificates by id; certificates never change without a new registration (which clears the entry). */
  private readonly deviceCache = new Map<string, { device: DeviceCertificate; signPublicKey: Uint8Array; at: number }>();
  private readonly orgCache = new Map<string, { org: OrgCertificate; at: number }>();

  constructor(
    readonly anchor: TrustAnchor,
    private readonly store: DirectoryStore & RevocationStore,
    private readonly now: () => number,
    private readonly cacheMs = 1000,
  ) {}

  /** Forget cached state after this process changed it. */
  invalidate(ids: { orgId?: string; deviceId?: string } = {}): void {
    this.generation++;
    this.revoked = undefined;
    this.revocationReload = undefined;
    this.orgDevicesCache.clear();
    if (ids.orgId) this.orgCache.delete(ids.orgId);
    if (ids.deviceId) this.deviceCache.delete(ids.deviceId);
  }

  private async revocations(): Promise<Revoked> {
    const cached = this.revoked;
    if (cached && this.now() - cached.at < this.cacheMs) return cached.value;
    if (this.revocationReload) return this.revocationReload;
    const generation = this.generation;
    const reload = this.loadRevocations()
      .then((value) => {
        // A result read before an invalidate() may miss what changed: use it, do not cache it.
        if (generation === this.generation) this.revoked = { value, at: this.now() };
        return value;
      })
      .finally(() => {
        if (this.revocationReload === reload) this.revocationReload = undefined;
      });
    this.revocationReload = reload;
    return reload;
  }

  private async loadRevocations(): Promise<Revoked> {
    const value: Revoked = { orgs: new Set(), devices: new Set() };
    for (const record of await this.store.listRevocations()) {
      const rev = JSON.parse(record.json) as Revocation;
      if (rev.subject.type === 'org') value.orgs.add(rev.subject.orgId);
      else value.devices.add(`${rev.subject.orgId}/${rev.subject.deviceId}`);
    }
    return value;
  }

  async isOrgRevoked(orgId: string): Promise<boolean> {
    return (await this.revocations()).orgs.has(orgId);
  }

  async org(orgId: string): Promise<OrgCertificate | undefined> {
    const cached = this.orgCache.get(orgId);
    if (cached && this.now() - cached.at < this.cacheMs * 10) return cached.org;
    const json = await this.store.getOrg(orgId);
    if (!json) return undefined;
    const org = JSON.parse(json) as OrgCertificate;
    this.orgCache.set(orgId, { org, at: this.now() });
    return org;
  }

  /** The org's certificate if it is registered, unexpired and not revoked. */
  async activeOrg(orgId: string): Promise<OrgCertificate> {
    const org = await this.org(orgId);
    if (!org) throw new HandoverError('UNKNOWN_ORG', `org ${orgId} is not registered`);
    if (await this.isOrgRevoked(orgId)) throw new HandoverError('REVOKED', `org ${orgId} has been revoked`);
    if (this.now() >= org.expiresAt) throw new HandoverError('FORBIDDEN', `the certificate of org ${orgId} has expired`);
    return org;
  }

  private async deviceCert(deviceId: string): Promise<{ device: DeviceCertificate; signPublicKey: Uint8Array } | undefined> {
    const cached = this.deviceCache.get(deviceId);
    if (cached && this.now() - cached.at < this.cacheMs * 10) return cached;
    const record = await this.store.getDevice(deviceId);
    if (!record) return undefined;
    const device = JSON.parse(record.certJson) as DeviceCertificate;
    const entry = { device, signPublicKey: fromB64u(device.signPublicKey), at: this.now() };
    this.deviceCache.set(deviceId, entry);
    return entry;
  }

  /** The certified signing key of a registered device (revoked or expired ones too), or undefined for an unknown id. */
  async deviceKey(deviceId: string): Promise<Uint8Array | undefined> {
    return (await this.deviceCert(deviceId))?.signPublicKey;
  }

  /** The org a registered device belongs to (revoked or not), or undefined for an unknown id. */
  async deviceOrg(deviceId: string): Promise<string | undefined> {
    return (await this.deviceCert(deviceId))?.device.orgId;
  }

  /** The device if registered, its certificate unexpired, and neither it nor its org revoked. */
  async activeDevice(deviceId: string): Promise<ActiveDevice> {
    const cert = await this.deviceCert(deviceId);
    if (!cert) throw new HandoverError('UNKNOWN_DEVICE', `device ${deviceId} is not registered`);
    const { device } = cert;
    const revoked = await this.revocations();
    if (revoked.devices.has(`${device.orgId}/${deviceId}`)) throw new HandoverError('REVOKED', `device ${deviceId} has been revoked`);
    if (this.now() >= device.expiresAt) throw new HandoverError('FORBIDDEN', `the certificate of device ${deviceId} has expired`);
    const org = await this.activeOrg(device.orgId);
    return { device, org, signPublicKey: cert.signPublicKey };
  }

  /** Whether the device is active, without saying why not. */
  async isActive(deviceId: string): Promise<boolean> {
    try {
      await this.activeDevice(deviceId);
      return true;
    } catch (err) {
      if (err instanceof HandoverError && err.code === 'UNAVAILABLE') throw err;
      return false;
    }
  }

  /**
   * Every active device of an org, sorted by id. Empty for a revoked or
   * expired org. Cached for `cacheMs`; `fresh` reads the store.
   */
  async activeOrgDevices(orgId: string, options: { fresh?: boolean } = {}): Promise<DeviceCertificate[]> {
    const cached = this.orgDevicesCache.get(orgId);
    if (!options.fresh && cached && this.now() - cached.at < this.cacheMs) return cached.devices;
    const generation = this.generation;
    const devices = await this.loadActiveOrgDevices(orgId);
    if (generation === this.generation) this.orgDevicesCache.set(orgId, { devices, at: this.now() });
    return devices;
  }

  private async loadActiveOrgDevices(orgId: string): Promise<DeviceCertificate[]> {
    try {
      await this.activeOrg(orgId);
    } catch (err) {
      if (err instanceof HandoverError && err.code === 'UNAVAILABLE') throw err;
      return [];
    }
    const revoked = await this.revocations();
    const now = this.now();
    const out: DeviceCertificate[] = [];
    for (const record of await this.store.listOrgDevices(orgId)) {
      const device = JSON.parse(record.certJson) as DeviceCertificate;
      if (revoked.devices.has(`${orgId}/${device.deviceId}`) || now >= device.expiresAt) continue;
      out.push(device);
    }
    return out;
  }
}
