/** `handover network …` and `handover org …`: the admin side of the trust chain. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { AdminKeys, DEVICE_ROLES, HandoverError, ORG_TYPES, type OrgCertificate, RelayApi } from '../sdk';
import { type GlobalOptions, confirmedFingerprint, fail, openVault, output, serverUrl } from './context';

export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new HandoverError('BAD_REQUEST', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HandoverError('BAD_REQUEST', `${file} is not valid JSON`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Write JSON to --out FILE, or print it. */
export async function writeJsonOut(opts: GlobalOptions, out: string | undefined, value: unknown, what: string): Promise<void> {
  if (out) {
    await fs.writeFile(out, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    output(opts, { written: out }, `${what} written to ${out}`);
  } else {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

function intOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new HandoverError('BAD_REQUEST', `${name} must be a positive whole number`);
  return n;
}

/** Text from a file someone else wrote, safe to print: no control characters (terminal escapes). */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

type Action<A extends unknown[]> = (...args: A) => Promise<void>;

/** Wrap an action so every error ends as a clear coded message. */
export function run<A extends unknown[]>(program: Command, action: Action<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = program.opts<GlobalOptions>();
    try {
      await action(...args);
    } catch (err) {
      fail(opts, err);
    }
  };
}

export function registerAdminCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const admin = async () => {
    const { crypto, vault } = await openVault(g(), true);
    return new AdminKeys(crypto, vault);
  };

  const network = program.command('network').description('network root administration (the coordinator, offline)');
  network
    .command('init')
    .description('create the network root key in this profile and print its public key')
    .action(
      run(program, async () => {
        const r = await (await admin()).createRoot();
        output(g(), r, `Network root created.\n  public key:  ${r.publicKey}\n  network id:  ${r.networkId}\n  fingerprint: ${r.fingerprint}\nConfigure the relay with HANDOVER_ROOT_PUBLIC_KEY=${r.publicKey}`);
      }),
    );
  network
    .command('import-root')
    .description('import a root private key file (e.g. the development network root of a local relay)')
    .argument('<file>', 'JSON file with { "privateKey": "<base64url>" }')
    .action(
      run(program, async (file: string) => {
        const json = (await readJsonFile(file)) as { privateKey?: unknown };
        if (typeof json.privateKey !== 'string') throw new HandoverError('BAD_REQUEST', 'the file has no privateKey');
        const r = await (await admin()).importRoot(String(json.privateKey));
        output(g(), r, `Network root imported: ${r.publicKey} (network ${r.networkId})`);
      }),
    );
  network
    .command('issue-org')
    .description('issue an organisation certificate for an org public key, once its fingerprint is confirmed')
    .requiredOption('--org-id <id>', 'the organisation id, e.g. shelter-istanbul')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--type <type>', `one of ${ORG_TYPES.join(', ')}`)
    .requiredOption('--country <code>', 'ISO 3166 two-letter country code')
    .requiredOption('--public-key <key>', 'the org public key from `handover org init`')
    .option('--region <region>', 'region or city')
    .option('--services <list>', 'comma-separated services offered', '')
    .option('--days <n>', 'validity in days', '365')
    .option('--fingerprint <digits>', 'the org key fingerprint its admin read to you (from `handover org init`; spaces optional); asked for in a terminal when missing')
    .option('--out <file>', 'write the certificate to this file')
    .action(
      run(program, async (o: { orgId: string; name: string; type: string; country: string; publicKey: string; region?: string; services: string; days: string; fingerprint?: string; out?: string }) => {
        if (!(ORG_TYPES as readonly string[]).includes(o.type)) throw new HandoverError('BAD_REQUEST', `--type must be one of ${ORG_TYPES.join(', ')}`);
        const days = intOption(o.days, '--days');
        const keys = await admin();
        // Nothing is signed before a person confirmed the key: a public key swapped in transit is caught here.
        const confirmed = await confirmedFingerprint(`org key of ${o.orgId}`, keys.orgKeyFingerprint(o.orgId, o.publicKey), o.fingerprint);
        const cert = await keys.issueOrg({
          orgId: o.orgId,
          name: o.name,
          orgType: o.type as OrgCertificate['orgType'],
          country: o.country.toUpperCase(),
          ...(o.region ? { region: o.region } : {}),
          services: o.services ? o.services.split(',').map((s) => s.trim()).filter(Boolean) : [],
          publicKey: o.publicKey,
          days,
          confirmedFingerprint: confirmed,
        });
        await writeJsonOut(g(), o.out, cert, 'Org certificate');
      }),
    );
  network
    .command('revoke-org')
    .description('revoke an organisation and publish the revocation to the relay')
    .requiredOption('--org-id <id>', 'the organisation to revoke')
    .requiredOption('--reason <text>', 'why (kept in the signed revocation)')
    .action(
      run(program, async (o: { orgId: string; reason: string }) => {
        const rev = await (await admin()).revokeOrg(o.orgId, o.reason);
        await new RelayApi(serverUrl(g())).publishRevocation(rev);
        output(g(), rev, `Org ${o.orgId} revoked (root revocation #${rev.seq}).`);
      }),
    );

  const org = program.command('org').description('organisation administration');
  org
    .command('init')
    .description('create this org\'s signing key and print its public key for the network admin')
    .requiredOption('--org-id <id>', 'the organisation id')
    .action(
      run(program, async (o: { orgId: string }) => {
        const r = await (await admin()).createOrgKey(o.orgId);
        output(g(), r, `Org key created for ${r.orgId}.\n  public key:  ${r.publicKey}\n  fingerprint: ${r.fingerprint}\nSend the public key to the network admin and confirm the fingerprint by phone.`);
      }),
    );
  org
    .command('import-certificate')
    .description('keep the org certificate issued by the network admin, and register it with the relay')
    .argument('<file>', 'org certificate JSON')
    .option('--no-register', 'only keep it locally')
    .action(
      run(program, async (file: string, o: { register: boolean }) => {
        const cert = await (await admin()).importOrgCertificate(await readJsonFile(file));
        if (o.register) await new RelayApi(serverUrl(g())).registerOrg(cert);
        output(g(), { orgId: cert.orgId, registered: o.register }, `Org certificate for ${cert.orgId} imported${o.register ? ' and registered with the relay' : ''}.`);
      }),
    );
  org
    .command('certificate')
    .description('print this org\'s certificate (staff need it with their device certificate)')
    .option('--out <file>', 'write it to this file')
    .action(
      run(program, async (o: { out?: string }) => {
        await writeJsonOut(g(), o.out, await (await admin()).orgCertificate(), 'Org certificate');
      }),
    );
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
        const keys = await admin();
        const { request: parsed, fingerprint } = keys.enrolmentFingerprint(request);
        const confirmed = await confirmedFingerprint(`signing key of device ${parsed.deviceId} ("${printable(parsed.label)}")`, fingerprint, o.fingerprint);
        const cert = await keys.signDevice(request, o.role as 'caseworker' | 'admin', days, confirmed);
        await writeJsonOut(g(), o.out, cert, 'Device certificate');
      }),
    );
  org
    .command('revoke-device')
    .description('revoke one of this org\'s devices and publish the revocation')
    .requiredOption('--device-id <id>', 'the device to revoke')
    .requiredOption('--reason <text>', 'why (e.g. lost phone)')
    .action(
      run(program, async (o: { deviceId: string; reason: string }) => {
        const rev = await (await admin()).revokeDevice(o.deviceId, o.reason);
        await new RelayApi(serverUrl(g())).publishRevocation(rev);
        output(g(), rev, `Device ${o.deviceId} revoked (revocation #${rev.seq}).`);
      }),
    );
}
