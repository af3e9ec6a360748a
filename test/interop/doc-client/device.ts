/**
 * Why this exists: the key material one device holds (PROTOCOL.md §2.1,
 * §3.1–§3.3): its Ed25519 signing key, X25519 identity key, signed,
 * X-Wing and one-time prekeys drawn from one id counter, the self-signed
 * enrolment request (§2.4) and the signed prekey objects (§3.2). Kept in
 * memory: a test client needs no keystore (§3.4 is local to a client).
 */
import {
  type DhKeyPair,
  type SignKeyPair,
  type XWingKeyPair,
  dhKeyPairFromPrivate,
  newDhKeyPair,
  newSignKeyPair,
  newXWing,
  signKeyPairFromSeed,
  signObject,
  xwingFromSeed,
} from './crypto';
import { LABEL, b64u, fromB64u } from './encoding';
import type { DeviceCertificate, EnrolmentRequest, OneTimePrekey, OrgCertificate, PqPrekey, SignedPrekey } from './types';

export class DeviceKeys {
  private nextPrekeyId = 1;
  readonly signedPrekeys = new Map<number, DhKeyPair>();
  readonly pqPrekeys = new Map<number, XWingKeyPair>();
  readonly oneTimePrekeys = new Map<number, DhKeyPair>();
  orgCertificate?: OrgCertificate;
  certificate?: DeviceCertificate;

  constructor(
    readonly orgId: string,
    readonly deviceId: string,
    readonly sign: SignKeyPair = newSignKeyPair(),
    readonly identity: DhKeyPair = newDhKeyPair(),
  ) {}

  /** A device from known private material (the vectors' `keys.devices[]`). */
  static fromVector(d: {
    orgId: string;
    deviceId: string;
    signSeed: string;
    identityPrivateKey: string;
    signedPrekeys: { id: number; privateKey: string }[];
    pqPrekeys: { id: number; privateKey: string }[];
    oneTimePrekeys: { id: number; privateKey: string }[];
  }): DeviceKeys {
    const keys = new DeviceKeys(d.orgId, d.deviceId, signKeyPairFromSeed(fromB64u(d.signSeed, 32)), dhKeyPairFromPrivate(fromB64u(d.identityPrivateKey, 32)));
    for (const p of d.signedPrekeys) keys.signedPrekeys.set(p.id, dhKeyPairFromPrivate(fromB64u(p.privateKey, 32)));
    for (const p of d.pqPrekeys) keys.pqPrekeys.set(p.id, xwingFromSeed(fromB64u(p.privateKey, 32)));
    for (const p of d.oneTimePrekeys) keys.oneTimePrekeys.set(p.id, dhKeyPairFromPrivate(fromB64u(p.privateKey, 32)));
    return keys;
  }

  /** §2.4: what goes to the org admin, signed by the key it names. */
  enrolmentRequest(label: string, createdAt = Date.now()): EnrolmentRequest {
    return signObject(
      LABEL.enrolmentRequest,
      {
        v: 1 as const,
        kind: 'enrolment' as const,
        orgId: this.orgId,
        deviceId: this.deviceId,
        label,
        signPublicKey: b64u(this.sign.publicKey),
        dhPublicKey: b64u(this.identity.publicKey),
        createdAt,
      },
      this.sign.privateKey,
    );
  }

  /** §3.3 rotation: a new signed prekey and X-Wing prekey, ids from the one counter. */
  rotateSignedPrekeys(createdAt = Date.now()): { signedPrekey: SignedPrekey; pqPrekey: PqPrekey } {
    const spkId = this.nextPrekeyId++;
    const spk = newDhKeyPair();
    this.signedPrekeys.set(spkId, spk);
    const pqId = this.nextPrekeyId++;
    const pq = newXWing();
    this.pqPrekeys.set(pqId, pq);
    const signedPrekey = signObject(
      LABEL.signedPrekey,
      { v: 1 as const, kind: 'signed-prekey' as const, deviceId: this.deviceId, id: spkId, publicKey: b64u(spk.publicKey), createdAt },
      this.sign.privateKey,
    );
    const pqPrekey = signObject(
      LABEL.pqPrekey,
      { v: 1 as const, kind: 'pq-prekey' as const, deviceId: this.deviceId, id: pqId, publicKey: b64u(pq.publicKey), createdAt },
      this.sign.privateKey,
    );
    return { signedPrekey, pqPrekey };
  }

  oneTimeBatch(count: number): OneTimePrekey[] {
    const out: OneTimePrekey[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.nextPrekeyId++;
      const kp = newDhKeyPair();
      this.oneTimePrekeys.set(id, kp);
      out.push(
        signObject(
          LABEL.oneTimePrekey,
          { v: 1 as const, kind: 'one-time-prekey' as const, deviceId: this.deviceId, id, publicKey: b64u(kp.publicKey) },
          this.sign.privateKey,
        ),
      );
    }
    return out;
  }

  /** §8 step 2: the imported certificates must carry this device's keys. */
  importCertificates(org: OrgCertificate, device: DeviceCertificate): void {
    if (
      device.deviceId !== this.deviceId ||
      device.orgId !== this.orgId ||
      org.orgId !== this.orgId ||
      device.signPublicKey !== b64u(this.sign.publicKey) ||
      device.dhPublicKey !== b64u(this.identity.publicKey)
    ) {
      throw new Error('the certificates do not carry this device');
    }
    this.orgCertificate = org;
    this.certificate = device;
  }
}
