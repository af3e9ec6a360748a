/**
 * `handover device …`: a staff device's own setup — its keys and
 * enrolment request, registration once the org admin certified it (again
 * at each renewal), its passphrase, and its ids and fingerprint.
 */
import type { Command } from 'commander';
import { DAY_MS, HandoverClient, HandoverError, checkNotFutureDated, deviceRenewalRequest, isKeyText, keyFingerprint } from '../../sdk';
import { clockAware } from '../clock';
import { lockAgent } from '../agent/agent-client';
import { kdfLimits, newPassphrase, openStorage, output, passphrase, profileDir, progress, serverUrl } from '../context';
import { readJsonFile, writeJsonOut } from '../files';
import { globalOptions, run } from '../run';
import { localDate } from './certificates';
import { openDevice } from './open';

export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('this staff device: create keys, enrol, register, renew');
  deviceInit(program, device);
  deviceRegister(program, device);
  deviceRenew(program, device);
  devicePassphrase(program, device);
  deviceReadReceipts(program, device);
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

/** The org certificate to register with: the given file, else the one this profile holds (a renewal). */
async function orgCertificateFor(client: HandoverClient, file: string | undefined): Promise<unknown> {
  if (file !== undefined) return readJsonFile(file);
  const held = client.trust.pinned(client.orgId) ?? client.certificates.org;
  if (!held) throw new HandoverError('BAD_REQUEST', 'this profile holds no org certificate yet: pass --org-certificate <file> (from your org admin: `handover org certificate`)');
  return held;
}

function deviceRegister(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('register')
    .description('import the certificates from the org admin and register this device with the relay (again after a renewal)')
    .requiredOption('--certificate <file>', 'device certificate JSON from `handover org sign-device`')
    .option('--org-certificate <file>', 'org certificate JSON from `handover org certificate` (default: the one this profile holds, when renewing)')
    .action(
      run(program, async (o: { certificate: string; orgCertificate?: string }) => {
        const client = await openDevice(g(), false);
        const renewing = client.certificates.device !== undefined;
        const deviceCertificate = await readJsonFile(o.certificate);
        const orgCertificate = await orgCertificateFor(client, o.orgCertificate);
        await clockAware(
          () => client.api.baseUrl,
          async () => {
            // A certificate from an admin whose clock runs fast is named as a clock problem, not a key problem.
            checkNotFutureDated('the org certificate', orgCertificate, Date.now());
            checkNotFutureDated('the device certificate', deviceCertificate, Date.now());
            await client.importCertificates(orgCertificate, deviceCertificate);
            progress('uploading prekeys');
            await client.register();
          },
        );
        const until = client.certificates.device?.expiresAt ?? 0;
        const days = Math.floor((until - Date.now()) / DAY_MS);
        output(
          g(),
          { deviceId: client.deviceId, orgId: client.orgId, registered: true, renewed: renewing, expiresAt: until },
          `Device ${client.deviceId} of ${client.orgId} is ${renewing ? 're-registered with its renewed certificate' : 'registered'}; the certificate is valid until ${localDate(until)} (${days} days).`,
        );
      }),
    );
}

function deviceRenew(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('renew')
    .description("ask your org admin to renew this device's certificate (same keys): writes a renewal request")
    .option('--out <file>', 'write the renewal request to this file')
    .addHelpText(
      'after',
      `
Renewing, before the certificate expires (\`handover certificates\` shows the days left):
  handover device renew --out renewal.json                   # you: give renewal.json to your org admin
  handover org sign-device renewal.json --out renewed.json   # org admin: no phone call needed while
                                                             #   the current certificate is valid
  handover device register --certificate renewed.json        # you: import it and register again
After it expired, the org admin confirms your fingerprint by phone again (--fingerprint).`,
    )
    .action(
      run(program, async (o: { out?: string }) => {
        const client = await openDevice(g(), false);
        const request = deviceRenewalRequest(client.enrolmentRequest(), client.certificates.device);
        await writeJsonOut(g(), o.out, request, 'Renewal request');
        if (o.out) progress(`give ${o.out} to your org admin (handover org sign-device ${o.out}), then: handover device register --certificate <the renewed certificate>`);
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
        // An unlocked session would outlive the old passphrase (the storage key stays the same): end it.
        const locked = await lockAgent(profileDir(g()));
        output(g(), { changed: true, locked }, `The passphrase of this profile is changed; the old one no longer opens it.${locked ? ' The unlocked session ended.' : ''}`);
      }),
    );
}

function deviceReadReceipts(program: Command, device: Command): void {
  const g = () => globalOptions(program);
  device
    .command('read-receipts')
    .description("whether `show` tells the author's org, in a signed receipt, that this device read its messages (your org's policy; off unless turned on)")
    .argument('[setting]', 'on or off (without it: the current setting)')
    .action(
      run(program, async (setting?: string) => {
        if (setting !== undefined && setting !== 'on' && setting !== 'off') throw new HandoverError('BAD_REQUEST', `read-receipts takes "on" or "off", not "${setting}"`);
        const client = await openDevice(g(), false);
        if (setting !== undefined) await client.setReadReceipts(setting === 'on');
        const on = await client.readReceiptsEnabled();
        output(
          g(),
          { readReceipts: on },
          on
            ? 'Read receipts are on: `handover show` tells the author org which of its messages this device read.'
            : 'Read receipts are off: nobody is told when this device reads a thread.',
        );
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
