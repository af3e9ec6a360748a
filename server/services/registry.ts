/**
 * Org and device registration, prekeys, bundles and revocations. Every
 * certificate and prekey is verified before it is stored; the relay stores
 * only what chains to the pinned root.
 */
import type { z } from 'zod';
import { type BundlesResponse, type OrgDirectory, type RegisterDeviceRequest, type RevocationList, DOMAIN, MAX_CLOCK_SKEW_MS, verifyDeviceChain, verifyObject, verifyOrgCertificate, fromB64u, HandoverError, type DeviceBundle, type DeviceCertificate, type OneTimePrekey, type OrgCertificate, type PqPrekey, type Revocation, type SignedPrekey, orgOfDeviceId } from '../../shared';
import type { RelayConfig } from '../config';
import type { DirectoryStore, InboxStore, PrekeyStore, RevocationStore, SessionStore } from '../store';
import type { RelayTrust } from './trust';

/**
 * The one refusal of a registration or revocation whose signatures do not
 * verify against the network root and the orgs the relay holds — whether
 * the org is unknown, revoked or the signature is simply wrong. Until a
 * requester has presented a chain that verifies, nothing it is told may
 * depend on which org or device ids exist or are revoked (finding 8).
 */
export const NOT_VERIFIED_MESSAGE =
  'refused: the signatures do not verify against the network root and the registered org certificates; check the certificate and the key that signed it';

function notVerified(): HandoverError {
  return new HandoverError('FORBIDDEN', NOT_VERIFIED_MESSAGE);
}

/**
 * A certificate dated beyond the clock-skew window is refused at the door,
 * saying how far ahead its issuer's clock was: stored, it would be "not
 * valid yet" for every client with a correct clock, and one such device
 * certificate stopped every org from sending to its org.
 */
function refuseFutureDated(what: string, issuedAt: number, now: number, whose: string): void {
  const aheadByMs = issuedAt - now;
  if (aheadByMs <= MAX_CLOCK_SKEW_MS) return;
  throw new HandoverError(
    'FORBIDDEN',
    `${what} is dated ${describeSpan(aheadByMs)} ahead of the relay's clock (issued ${new Date(issuedAt).toISOString()}, relay time ` +
      `${new Date(now).toISOString()}; up to ${describeSpan(MAX_CLOCK_SKEW_MS)} are tolerated): the clock of ${whose} is at least ` +
      `${describeSpan(aheadByMs)} ahead (or the relay's is that far behind). Set that clock right (turn on automatic time / NTP) and issue the certificate again.`,
    { issuedAt, relayTime: now, aheadByMs, maxClockSkewMs: MAX_CLOCK_SKEW_MS },
  );
}

