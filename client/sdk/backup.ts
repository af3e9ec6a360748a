/**
 * Encrypted backup and restore of a profile (issue 13): every record of
 * the vault — cases, messages with their originals and content keys,
 * pinned org keys, delivery log, an admin's org or root key — sealed in one
 * file under a separate recovery passphrase (Argon2id, then
 * XChaCha20-Poly1305; the same sealed format as the keystore, labelled
 * `handover-backup` so neither can be taken for the other).
 *
 * What a backup never holds: the device's own keys (`device-keys`) and
 * what only they give meaning to (handed-out one-time prekeys). A restored
 * profile makes NEW device keys under a new device id and is enrolled
 * again; the lost device is revoked by the org admin. So a restore can
 * never create a second live device with the same keys, and a stolen
 * backup cannot sign in or read what arrives after it (docs/DECISIONS.md).
 */
import { z } from 'zod';
import { type Crypto, HandoverError, openSecrets, type PwhashLimits, sealSecrets } from '../../shared';
import type { KeyValueStorage } from './storage';
import { Vault } from './vault';

/** Records a backup leaves out: the device's keys and what belongs to them alone. */
const NOT_BACKED_UP = new Set(['device-keys', 'prekeys/handed-out']);
/** The device profile record (kept without its device certificate and registration). */
export const PROFILE_RECORD = 'profile';

const BackupContents = z.strictObject({
  v: z.literal(1),
  createdAt: z.number().int(),
  /** The device the backup was made on (a restore must take another id). */
  fromDeviceId: z.string().max(200).optional(),
  orgId: z.string().max(200).optional(),
  records: z.array(z.tuple([z.string().min(1).max(500), z.unknown()])).max(1_000_000),
});
export type BackupContents = z.infer<typeof BackupContents>;

export interface BackupSummary {
  createdAt: number;
  fromDeviceId?: string;
  orgId?: string;
  records: number;
}

/** Seal every record of `vault` (but the device's keys) under `recoveryPassphrase`. */
export async function writeBackup(crypto: Crypto, vault: Vault, recoveryPassphrase: string, limits: PwhashLimits, now: number): Promise<{ text: string; summary: BackupSummary }> {
  return sealBackup(crypto, await collectBackup(vault, now), recoveryPassphrase, limits);
}

/**
 * Seal what collectBackup gathered: the slow part (Argon2id), apart so an
 * app can run it off its main thread (the web app's backup worker) with the
 * records handed over as plain data.
 */
export function sealBackup(crypto: Crypto, contents: BackupContents, recoveryPassphrase: string, limits: PwhashLimits): { text: string; summary: BackupSummary } {
  const checked = BackupContents.parse(contents);
  return { text: sealSecrets(crypto, checked, recoveryPassphrase, limits, 'handover-backup'), summary: summaryOf(checked) };
}

/** Every record of `vault` a backup holds (not the device's keys), decrypted: keep it in memory only, and only until sealed. */
export async function collectBackup(vault: Vault, now: number): Promise<BackupContents> {
  const records: Array<[string, unknown]> = [];
  for (const name of await vault.list('')) {
    if (NOT_BACKED_UP.has(name)) continue;
    let value = await vault.get(name);
    if (name === PROFILE_RECORD) value = profileForBackup(value);
    records.push([name, value]);
  }
  const profile = records.find(([n]) => n === PROFILE_RECORD)?.[1] as { deviceId?: string; orgId?: string } | undefined;
  return {
    v: 1,
    createdAt: now,
    ...(profile?.deviceId ? { fromDeviceId: profile.deviceId } : {}),
    ...(profile?.orgId ? { orgId: profile.orgId } : {}),
    records,
  };
}

/** Open a backup: a wrong recovery passphrase or an altered file is WRONG_PASSPHRASE; anything else not a backup, KEYSTORE_CORRUPT. */
export function readBackup(crypto: Crypto, text: string, recoveryPassphrase: string): BackupContents {
  return checkBackupContents(openSecrets(crypto, text, recoveryPassphrase, 'handover-backup'));
}

/**
 * What an opened backup must hold: readBackup's checks, apart for an app
 * that opened the backup elsewhere (the web app's restore worker) and hands
 * the contents over as plain data.
 */
export function checkBackupContents(value: unknown): BackupContents {
  const parsed = BackupContents.safeParse(value);
  if (!parsed.success) throw new HandoverError('KEYSTORE_CORRUPT', 'the backup opened but its content is not a Handover profile backup');
  const names = parsed.data.records.map(([n]) => n);
  if (new Set(names).size !== names.length || names.some((n) => NOT_BACKED_UP.has(n))) {
    throw new HandoverError('KEYSTORE_CORRUPT', 'the backup content is damaged (repeated or unexpected records)');
  }
  return parsed.data;
}

/** Write a backup's records into a new, empty vault. */
export async function restoreRecords(vault: Vault, contents: BackupContents): Promise<void> {
  if ((await vault.list('')).length > 0) throw new HandoverError('BAD_REQUEST', 'restore needs a new, empty profile');
  for (const [name, value] of contents.records) await vault.put(name, value);
}

export function summaryOf(contents: BackupContents): BackupSummary {
  return {
    createdAt: contents.createdAt,
    ...(contents.fromDeviceId ? { fromDeviceId: contents.fromDeviceId } : {}),
    ...(contents.orgId ? { orgId: contents.orgId } : {}),
    records: contents.records.length,
  };
}

/** The device profile without what belongs to the device that made it (its certificate, its registration). */
function profileForBackup(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const { deviceCertificate: _cert, registered: _registered, ...rest } = value as Record<string, unknown>;
  return rest;
}

/**
 * Restore a backup that holds no staff device (an admin's profile: its org
 * or root key and records) into new storage. A backup with a device
 * profile goes through HandoverClient.restoreProfile, which gives the
 * device new keys.
 */
export async function restoreVault(
  crypto: Crypto,
  options: { storage: KeyValueStorage; passphrase: string; limits: PwhashLimits; backup: string; recoveryPassphrase: string },
): Promise<BackupSummary> {
  const contents = readBackup(crypto, options.backup, options.recoveryPassphrase);
  if (contents.records.some(([name]) => name === PROFILE_RECORD)) {
    throw new HandoverError('BAD_REQUEST', 'this backup holds a staff device: restore it as a new device (it needs a new device id)');
  }
  const vault = await Vault.create(crypto, options.storage, options.passphrase, options.limits);
  await restoreRecords(vault, contents);
  return summaryOf(contents);
}
