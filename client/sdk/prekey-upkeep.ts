/**
 * Keeping this device reachable with forward secrecy: the signed and
 * post-quantum prekeys rotate weekly (old private halves kept as long as a
 * message could still use them), the relay's one-time prekeys are topped
 * up, and one-time private halves that left the relay are deleted once no
 * message can use them any more.
 */
import {
  type Crypto,
  DAY_MS,
  type DeviceKeys,
  generateOneTimePrekeys,
  MAX_CLOCK_SKEW_MS,
  pruneOldPrekeys,
  rotateSignedPrekeys,
} from '../../shared';
import type { RelayApi } from './relay-api';
import type { Vault } from './vault';

export const SIGNED_PREKEY_ROTATION_MS = 7 * DAY_MS;
export const ONE_TIME_PREKEY_BATCH = 100;
/** When this device first noticed each one-time prekey had left the relay (see pruneHandedOutPrekeys). */
const HANDED_OUT_RECORD = 'prekeys/handed-out';

export interface PrekeyContext {
  crypto: Crypto;
  api: RelayApi;
  vault: Vault;
  keys(): DeviceKeys;
  now(): number;
  retentionMs(): number;
  saveKeys(): Promise<void>;
}

export class PrekeyUpkeep {
  constructor(private readonly ctx: PrekeyContext) {}

  /** Rotate the signed prekeys weekly and keep the relay's one-time prekeys topped up. */
  async maintain(): Promise<void> {
    const keys = this.ctx.keys();
    const current = keys.currentSignedPrekeyId === undefined ? undefined : keys.signedPrekeys.get(keys.currentSignedPrekeyId);
    if (!current || this.ctx.now() - current.createdAt >= SIGNED_PREKEY_ROTATION_MS) {
      const { signedPrekey, pqPrekey } = rotateSignedPrekeys(this.ctx.crypto, this.ctx.keys(), this.ctx.now());
      pruneOldPrekeys(this.ctx.keys(), this.ctx.now(), this.ctx.retentionMs() + SIGNED_PREKEY_ROTATION_MS);
      await this.ctx.saveKeys();
      await this.ctx.api.uploadSignedPrekeys(signedPrekey, pqPrekey);
    }
    const status = await this.ctx.api.prekeyStatus();
    await this.pruneHandedOutPrekeys(status.oneTimePrekeys);
    if (status.oneTimePrekeys < ONE_TIME_PREKEY_BATCH / 4) await this.refill();
  }

  /**
   * One-time prekey private halves that no message will ever use are
   * deleted. The relay hands them out lowest id first, so when it says it
   * holds `remaining`, every older unused one here was handed out (or
   * dropped). A sender seals right after it fetches, and the relay refuses
   * envelopes older than the retention window, so once that window (plus
   * clock skew) has passed since the handout was noticed, the private half
   * can only serve an attacker who seizes the device.
   */
  private async pruneHandedOutPrekeys(remaining: number): Promise<void> {
    const ids = [...this.ctx.keys().oneTimePrekeys.keys()].sort((a, b) => a - b);
    const handedOut = new Set(ids.slice(0, Math.max(0, ids.length - remaining)));
    const stored = await this.ctx.vault.get(HANDED_OUT_RECORD);
    const noticed = new Map<number, number>(Array.isArray(stored) ? (stored as Array<[number, number]>) : []);
    const now = this.ctx.now();
    let keysChanged = false;
    for (const id of [...noticed.keys()]) if (!handedOut.has(id)) noticed.delete(id);
    for (const id of handedOut) {
      const since = noticed.get(id);
      if (since === undefined) noticed.set(id, now);
      else if (now - since > this.ctx.retentionMs() + MAX_CLOCK_SKEW_MS) {
        const prekey = this.ctx.keys().oneTimePrekeys.get(id);
        if (prekey) this.ctx.crypto.wipe(prekey.keyPair.privateKey);
        this.ctx.keys().oneTimePrekeys.delete(id);
        noticed.delete(id);
        keysChanged = true;
      }
    }
    if (keysChanged) await this.ctx.saveKeys();
    await this.ctx.vault.put(HANDED_OUT_RECORD, [...noticed]);
  }

  async refill(count = ONE_TIME_PREKEY_BATCH): Promise<void> {
    const prekeys = generateOneTimePrekeys(this.ctx.crypto, this.ctx.keys(), count, this.ctx.now());
    await this.ctx.saveKeys(); // keep the private halves before the relay can hand out the public ones
    await this.ctx.api.uploadOneTimePrekeys(prekeys);
  }
}
