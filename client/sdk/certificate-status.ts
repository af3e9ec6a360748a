/**
 * How long the certificates a user depends on have left. Certificates
 * expire (devices after 180 days, orgs after a year, by default), and an
 * expired one stops a device from signing in or an org from being sent to
 * — silently, months after anyone thought about it. So every certificate
 * this profile depends on is listed with its days left, and one within
 * EXPIRY_WARNING_DAYS of its end (or past it, or dated in the future) is a
 * warning the apps show: the device's own, its org's, and each partner
 * org's this device has pinned.
 */
import { DAY_MS, MAX_CLOCK_SKEW_MS, type DeviceCertificate, type OrgCertificate } from '../../shared';
import type { HandoverClient } from './client';

/** Warn this many days before a certificate expires: time for a renewal to pass through two admins. */
export const EXPIRY_WARNING_DAYS = 30;

/** Whose certificate it is, as far as this profile is concerned. */
export type CertificateRole = 'this-device' | 'own-org' | 'partner-org';
export type CertificateState = 'valid' | 'expiring' | 'expired' | 'not-yet-valid';

export interface CertificateStanding {
  role: CertificateRole;
  /** The device id or org id. */
  id: string;
  /** The device label or org name. */
  name: string;
  issuedAt: number;
  expiresAt: number;
  /** Days until it expires, rounded (0: less than half a day; negative: days since it expired, at least 1). */
  daysLeft: number;
  state: CertificateState;
}

/** One certificate's standing at `now`. */
export function standingOf(
  role: CertificateRole,
  cert: { issuedAt: number; expiresAt: number },
  id: string,
  name: string,
  now: number,
  warnDays = EXPIRY_WARNING_DAYS,
): CertificateStanding {
  const left = cert.expiresAt - now;
  // Rounded, so a certificate issued for 180 days reads "180 days left" a moment later.
  const daysLeft = left > 0 ? Math.round(left / DAY_MS) : -Math.max(1, Math.round(-left / DAY_MS));
  const state: CertificateState =
    now >= cert.expiresAt ? 'expired' : now + MAX_CLOCK_SKEW_MS < cert.issuedAt ? 'not-yet-valid' : left <= warnDays * DAY_MS ? 'expiring' : 'valid';
  return { role, id, name, issuedAt: cert.issuedAt, expiresAt: cert.expiresAt, daysLeft, state };
}

export interface DependedOn {
  device?: DeviceCertificate;
  ownOrg?: OrgCertificate;
  partners: readonly OrgCertificate[];
}

/** The standings of what a device depends on: itself, its org, its partner orgs (in that order). */
export function certificateStandings(of: DependedOn, now: number, warnDays = EXPIRY_WARNING_DAYS): CertificateStanding[] {
  const out: CertificateStanding[] = [];
  if (of.device) out.push(standingOf('this-device', of.device, of.device.deviceId, of.device.label, now, warnDays));
  if (of.ownOrg) out.push(standingOf('own-org', of.ownOrg, of.ownOrg.orgId, of.ownOrg.name, now, warnDays));
  for (const org of of.partners) out.push(standingOf('partner-org', org, org.orgId, org.name, now, warnDays));
  return out;
}

/**
 * What a staff device depends on, from what it holds: its device
 * certificate, its org's (the pinned one: a renewal for the same key reaches
 * devices through the directory) and every partner org it pinned.
 */
export function deviceDependencies(client: HandoverClient): DependedOn {
  const { device, org } = client.certificates;
  const ownOrg = client.trust.pinned(client.orgId) ?? org;
  return { ...(device ? { device } : {}), ...(ownOrg ? { ownOrg } : {}), partners: client.trust.partnerOrgs(client.orgId) };
}

/** Only the standings that need someone to act (expiring, expired, not valid yet). */
export function needingAction(standings: readonly CertificateStanding[]): CertificateStanding[] {
  return standings.filter((s) => s.state !== 'valid');
}
