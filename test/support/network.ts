/**
 * Test fixture: a whole trust network (root, orgs, devices with prekeys)
 * built with the real crypto core. Used by protocol, relay and client tests.
 */
import {
  type TrustAnchor,
  createEnrolmentRequest,
  issueDeviceCertificate,
  issueOrgCertificate,
  issueRevocation,
  trustAnchor,
} from '../../shared/certificates';
import type { Crypto, KeyPair } from '../../shared/crypto/types';
import {
  type DeviceKeys,
  type RecipientKeys,
  createDeviceKeys,
  generateOneTimePrekeys,
  rotateSignedPrekeys,
  verifyBundle,
} from '../../shared/device-keys';
import { toB64u } from '../../shared/encoding';
import type { SenderKeys } from '../../shared/envelope';
import type { DeviceBundle, DeviceCertificate, OneTimePrekey, OrgCertificate, PqPrekey, Revocation, SignedPrekey } from '../../shared/schemas';

/** `<orgId>:<name>`, unless `name` is already a full device id. */
export function scopedDeviceId(orgId: string, name: string): string {
  return name.includes(':') ? name : `${orgId}:${name}`;
}

export const DAY = 24 * 60 * 60 * 1000;
export const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

export interface TestOrg {
  orgId: string;
  keys: KeyPair;
  certificate: OrgCertificate;
}

export interface TestDevice {
  org: TestOrg;
  keys: DeviceKeys;
  certificate: DeviceCertificate;
  signedPrekey: SignedPrekey;
  pqPrekey: PqPrekey;
  oneTimePrekeys: OneTimePrekey[];
}

export class TestNetwork {
  readonly root: KeyPair;
  readonly anchor: TrustAnchor;
  private serial = 0;
  private revocationSeq = new Map<string, number>();

  constructor(readonly crypto: Crypto, readonly now: number = T0) {
    this.root = crypto.signKeyPair();
    this.anchor = trustAnchor(crypto, this.root.publicKey);
  }

  addOrg(orgId: string, orgType: OrgCertificate['orgType'] = 'ngo', overrides: Partial<OrgCertificate> = {}): TestOrg {
    const keys = this.crypto.signKeyPair();
    const certificate = issueOrgCertificate(
      this.crypto,
      {
        networkId: this.anchor.networkId,
        orgId,
        name: `Org ${orgId}`,
        orgType,
        country: 'KZ',
        services: ['safe-accommodation'],
        publicKey: toB64u(keys.publicKey),
        serial: ++this.serial,
        issuedAt: this.now - DAY,
        expiresAt: this.now + 365 * DAY,
        ...overrides,
      },
      this.root.privateKey,
    );
    return { orgId, keys, certificate };
  }

  /** `name` becomes the device id `<orgId>:<name>` (device ids are scoped by org); a full id is kept as it is. */
  addDevice(org: TestOrg, name: string, opts: { oneTimePrekeys?: number; expiresAt?: number } = {}): TestDevice {
    const deviceId = scopedDeviceId(org.orgId, name);
    const keys = createDeviceKeys(this.crypto, { deviceId, orgId: org.orgId });
    const request = createEnrolmentRequest(this.crypto, {
      orgId: org.orgId,
      deviceId,
      label: `Staff ${deviceId}`,
      signKeyPair: keys.sign,
      dhPublicKey: keys.identity.publicKey,
      createdAt: this.now,
    });
    const certificate = issueDeviceCertificate(this.crypto, {
      request,
      orgCertificate: org.certificate,
      orgPrivateKey: org.keys.privateKey,
      role: 'caseworker',
      issuedAt: this.now - DAY,
      expiresAt: opts.expiresAt ?? this.now + 180 * DAY,
    });
    const { signedPrekey, pqPrekey } = rotateSignedPrekeys(this.crypto, keys, this.now);
    const oneTimePrekeys = generateOneTimePrekeys(this.crypto, keys, opts.oneTimePrekeys ?? 2, this.now);
    return { org, keys, certificate, signedPrekey, pqPrekey, oneTimePrekeys };
  }

  /** The bundle a relay would hand out, consuming one one-time prekey if any is left. */
  bundle(device: TestDevice, withOneTimePrekey = true): DeviceBundle {
    const oneTimePrekey = withOneTimePrekey ? device.oneTimePrekeys.shift() : undefined;
    return {
      certificate: device.certificate,
      signedPrekey: device.signedPrekey,
      pqPrekey: device.pqPrekey,
      ...(oneTimePrekey ? { oneTimePrekey } : {}),
    };
  }

  recipientKeys(device: TestDevice, withOneTimePrekey = true): RecipientKeys {
    return verifyBundle(this.anchor, device.org.certificate, this.bundle(device, withOneTimePrekey), { now: this.now });
  }

  senderKeys(device: TestDevice): SenderKeys {
    return { deviceId: device.keys.deviceId, signPrivateKey: device.keys.sign.privateKey, identity: device.keys.identity };
  }

  senderPublic(device: TestDevice): { signPublicKey: Uint8Array; identityKey: Uint8Array } {
    return { signPublicKey: device.keys.sign.publicKey, identityKey: device.keys.identity.publicKey };
  }

  revokeOrg(org: TestOrg, reason = 'test'): Revocation {
    return this.revoke('root', { type: 'org', orgId: org.orgId }, this.root.privateKey, reason);
  }

  revokeDevice(device: TestDevice, reason = 'test'): Revocation {
    return this.revoke(
      device.org.orgId,
      { type: 'device', orgId: device.org.orgId, deviceId: device.keys.deviceId },
      device.org.keys.privateKey,
      reason,
    );
  }

  private revoke(issuer: string, subject: Revocation['subject'], key: Uint8Array, reason: string): Revocation {
    const seq = (this.revocationSeq.get(issuer) ?? 0) + 1;
    this.revocationSeq.set(issuer, seq);
    return issueRevocation(
      this.crypto,
      { networkId: this.anchor.networkId, issuer, seq, subject, reason, revokedAt: this.now },
      key,
    );
  }
}
