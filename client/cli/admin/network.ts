/**
 * `handover network …`: the coordinator's root key, offline. It certifies
 * org keys (only once their fingerprint is confirmed by a person) and
 * revokes orgs.
 */
import type { Command } from 'commander';
import { HandoverError, ORG_TYPES, type OrgCertificate, RelayApi } from '../../sdk';
import { confirmedFingerprint, output, progress, serverUrl, requestTimeoutMs } from '../context';
import { readJsonFile, writeJsonOut } from '../files';
import { globalOptions, intOption, run } from '../run';
import { openAdminKeys } from './keys';

export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('network root administration (the coordinator, offline)');
  networkInit(program, network);
  importRoot(program, network);
  issueOrg(program, network);
  renewOrg(program, network);
  revokeOrg(program, network);
}

function networkInit(program: Command, network: Command): void {
  const g = () => globalOptions(program);
  network
    .command('init')
    .description('create the network root key in this profile and print its public key')
    .action(
      run(program, async () => {
        const r = await (await openAdminKeys(g())).createRoot();
        output(g(), r, `Network root created.\n  public key:  ${r.publicKey}\n  network id:  ${r.networkId}\n  fingerprint: ${r.fingerprint}\nConfigure the relay with HANDOVER_ROOT_PUBLIC_KEY=${r.publicKey}`);
      }),
    );
}

function importRoot(program: Command, network: Command): void {
  const g = () => globalOptions(program);
  network
    .command('import-root')
    .description('import a root private key file (e.g. the development network root of a local relay)')
    .argument('<file>', 'JSON file with { "privateKey": "<base64url>" }')
    .action(
      run(program, async (file: string) => {
        const json = (await readJsonFile(file)) as { privateKey?: unknown };
        if (typeof json.privateKey !== 'string') throw new HandoverError('BAD_REQUEST', 'the file has no privateKey');
        const r = await (await openAdminKeys(g())).importRoot(String(json.privateKey));
        output(g(), r, `Network root imported: ${r.publicKey} (network ${r.networkId})`);
      }),
    );
}

interface IssueOrgOptions {
  orgId: string;
  name: string;
  type: string;
  country: string;
  publicKey: string;
  region?: string;
  services: string;
  days: string;
  fingerprint?: string;
  out?: string;
}

function issueOrg(program: Command, network: Command): void {
  const g = () => globalOptions(program);
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
      run(program, async (o: IssueOrgOptions) => {
        if (!(ORG_TYPES as readonly string[]).includes(o.type)) throw new HandoverError('BAD_REQUEST', `--type must be one of ${ORG_TYPES.join(', ')}`);
        const days = intOption(o.days, '--days');
        const keys = await openAdminKeys(g());
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
}

function renewOrg(program: Command, network: Command): void {
  const g = () => globalOptions(program);
  network
    .command('renew-org')
    .description("renew an org certificate for the same key and details, from the org admin's renewal request (`handover org renew`)")
    .argument('<request>', 'the renewal request JSON')
    .option('--days <n>', 'validity in days', '365')
    .option('--fingerprint <digits>', 'the org key fingerprint its admin read to you: only needed when the certificate has already expired')
    .option('--out <file>', 'write the renewed certificate to this file')
    .action(
      run(program, async (file: string, o: { days: string; fingerprint?: string; out?: string }) => {
        const days = intOption(o.days, '--days');
        const keys = await openAdminKeys(g());
        const { certificate, previous, confirmedBy } = await keys.renewOrg(await readJsonFile(file), days, o.fingerprint);
        progress(
          `renewed ${previous.orgId} (${previous.name}, ${previous.orgType}, ${previous.country}) for the same key: serial ${previous.serial} → ${certificate.serial}` +
            (confirmedBy === 'continuity' ? ' (its certificate was still valid and the request is signed with its key: no phone call needed)' : ''),
        );
        await writeJsonOut(g(), o.out, certificate, 'Renewed org certificate');
      }),
    );
}

function revokeOrg(program: Command, network: Command): void {
  const g = () => globalOptions(program);
  network
    .command('revoke-org')
    .description('revoke an organisation and publish the revocation to the relay')
    .requiredOption('--org-id <id>', 'the organisation to revoke')
    .requiredOption('--reason <text>', 'why (kept in the signed revocation)')
    .action(
      run(program, async (o: { orgId: string; reason: string }) => {
        const rev = await (await openAdminKeys(g())).revokeOrg(o.orgId, o.reason);
        await new RelayApi(serverUrl(g()), undefined, { timeoutMs: requestTimeoutMs() }).publishRevocation(rev);
        output(g(), rev, `Org ${o.orgId} revoked (root revocation #${rev.seq}).`);
      }),
    );
}
