/**
 * Which type an org is, from its root-certified certificate and never from
 * a form (review finding 5): the type to replay history with (the pinned
 * certificate, even expired or revoked since, so old threads stay
 * readable), the type of an org that may receive something now (a
 * certificate valid now), and the check that refuses a disclosure to an
 * org typed as something it is not certified to be.
 */
import { HandoverError } from '../../../shared';
import type { EventEnvelope, OrgRef, OrgTypeName } from '../domain/schemas';
import type { CaseTransport } from './transport';

export class OrgTypes {
  constructor(private readonly transport: CaseTransport) {}

  /** The type the root certified for an org, to replay history. */
  certified(orgId: string): OrgTypeName | undefined {
    if (orgId === this.transport.orgId && this.transport.certificates?.org) return this.transport.certificates.org.orgType;
    const { trust } = this.transport;
    return trust.certifiedOrgType ? trust.certifiedOrgType(orgId) : trust.org(orgId)?.orgType;
  }

  /** The type of an org with a certificate valid now: what a new disclosure is checked against. */
  current(orgId: string): OrgTypeName | undefined {
    if (orgId === this.transport.orgId && this.transport.certificates?.org) return this.transport.certificates.org.orgType;
    return this.transport.trust.org(orgId)?.orgType;
  }

  /** Fetch the directory once when some org is not known yet (a new org since sign-in). */
  /**
   * Fetch the directory when an org is named that this device has no
   * certificate for. Best effort, and says so: offline (or with the relay
   * refusing), such an org's events show as refused for "no valid org
   * certificate" until a later refresh, and the thread is derived again.
   * Returns whether every named org is known now.
   */
  async learn(orgIds: readonly string[]): Promise<boolean> {
    const unknown = () => orgIds.some((id) => this.current(id) === undefined);
    if (!unknown()) return true;
    try {
      await this.transport.trust.refresh?.();
    } catch {
      return false;
    }
    return !unknown();
  }

  /**
   * Refuse to disclose to an org named with another type than its
   * certificate (the consent scope and withholding go by type), or to an
   * org without a valid certificate.
   */
  checkCertified(org: OrgRef): void {
    const certified = this.current(org.orgId);
    if (certified === org.orgType) return;
    const details = { orgId: org.orgId, typed: org.orgType, certified: certified ?? null };
    if (certified === undefined) {
      throw new HandoverError(
        'UNTRUSTED_KEY',
        `${org.orgId} (typed as ${org.orgType}) has no valid org certificate in this network, so its org type cannot be checked; check the org id with \`handover directory\``,
        details,
      );
    }
    throw new HandoverError(
      'UNTRUSTED_KEY',
      `${org.orgId} is typed as ${org.orgType} but its certificate says ${certified}; correct the org type (consent and withholding go by the certified type)`,
      details,
    );
  }
}

/** The orgs an event names as participants (their certificates are needed to replay it). */
export function orgsNamedIn(event: EventEnvelope): string[] {
  if (event.type === 'referral.create') return [event.body.header.referredOrganisation, ...event.body.header.coordinators].map((o) => o.orgId);
  if (event.type === 'participant.add') return [event.body.orgId];
  return [];
}