/** "12 minutes", "3 hours", "2 days" (rounded down: the message says "at least"). */
function describeSpan(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 120) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hours`;
  return `${Math.floor(hours / 24)} days`;
}

/**
 * The registry writes the directory, prekeys and revocations; a revocation
 * also ends the revoked devices' sessions and drops their inboxes.
 */
export type RegistryStore = DirectoryStore &
  RevocationStore &
  PrekeyStore &
  Pick<SessionStore, 'deleteDeviceSessions'> &
  Pick<InboxStore, 'deleteInbox'>;

/** What the registry tells the socket layer (which may live in another process). */
export interface RegistryEvents {
  prekeysLow(deviceId: string, remaining: number): void;
  devicesRevoked(deviceIds: string[]): void;
  revocationPublished(issuer: string, seq: number): void;
}

interface StoredSignedPrekeys {
  signedPrekey: SignedPrekey;
  pqPrekey: PqPrekey;
}

type PrekeyLabel = typeof DOMAIN.signedPrekey | typeof DOMAIN.pqPrekey | typeof DOMAIN.oneTimePrekey;

export class Registry {
  /** Stands in for the key of an unknown org, so refusing it costs a signature check like any other. */
  private readonly decoyKey: Uint8Array;

  constructor(
    private readonly trust: RelayTrust,
    private readonly store: RegistryStore,
    private readonly config: RelayConfig,
    private readonly events: RegistryEvents,
    private readonly now: () => number,
  ) {
    this.decoyKey = trust.anchor.crypto.signKeyPair().publicKey;
  }

  /* ----------------------------------------------------------------- orgs -- */

  /**
   * Register or re-issue an org certificate. A certificate that does not
   * verify against the root gets the uniform refusal. A re-issued
   * certificate replaces the current one only if it is newer (issuedAt
   * after the current one's) and its serial is at least the current one's;
   * the replaced one stays in the org's history (revocation issuers).
   */
  async registerOrg(certificate: OrgCertificate): Promise<{ orgId: string; replaced: boolean }> {
    if (certificate.orgId === 'root') throw new HandoverError('BAD_REQUEST', 'the org id "root" is reserved for the network root');
    const anchor = this.trust.anchor;
    if (certificate.networkId !== anchor.networkId || !verifyObject(anchor.crypto, DOMAIN.orgCertificate, certificate, anchor.rootPublicKey)) {
      throw notVerified();
    }
    // Signed by the root: from here on the requester may learn the org's state.
    refuseFutureDated(`org certificate ${certificate.orgId}`, certificate.issuedAt, this.now(), "the network coordinator's machine that signed it");
    const org = verifyOrgCertificate(anchor, certificate, { now: this.now() });
    if (await this.trust.isOrgRevoked(org.orgId)) throw new HandoverError('REVOKED', `org ${org.orgId} has been revoked`);
    const existing = await this.trust.org(org.orgId);
    if (existing) {
      if (existing.signature === org.signature) return { orgId: org.orgId, replaced: false };
      if (org.issuedAt <= existing.issuedAt || org.serial < existing.serial) {
        throw new HandoverError(
          'FORBIDDEN',
          `org ${org.orgId} already has a certificate (serial ${existing.serial}) issued at or after this one, or with a higher serial; a re-issued certificate must be newer`,
        );
      }
    }
    await this.store.putOrg(org.orgId, JSON.stringify(org));
    this.trust.invalidate({ orgId: org.orgId });
    return { orgId: org.orgId, replaced: existing !== undefined };
  }

  async orgEntry(orgId: string): Promise<OrgDirectory['orgs'][number]> {
    const org = await this.trust.activeOrg(orgId);
    return { certificate: org, devices: await this.trust.activeOrgDevices(orgId, { fresh: true }) };
  }

  async directory(): Promise<OrgDirectory> {
    const orgs: OrgDirectory['orgs'] = [];
    for (const json of await this.store.listOrgs()) {
      const org = JSON.parse(json) as OrgCertificate;
      if (await this.trust.isOrgRevoked(org.orgId)) continue;
      if (this.now() >= org.expiresAt) continue;
      orgs.push({ certificate: org, devices: await this.trust.activeOrgDevices(org.orgId, { fresh: true }) });
    }
    return { orgs };
  }

  /* -------------------------------------------------------------- devices -- */

  async registerDevice(request: RegisterDeviceRequest): Promise<{ deviceId: string; oneTimePrekeys: number }> {
    const claimed = request.certificate;
    // Unknown org, revoked org or a certificate its org did not sign: one answer (finding 8).
    const registered = await this.trust.org(claimed.orgId);
    // An unknown org is checked against a decoy key: the answer takes as long either way.
    const signed = this.signedByOrg(claimed, claimed.orgId, registered ? fromB64u(registered.publicKey) : this.decoyKey);
    if (!registered || !signed) throw notVerified();
    // The org's current key signed it: now the requester may learn the org's state.
    refuseFutureDated(`device certificate ${claimed.deviceId}`, claimed.issuedAt, this.now(), `the ${claimed.orgId} admin's machine that signed it`);
    const orgCert = await this.trust.activeOrg(claimed.orgId);
    const { device } = verifyDeviceChain(this.trust.anchor, orgCert, claimed, { now: this.now() });
    const existing = await this.store.getDevice(device.deviceId);
    const previous = existing ? (JSON.parse(existing.certJson) as DeviceCertificate) : undefined;
    const sameCertificate = previous?.signature === device.signature;
    if (existing && previous) {
      if (existing.orgId !== device.orgId) {
        throw new HandoverError('FORBIDDEN', `device id ${device.deviceId} is taken by another org`);
      }
      if (!sameCertificate && device.issuedAt <= previous.issuedAt) {
        throw new HandoverError('FORBIDDEN', `device ${device.deviceId} already has a newer certificate`);
      }
    }
    // A revoked device id stays revoked, whatever certificate comes next.
    await this.checkRevokedDevice(device);
    const signKey = fromB64u(device.signPublicKey);
    this.checkPrekey(request.signedPrekey, DOMAIN.signedPrekey, device.deviceId, signKey, 'signed prekey');
    this.checkPrekey(request.pqPrekey, DOMAIN.pqPrekey, device.deviceId, signKey, 'post-quantum prekey');
    for (const otp of request.oneTimePrekeys) this.checkPrekey(otp, DOMAIN.oneTimePrekey, device.deviceId, signKey, 'one-time prekey');

    // Replaying an old registration must not roll the signed prekey back.
    const current = await this.currentSignedPrekeys(device.deviceId);
    if (current && sameCertificate && (current.signedPrekey.id > request.signedPrekey.id || current.pqPrekey.id > request.pqPrekey.id)) {
      throw new HandoverError('BAD_REQUEST', 'this registration carries an older signed prekey than the relay holds');
    }
    // Refuse an over-cap upload before anything is stored, so a refused registration leaves no device behind.
    const held = await this.store.countOneTimePrekeys(device.deviceId);
    if (held + request.oneTimePrekeys.length > this.config.maxOneTimePrekeys) {
      throw new HandoverError('BAD_REQUEST', `the relay holds at most ${this.config.maxOneTimePrekeys} one-time prekeys per device (${held} now)`);
    }
    await this.store.putDevice(device.deviceId, device.orgId, JSON.stringify(device));
    this.trust.invalidate({ deviceId: device.deviceId });
    await this.store.setSignedPrekeys(device.deviceId, JSON.stringify({ signedPrekey: request.signedPrekey, pqPrekey: request.pqPrekey }));
    const count = await this.addOneTimePrekeys(device.deviceId, request.oneTimePrekeys);
    return { deviceId: device.deviceId, oneTimePrekeys: count };
  }

  /** The device certificate names this network and an id in this org's namespace, and the org's key signed it. */
  private signedByOrg(device: DeviceCertificate, orgId: string, orgKey: Uint8Array): boolean {
    const anchor = this.trust.anchor;
    const signed = verifyObject(anchor.crypto, DOMAIN.deviceCertificate, device, orgKey);
    return signed && device.networkId === anchor.networkId && device.orgId === orgId && orgOfDeviceId(device.deviceId) === orgId;
  }

  private async checkRevokedDevice(device: DeviceCertificate): Promise<void> {
    for (const record of await this.store.listRevocations()) {
      const rev = JSON.parse(record.json) as Revocation;
      if (rev.subject.type === 'device' && rev.subject.deviceId === device.deviceId && rev.subject.orgId === device.orgId) {
        throw new HandoverError('REVOKED', `device ${device.deviceId} has been revoked`);
      }
    }
  }

  private checkPrekey(
    prekey: { deviceId: string; signature: string },
    label: PrekeyLabel,
    deviceId: string,
    signKey: Uint8Array,
    what: string,
  ): void {
    if (prekey.deviceId !== deviceId) throw new HandoverError('BAD_REQUEST', `${what} names another device`);
    if (!verifyObject(this.trust.anchor.crypto, label, prekey, signKey)) {
      throw new HandoverError('BAD_SIGNATURE', `${what} is not signed by device ${deviceId}`);
    }
  }

  private async currentSignedPrekeys(deviceId: string): Promise<StoredSignedPrekeys | undefined> {
    const json = await this.store.getSignedPrekeys(deviceId);
    return json ? (JSON.parse(json) as StoredSignedPrekeys) : undefined;
  }

  async uploadSignedPrekeys(deviceId: string, signedPrekey: SignedPrekey, pqPrekey: PqPrekey): Promise<void> {
    const { signPublicKey } = await this.trust.activeDevice(deviceId);
    this.checkPrekey(signedPrekey, DOMAIN.signedPrekey, deviceId, signPublicKey, 'signed prekey');
    this.checkPrekey(pqPrekey, DOMAIN.pqPrekey, deviceId, signPublicKey, 'post-quantum prekey');
    const current = await this.currentSignedPrekeys(deviceId);
    if (current && (signedPrekey.id < current.signedPrekey.id || pqPrekey.id < current.pqPrekey.id)) {
      throw new HandoverError('BAD_REQUEST', 'signed prekeys may only move forward (an older upload was replayed?)');
    }
    await this.store.setSignedPrekeys(deviceId, JSON.stringify({ signedPrekey, pqPrekey }));
  }

  async uploadOneTimePrekeys(deviceId: string, prekeys: OneTimePrekey[]): Promise<{ count: number }> {
    const { signPublicKey } = await this.trust.activeDevice(deviceId);
    for (const otp of prekeys) this.checkPrekey(otp, DOMAIN.oneTimePrekey, deviceId, signPublicKey, 'one-time prekey');
    return { count: await this.addOneTimePrekeys(deviceId, prekeys) };
  }

  private async addOneTimePrekeys(deviceId: string, prekeys: OneTimePrekey[]): Promise<number> {
    if (prekeys.length === 0) return this.store.countOneTimePrekeys(deviceId);
    const result = await this.store.addOneTimePrekeys(
      deviceId,
      prekeys.map((p) => ({ id: p.id, json: JSON.stringify(p) })),
      this.config.maxOneTimePrekeys,
    );
    if (result.status === 'over_cap') {
      throw new HandoverError('BAD_REQUEST', `the relay holds at most ${result.cap} one-time prekeys per device (${result.count} now)`);
    }
    return result.count;
  }

  async prekeyStatus(deviceId: string): Promise<{ oneTimePrekeys: number; signedPrekeyId: number | null }> {
    const current = await this.currentSignedPrekeys(deviceId);
    return { oneTimePrekeys: await this.store.countOneTimePrekeys(deviceId), signedPrekeyId: current?.signedPrekey.id ?? null };
  }

  /**
   * Bundles of every active device of an org, each with one popped one-time
   * prekey when any is left (never handed out twice; the signed prekey is the
   * last resort). The requesting device itself is left out: it never
   * encrypts to itself, so handing it its own one-time prekey would only
   * burn it. The caller rate-limits per (requester, org).
   */
  async bundles(orgId: string, requesterDeviceId?: string): Promise<z.infer<typeof BundlesResponse>> {
    const org = await this.trust.activeOrg(orgId);
    const bundles: DeviceBundle[] = [];
    for (const device of await this.trust.activeOrgDevices(orgId, { fresh: true })) {
      if (device.deviceId === requesterDeviceId) continue;
      const signed = await this.currentSignedPrekeys(device.deviceId);
      if (!signed) continue; // certified but never registered its prekeys
      const popped = await this.store.popOneTimePrekey(device.deviceId);
      bundles.push({
        certificate: device,
        signedPrekey: signed.signedPrekey,
        pqPrekey: signed.pqPrekey,
        ...(popped ? { oneTimePrekey: JSON.parse(popped.json) as OneTimePrekey } : {}),
      });
      const remaining = await this.store.countOneTimePrekeys(device.deviceId);
      if (remaining < this.config.oneTimePrekeyLowWater) this.events.prekeysLow(device.deviceId, remaining);
    }
    return { org, bundles };
  }

  /* ---------------------------------------------------------- revocations -- */

  /**
   * Every revocation, and every certificate the relay ever accepted for
   * each org that issued one — superseded, revoked and expired ones too —
   * so a client can check every old revocation's signature (finding 3).
   */
  async revocations(): Promise<RevocationList> {
    const records = await this.store.listRevocations();
    const revocations = records.map((r) => JSON.parse(r.json) as Revocation);
    const issuerIds = [...new Set(revocations.map((r) => r.issuer).filter((issuer) => issuer !== 'root'))];
    const issuers: OrgCertificate[] = [];
    for (const orgId of issuerIds) {
      const [history, current] = await Promise.all([this.store.listOrgHistory(orgId), this.store.getOrg(orgId)]);
      // The current certificate also covers an org registered before its history was kept.
      const all = current !== null && !history.includes(current) ? [current, ...history] : history;
      for (const json of all) issuers.push(JSON.parse(json) as OrgCertificate);
    }
    return { revocations, issuers };
  }

  /** The current public key of a registered org (revoked or expired ones included: they may still revoke their devices). */
  private async issuerKey(orgId: string): Promise<Uint8Array | undefined> {
    const org = await this.trust.org(orgId);
    return org ? fromB64u(org.publicKey) : undefined;
  }

  /**
   * Publish a signed revocation. The root revokes orgs, an org its own
   * devices; sequence numbers per issuer run 1, 2, 3… with no gap (the store
   * appends atomically). Ends the revoked devices' sessions and inboxes.
   */
  async publishRevocation(rev: Revocation): Promise<{ issuer: string; seq: number }> {
    const anchor = this.trust.anchor;
    if (rev.issuer === 'root' && rev.subject.type !== 'org') throw new HandoverError('BAD_REQUEST', 'the root revokes orgs only');
    if (rev.issuer !== 'root' && (rev.subject.type !== 'device' || rev.subject.orgId !== rev.issuer || orgOfDeviceId(rev.subject.deviceId) !== rev.issuer)) {
      throw new HandoverError('FORBIDDEN', `org ${rev.issuer} may revoke only its own devices`);
    }
    // Another network, an unknown issuer or a signature its current key did not make: one answer (finding 8).
    const key = rev.issuer === 'root' ? anchor.rootPublicKey : await this.issuerKey(rev.issuer);
    const signed = verifyObject(anchor.crypto, DOMAIN.revocation, rev, key ?? this.decoyKey);
    if (rev.networkId !== anchor.networkId || !key || !signed) throw notVerified();
    const result = await this.store.appendRevocation(rev.issuer, rev.seq, JSON.stringify(rev));
    if (result.status === 'conflict') {
      throw new HandoverError('BAD_REQUEST', `revocation ${rev.issuer}#${rev.seq} does not follow the latest (#${result.head})`, { head: result.head });
    }
    this.trust.invalidate();
    const deviceIds =
      rev.subject.type === 'device' ? ((await this.trust.deviceOrg(rev.subject.deviceId)) === rev.subject.orgId ? [rev.subject.deviceId] : []) : await this.store.listOrgDeviceIds(rev.subject.orgId);
    for (const deviceId of deviceIds) {
      await this.store.deleteDeviceSessions(deviceId);
      await this.store.deleteInbox(deviceId);
    }
    this.events.devicesRevoked(deviceIds);
    this.events.revocationPublished(rev.issuer, rev.seq);
    return { issuer: rev.issuer, seq: rev.seq };
  }
}
