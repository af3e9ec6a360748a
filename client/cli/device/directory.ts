/**
 * `handover directory` and `handover verify`: the orgs and devices this
 * device trusts, with the fingerprints people compare by phone.
 */
import type { Command } from 'commander';
import { type Crypto, type HandoverClient, HandoverError, keyFingerprint } from '../../sdk';
import { openStorage, output } from '../context';
import { globalOptions, run } from '../run';
import { openDevice } from './open';

interface DirectoryOrg {
  orgId: string;
  name: string;
  orgType: string;
  country: string;
  region: string | null;
  services: string[];
  fingerprint: string;
  devices: Array<{ deviceId: string; label: string; role: string; fingerprint: string }>;
}

/** Every usable org and device, with fingerprints, as `directory --json` prints it. */
function directoryView(client: HandoverClient, crypto: Crypto): DirectoryOrg[] {
  return client.trust.listOrgs().map((org) => ({
    orgId: org.orgId,
    name: org.name,
    orgType: org.orgType,
    country: org.country,
    region: org.region ?? null,
    services: org.services,
    fingerprint: keyFingerprint(crypto, 'org', org.orgId, org.publicKey),
    devices: client.trust.listDevices(org.orgId).map((d) => ({
      deviceId: d.certificate.deviceId,
      label: d.certificate.label,
      role: d.certificate.role,
      fingerprint: keyFingerprint(crypto, 'device', d.certificate.deviceId, d.signPublicKey),
    })),
  }));
}

function directoryText(orgs: DirectoryOrg[]): string {
  return orgs
    .map(
      (o) =>
        `${o.orgId}  ${o.name} [${o.orgType}, ${o.country}${o.region ? `, ${o.region}` : ''}]\n  fingerprint ${o.fingerprint}\n` +
        o.devices.map((d) => `    ${d.deviceId}  ${d.label} (${d.role})\n      ${d.fingerprint}`).join('\n'),
    )
    .join('\n');
}

export function registerDirectoryCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('directory')
    .description('list organisations and their devices, with fingerprints to confirm by phone')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const { crypto } = await openStorage(g());
        const orgs = directoryView(client, crypto);
        output(g(), { orgs }, () => directoryText(orgs));
      }),
    );
}

/** The fingerprint of an org or device this device trusts now, if any. */
function trustedFingerprint(client: HandoverClient, crypto: Crypto, id: string): string | undefined {
  const org = client.trust.org(id);
  if (org) return keyFingerprint(crypto, 'org', id, org.publicKey);
  const dev = client.trust.listDevices().find((d) => d.certificate.deviceId === id);
  return dev ? keyFingerprint(crypto, 'device', id, dev.signPublicKey) : undefined;
}

export function registerVerifyCommand(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('verify')
    .description('compare a fingerprint read to you by phone with the key the relay serves')
    .argument('<id>', 'an org id or device id')
    .argument('[fingerprint...]', 'the 60 digits you were told (spaces optional)')
    .action(
      run(program, async (id: string, digits: string[]) => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const { crypto } = await openStorage(g());
        const actual = trustedFingerprint(client, crypto, id);
        if (!actual) throw new HandoverError('UNKNOWN_DEVICE', `no org or device named ${id} with a valid certificate`);
        const told = digits.join('').replace(/\s+/g, '');
        if (told === '') {
          output(g(), { id, fingerprint: actual }, `${id}: ${actual}`);
          return;
        }
        const match = told === actual.replace(/\s+/g, '');
        output(g(), { id, fingerprint: actual, match }, match ? `MATCH: ${id} is the key you were told.` : `MISMATCH: do not trust ${id}. Expected ${actual}`);
        if (!match) process.exitCode = 3;
      }),
    );
}
