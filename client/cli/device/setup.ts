/**
 * `handover device …`: a staff device's own setup — its keys and
 * enrolment request, registration once the org admin certified it, its
 * passphrase, and its ids and fingerprint.
 */
import type { Command } from 'commander';
import { HandoverClient, HandoverError, isKeyText, keyFingerprint } from '../../sdk';
import { kdfLimits, newPassphrase, openStorage, output, passphrase, progress, serverUrl } from '../context';
import { readJsonFile, writeJsonOut } from '../files';
import { globalOptions, run } from '../run';
import { openDevice } from './open';

export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('this staff device: create keys, enrol, register');
  deviceInit(program, device);
  deviceRegister(program, device);
  devicePassphrase(program, device);
  deviceShow(program, device);
}

function deviceInit(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('init')
    .description('create this device\'s keys and write an enrolment request for the org admin')
    .requiredOption('--org-id <id>', 'your organisation id')
    .requiredOption('--device-id <id>', 'a name for this device, unique in your org (e.g. amina-laptop; its full id becomes <org-id>:amina-laptop)')
    .requiredOption('--label <text>', 'who uses it (e.g. "Amina, intake officer")')
    .requiredOption('--root-key <key>', 'the network root public key, confirmed with the coordinator')
    .option('--out <file>', 'write the enrolment request to this file')
    .action(
      run(program, async (o: { orgId: string; deviceId: string; label: string; rootKey: string; out?: string }) => {
        const { crypto, storage } = await openStorage(g());
        if (!isKeyText(o.rootKey)) throw new HandoverError('BAD_REQUEST', '--root-key is not a public key (43 characters of base64url, as `network init` printed it)');
        const { client, enrolmentRequest } = await HandoverClient.createProfile({
          crypto,
          storage,
          passphrase: await passphrase(true),
          pwhashLimits: kdfLimits(),
          orgId: o.orgId,
          deviceId: o.deviceId.includes(':') ? o.deviceId : `${o.orgId}:${o.deviceId}`,
          label: o.label,
          rootPublicKey: o.rootKey,
          serverUrl: serverUrl(g()),
        });
        progress(`device key fingerprint: ${keyFingerprint(crypto, 'device', client.deviceId, client.signPublicKey)}`);
        await writeJsonOut(g(), o.out, enrolmentRequest, 'Enrolment request');
      }),
    );
}

function deviceRegister(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('register')
    .description('import the certificates from the org admin and register this device with the relay')
    .requiredOption('--certificate <file>', 'device certificate JSON from `handover org sign-device`')
    .requiredOption('--org-certificate <file>', 'org certificate JSON from `handover org certificate`')
    .action(
      run(program, async (o: { certificate: string; orgCertificate: string }) => {
        const client = await openDevice(g(), false);
        await client.importCertificates(await readJsonFile(o.orgCertificate), await readJsonFile(o.certificate));
        progress('uploading prekeys');
        await client.register();
        output(g(), { deviceId: client.deviceId, orgId: client.orgId, registered: true }, `Device ${client.deviceId} of ${client.orgId} is registered.`);
      }),
    );
}

function devicePassphrase(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('passphrase')
    .description('change the passphrase of this profile (new one from HANDOVER_NEW_PASSPHRASE or asked twice)')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        await client.changePassphrase(await newPassphrase(), kdfLimits());
        output(g(), { changed: true }, 'The passphrase of this profile is changed; the old one no longer opens it.');
      }),
    );
}

function deviceShow(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('show')
    .description('this device\'s ids and fingerprint')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        const { crypto } = await openStorage(g());
        const fp = keyFingerprint(crypto, 'device', client.deviceId, client.signPublicKey);
        output(g(), { deviceId: client.deviceId, orgId: client.orgId, fingerprint: fp }, `${client.deviceId} (${client.orgId})\n  fingerprint: ${fp}`);
      }),
    );
}
