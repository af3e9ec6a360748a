/**
 * Renewing a certificate for the same key, before it expires. The first
 * certification of a key needs a person to confirm its fingerprint by
 * phone; a renewal instead proves continuity: it carries the certificate
 * being renewed (signed by the issuer who renews it) and is signed by the
 * key it names, so the issuer knows it certifies again exactly the key it
 * certified before, held by the same party. That proof holds only while
 * the old certificate is still valid: after it expired, a renewal needs the
 * phone confirmation again, as a first certification does.
 *
 * - A device asks its org admin: a fresh self-signed enrolment request
 *   (same keys) with its current device certificate.
 * - An org admin asks the coordinator: the current org certificate, signed
 *   with the org key.
 */
import { z } from 'zod';
import { DOMAIN, type Crypto, DeviceCertificate, EnrolmentRequest, HandoverError, OrgCertificate, Signature, Timestamp, fromB64u, parseOrThrow, signObject, verifyObject } from '../../shared';

const ORG_RENEWAL_LABEL = 'handover/v1/org-renewal-request';

export const DeviceRenewalRequest = z.strictObject({
  v: z.literal(1),
  kind: z.literal('device-renewal'),
  /** A fresh enrolment request for the same keys (self-signed: proves the device holds them). */
  request: EnrolmentRequest,
  /** The certificate being renewed. */
  certificate: DeviceCertificate,
});
export type DeviceRenewalRequest = z.infer<typeof DeviceRenewalRequest>;

const OrgRenewalBody = z.strictObject({
  v: z.literal(1),
  kind: z.literal('org-renewal'),
  /** The certificate being renewed (root-signed). */
  certificate: OrgCertificate,
  requestedAt: Timestamp,
});
export const OrgRenewalRequest = OrgRenewalBody.extend({ signature: Signature });
export type OrgRenewalRequest = z.infer<typeof OrgRenewalRequest>;

/** What a device sends its org admin to renew its certificate. */
export function deviceRenewalRequest(request: EnrolmentRequest, certificate: DeviceCertificate | undefined): DeviceRenewalRequest {
  if (!certificate) throw new HandoverError('BAD_REQUEST', 'this device has no certificate to renew yet: register it first (handover device register)');
  return { v: 1, kind: 'device-renewal', request, certificate };
}

/** What an org admin sends the coordinator to renew the org certificate, signed with the org key. */
export function orgRenewalRequest(crypto: Crypto, certificate: OrgCertificate, orgPrivateKey: Uint8Array, now: number): OrgRenewalRequest {
  return signObject(crypto, ORG_RENEWAL_LABEL, { v: 1 as const, kind: 'org-renewal' as const, certificate, requestedAt: now }, orgPrivateKey);
}

/** Whether a device request file is a renewal (otherwise a first enrolment request). */
export function isDeviceRenewal(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'device-renewal';
}

/**
 * A device renewal, checked by the org admin: the enclosed certificate was
 * signed by this org's key and is for the same device and keys as the
 * fresh request. Returns the request to certify and the certificate it
 * renews; `stillValid` says whether continuity replaces the phone call.
 */
export function checkDeviceRenewal(
  crypto: Crypto,
  value: unknown,
  orgPublicKey: string,
  now: number,
): { request: EnrolmentRequest; previous: DeviceCertificate; stillValid: boolean } {
  const renewal = parseOrThrow(DeviceRenewalRequest, value, 'device renewal request');
  const { request, certificate: previous } = renewal;
  if (!verifyObject(crypto, DOMAIN.deviceCertificate, previous, fromB64u(orgPublicKey))) {
    throw new HandoverError('UNTRUSTED_KEY', `the certificate in this renewal request was not issued by this org's key: nothing was signed`);
  }
  if (
    previous.deviceId !== request.deviceId ||
    previous.orgId !== request.orgId ||
    previous.signPublicKey !== request.signPublicKey ||
    previous.dhPublicKey !== request.dhPublicKey
  ) {
    throw new HandoverError('UNTRUSTED_KEY', `this renewal request asks for other keys than the certificate it renews (${previous.deviceId}): nothing was signed`);
  }
  return { request, previous, stillValid: now < previous.expiresAt };
}

/**
 * An org renewal, checked by the coordinator: the enclosed certificate was
 * issued by this root, and the request is signed by the key it certifies.
 */
export function checkOrgRenewal(
  crypto: Crypto,
  value: unknown,
  rootPublicKey: string,
  now: number,
): { previous: OrgCertificate; stillValid: boolean } {
  const renewal = parseOrThrow(OrgRenewalRequest, value, 'org renewal request');
  const previous = renewal.certificate;
  if (!verifyObject(crypto, DOMAIN.orgCertificate, previous, fromB64u(rootPublicKey))) {
    throw new HandoverError('UNTRUSTED_KEY', `the certificate in this renewal request was not issued by this network root: nothing was signed`);
  }
  if (!verifyObject(crypto, ORG_RENEWAL_LABEL, renewal, fromB64u(previous.publicKey))) {
    throw new HandoverError('BAD_SIGNATURE', `this renewal request is not signed by the org key of ${previous.orgId}: nothing was signed`);
  }
  return { previous, stillValid: now < previous.expiresAt };
}
