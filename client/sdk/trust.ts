/**
 * The client's own view of who is who: org and device certificates from the
 * relay's directory, each verified against the pinned root, and the
 * revocation list with rollback protection. The relay is trusted for none of
 * it; it can only withhold (and then a send fails loudly).
 */
import {
  NOTHING_REVOKED,
  type RevocationStatus,
  type TrustAnchor,
  verifyDeviceChain,
  verifyOrgCertificate,
  verifyRevocationList,
} from '../../shared/certificates';
import { fromB64u } from '../../shared/encoding';
import { HandoverError } from '../../shared/errors';
import type { DeviceCertificate, OrgCertificate } from '../../shared/schemas';
import type { RelayApi } from './relay-api';
import type { Vault } from './vault';

const HEADS_RECORD = 'revocation-heads';

export interface KnownDevice {
  certificate: DeviceCertificate;
  org: OrgCertificate;
  signPublicKey: Uint8Array;
  identityKey: Uint8Array;
}

export class TrustStore {
  private orgs = new Map<string, OrgCertificate>();
  private devices = new Map<string, KnownDevice>();
  private revocations: RevocationStatus = NOTHING_REVOKED;
  private heads = new Map<string, number>();

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
  }

  revocationStatus(): RevocationStatus {
    return this.revocations;
  }

  /** Fetch and verify the revocation list; refuses one older than any seen before. */
  async syncRevocations(): Promise<void> {
    const { revocations } = await this.api.revocations();
    const result = verifyRevocationList(this.anchor, revocations, {
      orgPublicKey: (orgId) => {
        const org = this.orgs.get(orgId);
        return org ? fromB64u(org.publicKey) : undefined;
      },
      seen: this.heads,
    });
    this.revocations = result.status;
    this.heads = result.heads;
    await this.vault.put(HEADS_RECORD, Object.fromEntries(this.heads));
    // Drop anything the new list revokes.
    for (const [id, d] of this.devices) {
      if (this.revocations.isDeviceRevoked(id, d.org.orgId) || this.revocations.isOrgRevoked(d.org.orgId)) this.devices.delete(id);
    }
  }

  /** Fetch the directory and keep every org and device whose chain verifies. */
  async refreshDirectory(): Promise<{ refused: Array<{ id: string; code: string }> }> {
    const { orgs } = await this.api.directory();
    const refused: Array<{ id: string; code: string }> = [];
    const now = this.now();
    /** Device ids claimed by more than one org: a relay playing tricks; trust neither. */
    const claimedBy = new Map<string, string>();
    const ambiguous = new Set<string>();
    for (const entry of orgs) {
      let org: OrgCertificate;
      try {
        org = verifyOrgCertificate(this.anchor, entry.certificate, { now, revocations: this.revocations });
      } catch (err) {
        refused.push({ id: entry.certificate.orgId, code: err instanceof HandoverError ? err.code : 'INTERNAL' });
        continue;
      }
      this.orgs.set(org.orgId, org);
      for (const cert of entry.devices) {
        try {
          const { device } = verifyDeviceChain(this.anchor, org, cert, { now, revocations: this.revocations });
          const owner = claimedBy.get(device.deviceId);
          if (owner !== undefined && owner !== org.orgId) {
            ambiguous.add(device.deviceId);
            continue;
          }
          claimedBy.set(device.deviceId, org.orgId);
          this.devices.set(device.deviceId, {
            certificate: device,
            org,
            signPublicKey: fromB64u(device.signPublicKey),
            identityKey: fromB64u(device.dhPublicKey),
          });
        } catch (err) {
          refused.push({ id: cert.deviceId, code: err instanceof HandoverError ? err.code : 'INTERNAL' });
        }
      }
    }
    for (const id of ambiguous) {
      this.devices.delete(id);
      refused.push({ id, code: 'UNTRUSTED_KEY' });
    }
    return { refused };
  }

  /** Sync revocations and directory together (revocations need org keys first). */
  async refresh(): Promise<void> {
    await this.refreshDirectory();
    await this.syncRevocations();
  }

  listOrgs(): OrgCertificate[] {
    return [...this.orgs.values()];
  }

  listDevices(orgId?: string): KnownDevice[] {
    return [...this.devices.values()].filter((d) => orgId === undefined || d.org.orgId === orgId);
  }

  org(orgId: string): OrgCertificate | undefined {
    return this.orgs.get(orgId);
  }

  /** A verified, unrevoked device; refreshes once when it is not known yet. */
  async device(deviceId: string): Promise<KnownDevice> {
    let known = this.devices.get(deviceId);
    if (!known) {
      await this.refresh();
      known = this.devices.get(deviceId);
    }
    if (!known) throw new HandoverError('UNTRUSTED_KEY', `device ${deviceId} has no valid certificate chain`);
    if (this.revocations.isDeviceRevoked(deviceId, known.org.orgId) || this.revocations.isOrgRevoked(known.org.orgId)) {
      throw new HandoverError('REVOKED', `device ${deviceId} is revoked`);
    }
    return known;
  }
}
