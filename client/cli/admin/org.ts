/**
 * `handover org …`: an org admin's key. It is certified by the network
 * root (and renewed by it for the same key), registered with the relay,
 * and certifies the org's staff devices (only once their fingerprint is
 * confirmed by a person, or a renewal proves continuity) or revokes them.
 */
import type { Command } from 'commander';
import { type AdminKeys, DEVICE_ROLES, type DeviceRequestView, HandoverError, RelayApi } from '../../sdk';
import { clockAware } from '../clock';
import { confirmedFingerprint, output, progress, serverUrl, requestTimeoutMs } from '../context';
import { localDate, warningLine } from '../device/certificates';
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
  orgRenew(program, org);
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
        const value = await readJsonFile(file);
        const keys = await openAdminKeys(g());
        const cert = await clockAware(
          () => serverUrl(g()),
          async () => {
            const imported = await keys.importOrgCertificate(value);
            if (o.register) await new RelayApi(serverUrl(g()), undefined, { timeoutMs: requestTimeoutMs() }).registerOrg(imported);
            return imported;
          },
        );
        output(
          g(),
          { orgId: cert.orgId, registered: o.register, serial: cert.serial, expiresAt: cert.expiresAt },
          `Org certificate for ${cert.orgId} (serial ${cert.serial}, valid until ${localDate(cert.expiresAt)}) imported${o.register ? ' and registered with the relay' : ''}.`,
        );
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
    .argument('<request>', 'enrolment request JSON from `handover device init`, or a renewal request from `handover device renew`')
    .option('--role <role>', `one of ${DEVICE_ROLES.join(', ')} (default: caseworker; a renewal keeps the device's role)`)
    .option('--days <n>', 'validity in days', '180')
    .option('--fingerprint <digits>', 'the device key fingerprint its holder read to you (from `handover device init`; spaces optional); asked for in a terminal when missing; not needed to renew a certificate that is still valid')
    .option('--out <file>', 'write the device certificate to this file')
    .action(
      run(program, async (file: string, o: { role?: string; days: string; fingerprint?: string; out?: string }) => {
        if (o.role !== undefined && !(DEVICE_ROLES as readonly string[]).includes(o.role)) throw new HandoverError('BAD_REQUEST', `--role must be one of ${DEVICE_ROLES.join(', ')}`);
        const days = intOption(o.days, '--days');
        const request = await readJsonFile(file);
        const keys = await openAdminKeys(g());
        const view = await keys.readDeviceRequest(request);
        const confirmed = await deviceConfirmation(view, o.fingerprint);
        const cert = await keys.signDevice(request, o.role as 'caseworker' | 'admin' | undefined, days, confirmed);
        await warnIfOrgCertificateEnds(keys);
        await writeJsonOut(g(), o.out, cert, view.renewal ? 'Renewed device certificate' : 'Device certificate');
      }),
    );
}

/**
 * The fingerprint a person confirmed for a device request: needed for a
 * first enrolment and for renewing an expired certificate; a renewal of a
 * still-valid certificate this org issued proves continuity instead.
 */
async function deviceConfirmation(view: DeviceRequestView, given: string | undefined): Promise<string | undefined> {
  const who = `device ${view.request.deviceId} ("${printable(view.request.label)}")`;
  if (view.renewal?.stillValid && given === undefined) {
    progress(`renewing ${who}: its current certificate (valid until ${localDate(view.renewal.previous.expiresAt)}) is signed by this org and names the same keys, so no phone call is needed`);
    return undefined;
  }
  if (view.renewal) progress(`${who}'s certificate expired on ${localDate(view.renewal.previous.expiresAt)}: confirm its key as for a new device`);
  return confirmedFingerprint(`signing key of ${who}`, view.fingerprint, given);
}

/** Devices certified now stop working when the org certificate ends: say so while there is time. */
async function warnIfOrgCertificateEnds(keys: AdminKeys): Promise<void> {
  const standing = await keys.orgCertificateStanding();
  if (standing && standing.state !== 'valid') progress(warningLine(standing).replace(/^! /, ''));
}

function orgRenew(program: Command, org: Command): void {
  const g = () => globalOptions(program);
  org
    .command('renew')
    .description("ask the coordinator to renew this org's certificate for the same key: writes a renewal request signed with the org key")
    .option('--out <file>', 'write the renewal request to this file')
    .addHelpText(
      'after',
      `
Renewing the org certificate, before it expires (\`handover certificates\` shows the days left):
  handover org renew --out org-renewal.json                       # org admin: give the file to the coordinator
  handover network renew-org org-renewal.json --out renewed.json  # coordinator: same key and details, new dates
  handover org import-certificate renewed.json                    # org admin: keep it and register it
Staff devices pick the renewed certificate up from the relay by themselves.
After it expired, the coordinator confirms the org key fingerprint by phone again (--fingerprint).`,
    )
    .action(
      run(program, async (o: { out?: string }) => {
        const request = await (await openAdminKeys(g())).orgRenewal();
        await writeJsonOut(g(), o.out, request, 'Org renewal request');
        if (o.out) progress(`give ${o.out} to the network coordinator (handover network renew-org ${o.out}), then: handover org import-certificate <the renewed certificate>`);
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
        await new RelayApi(serverUrl(g()), undefined, { timeoutMs: requestTimeoutMs() }).publishRevocation(rev);
        output(g(), rev, `Device ${o.deviceId} revoked (revocation #${rev.seq}).`);
      }),
    );
}
