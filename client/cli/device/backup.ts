/**
 * `handover backup` and `handover restore`: a profile sealed into one file
 * under a separate recovery passphrase, and that file made into a profile
 * on a new machine. A restored staff device gets new keys and a new device
 * id and is enrolled again; the lost one is revoked by the org admin
 * (client/sdk/backup.ts says why).
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { type BackupSummary, HandoverClient, HandoverError, keyFingerprint, restoreVault, writeBackup } from '../../sdk';
import { askHidden, kdfLimits, MIN_PASSPHRASE_LENGTH, openStorage, openVault, output, passphrase, progress } from '../context';
import { writeJsonOut } from '../files';
import { globalOptions, run } from '../run';

const RECOVERY_ENV = 'HANDOVER_RECOVERY_PASSPHRASE';

/** The recovery passphrase: from HANDOVER_RECOVERY_PASSPHRASE or asked (twice when sealing). Never the profile's own. */
async function recoveryPassphrase(sealing: boolean): Promise<string> {
  const fromEnv = process.env[RECOVERY_ENV];
  let value: string;
  if (fromEnv !== undefined && fromEnv !== '') value = fromEnv;
  else {
    if (!process.stdin.isTTY) throw new HandoverError('BAD_REQUEST', `no recovery passphrase: set ${RECOVERY_ENV} or run in a terminal`);
    value = await askHidden('Recovery passphrase: ');
    if (sealing && (await askHidden('Repeat the recovery passphrase: ')) !== value) throw new HandoverError('BAD_REQUEST', 'the recovery passphrases do not match');
  }
  if (sealing && [...value].length < MIN_PASSPHRASE_LENGTH) {
    throw new HandoverError('BAD_REQUEST', `the recovery passphrase is too short: use at least ${MIN_PASSPHRASE_LENGTH} characters (a few unrelated words, kept apart from the laptop)`);
  }
  return value;
}

function describe(s: BackupSummary): string {
  return `${s.records} record(s)${s.fromDeviceId ? ` of device ${s.fromDeviceId}` : ''}, made ${new Date(s.createdAt).toISOString()}`;
}

export function registerBackupCommands(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('backup')
    .description(`seal this whole profile (cases, history, pinned keys; not the device's own keys) into a file under a recovery passphrase (${RECOVERY_ENV} or asked)`)
    .requiredOption('--out <file>', 'the backup file to write (refuses to overwrite)')
    .action(
      run(program, async (o: { out: string }) => {
        const { crypto, vault } = await openVault(g(), false);
        const recovery = await recoveryPassphrase(true);
        // (Compared with HANDOVER_PASSPHRASE only: a typed profile passphrase is not asked for again.)
        if (recovery === process.env.HANDOVER_PASSPHRASE) throw new HandoverError('BAD_REQUEST', 'use a recovery passphrase other than the profile passphrase: the backup must not fall with the laptop');
        progress('sealing the backup (Argon2id)');
        const { text, summary } = await writeBackup(crypto, vault, recovery, kdfLimits(), Date.now());
        try {
          await fs.writeFile(o.out, text, { mode: 0o600, flag: 'wx' });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new HandoverError('BAD_REQUEST', `${o.out} exists: choose another file`);
          throw new HandoverError('BAD_REQUEST', `cannot write ${o.out}: ${(err as Error).message}`);
        }
        output(g(), { written: o.out, ...summary }, `Backup written to ${o.out}: ${describe(summary)}. It holds the case data: keep it, and the recovery passphrase, apart from this machine.`);
      }),
    );

  program
    .command('restore')
    .description('make a new profile from a backup; a staff device comes back with new keys under a new device id and is enrolled again')
    .argument('<file>', 'the backup file')
    .option('--device-id <name>', 'a new name for the restored device (its full id becomes <org-id>:<name>); required for a staff device')
    .option('--label <text>', 'who uses it now (default: the backed-up label)')
    .option('--out <file>', 'write the new enrolment request to this file')
    .action(
      run(program, async (file: string, o: { deviceId?: string; label?: string; out?: string }) => {
        const { crypto, storage } = await openStorage(g());
        let backup: string;
        try {
          backup = await fs.readFile(file, 'utf8');
        } catch (err) {
          throw new HandoverError('BAD_REQUEST', `cannot read ${file}: ${(err as Error).message}`);
        }
        const recovery = await recoveryPassphrase(false);
        const local = await passphrase(true);
        progress('opening the backup (Argon2id)');
        if (!o.deviceId) {
          const restored = await restoreVault(crypto, { storage, passphrase: local, limits: kdfLimits(), backup, recoveryPassphrase: recovery });
          output(g(), { restored }, `Restored ${describe(restored)}.`);
          return;
        }
        const { client, enrolmentRequest, restored } = await HandoverClient.restoreProfile({
          crypto,
          storage,
          passphrase: local,
          pwhashLimits: kdfLimits(),
          backup,
          recoveryPassphrase: recovery,
          deviceId: o.deviceId,
          ...(o.label ? { label: o.label } : {}),
        });
        progress(`restored ${describe(restored)}`);
        progress(`new device key fingerprint: ${keyFingerprint(crypto, 'device', client.deviceId, client.signPublicKey)}`);
        progress(`next: the org admin signs this request (handover org sign-device) and revokes ${restored.fromDeviceId ?? 'the lost device'} (handover org revoke-device); then handover device register`);
        await writeJsonOut(g(), o.out, enrolmentRequest, 'Enrolment request');
      }),
    );
}
