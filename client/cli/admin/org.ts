/**
 * `handover org …`: an org admin's key. It is certified by the network
 * root, registered with the relay, and certifies the org's staff devices
 * (only once their fingerprint is confirmed by a person) or revokes them.
 */
import type { Command } from 'commander';
import { DEVICE_ROLES, HandoverError, RelayApi } from '../../sdk';
import { confirmedFingerprint, output, serverUrl } from '../context';
import { readJsonFile, writeJsonOut } from '../files';
import { globalOptions, intOption, run } from '../run';
import { openAdminKeys } from './keys';

export function registerOrgCommands(program: Command): void {
  const org = program.command('org').description('organisation administration');
  orgInit(program, org);
  importCertificate(program, org);
  printCertificate(program, org);
  signDevice(program, org);
  revokeDevice(program, org);
}

/** Text from a file someone else wrote, safe to print: no control characters (terminal escapes). */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function orgInit(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('init')
    .description('create this org\'s signing key and print its public key for the network admin')
    .requiredOption('--org-id <id>', 'the organisation id')
    .action(
      run(program, async (o: { orgId: string }) => {
        const r = await (await openAdminKeys(g())).createOrgKey(o.orgId);
        output(g(), r, `Org key created for ${r.orgId}.\n  public key:  ${r.publicKey}\n  fingerprint: ${r.fingerprint}\nSend the public key to the network admin and confirm the fingerprint by phone.`);
      }),
    );
}

function importCertificate(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('import-certificate')
    .description('keep the org certificate issued by the network admin, and register it with the relay')
    .argument('<file>', 'org certificate JSON')
    .option('--no-register', 'only keep it locally')
    .action(
      run(program, async (file: string, o: { register: boolean }) => {
        const cert = await (await openAdminKeys(g())).importOrgCertificate(await readJsonFile(file));
        if (o.register) await new RelayApi(serverUrl(g())).registerOrg(cert);
        output(g(), { orgId: cert.orgId, registered: o.register }, `Org certificate for ${cert.orgId} imported${o.register ? ' and registered with the relay' : ''}.`);
      }),
    );
}

function printCertificate(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('certificate')
    .description('print this org\'s certificate (staff need it with their device certificate)')
    .option('--out <file>', 'write it to this file')
    .action(
      run(program, async (o: { out?: string }) => {
        await writeJsonOut(g(), o.out, await (await openAdminKeys(g())).orgCertificate(), 'Org certificate');
      }),
    );
}

function signDevice(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('sign-device')
    .description('certify a staff device from its enrolment request, once its key fingerprint is confirmed')
    .argument('<request>', 'enrolment request JSON from `handover device init`')
    .option('--role <role>', `one of ${DEVICE_ROLES.join(', ')}`, 'caseworker')
    .option('--days <n>', 'validity in days', '180')
    .option('--fingerprint <digits>', 'the device key fingerprint its holder read to you (from `handover device init`; spaces optional); asked for in a terminal when missing')
    .option('--out <file>', 'write the device certificate to this file')
    .action(
      run(program, async (file: string, o: { role: string; days: string; fingerprint?: string; out?: string }) => {
        if (!(DEVICE_ROLES as readonly string[]).includes(o.role)) throw new HandoverError('BAD_REQUEST', `--role must be one of ${DEVICE_ROLES.join(', ')}`);
        const days = intOption(o.days, '--days');
        const request = await readJsonFile(file);
        const keys = await openAdminKeys(g());
        const { request: parsed, fingerprint } = keys.enrolmentFingerprint(request);
        const confirmed = await confirmedFingerprint(`signing key of device ${parsed.deviceId} ("${printable(parsed.label)}")`, fingerprint, o.fingerprint);
        const cert = await keys.signDevice(request, o.role as 'caseworker' | 'admin', days, confirmed);
        await writeJsonOut(g(), o.out, cert, 'Device certificate');
      }),
    );
}

function revokeDevice(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('revoke-device')
    .description('revoke one of this org\'s devices and publish the revocation')
    .requiredOption('--device-id <id>', 'the device to revoke')
    .requiredOption('--reason <text>', 'why (e.g. lost phone)')
    .action(
      run(program, async (o: { deviceId: string; reason: string }) => {
        const rev = await (await openAdminKeys(g())).revokeDevice(o.deviceId, o.reason);
        await new RelayApi(serverUrl(g())).publishRevocation(rev);
        output(g(), rev, `Device ${o.deviceId} revoked (revocation #${rev.seq}).`);
      }),
    );
}
