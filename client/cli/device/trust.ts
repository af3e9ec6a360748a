/**
 * `handover trust …`: org key changes this device refuses until a person
 * confirms the new key by phone, and revocations it could not verify.
 */
import type { Command } from 'commander';
import type { HandoverClient, Revocation } from '../../sdk';
import { output } from '../context';
import { globalOptions, run } from '../run';
import { openDevice } from './open';

export function registerTrustCommands(program: Command): void {
  const trust = program.command('trust').description('org keys this device trusts: key changes waiting for confirmation, unverifiable revocations');
  trustStatus(program, trust);
  acceptOrgKey(program, trust);
}

interface TrustStatus {
  keyChanges: Array<{ orgId: string; name: string; newFingerprint: string; seenAt: string }>;
  unverifiableRevocations: Array<{ issuer: string; seq: number; subject: Revocation['subject']; code: string; reason: string }>;
}

function trustStatusOf(client: HandoverClient): TrustStatus {
  const keyChanges = client.trust.pendingKeyChanges().map((c) => ({
    orgId: c.orgId,
    name: c.certificate.name,
    newFingerprint: client.trust.orgFingerprint(c.certificate),
    seenAt: new Date(c.seenAt).toISOString(),
  }));
  const unverifiableRevocations = client.trust.unverifiableRevocations().map((u) => ({ issuer: u.issuer, seq: u.seq, subject: u.subject, code: u.code, reason: u.reason }));
  return { keyChanges, unverifiableRevocations };
}

function trustStatusText({ keyChanges, unverifiableRevocations }: TrustStatus): string {
  const lines: string[] = [];
  if (keyChanges.length === 0) lines.push('No org key changes are waiting.');
  for (const c of keyChanges) {
    lines.push(`KEY CHANGED: ${c.orgId} (${c.name}) presents a new org key since ${c.seenAt}.`);
    lines.push(`  Nothing is sent to it or accepted from it until you confirm it. Call the org and compare:`);
    lines.push(`  ${c.newFingerprint}`);
    lines.push(`  then: handover trust accept-org-key ${c.orgId} <the digits they read to you>`);
  }
  for (const u of unverifiableRevocations) {
    lines.push(`Unverifiable revocation ${u.issuer}#${u.seq} (${u.code}): ${u.reason}; its subject is treated as revoked.`);
  }
  return lines.join('\n');
}

function trustStatus(program: Command, trust: Command): void {
  const g = () => globalOptions(program);
  trust
    .command('status')
    .description('list orgs whose key changed (not used until confirmed) and revocations that could not be verified')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const status = trustStatusOf(client);
        output(g(), status, () => trustStatusText(status));
      }),
    );
}

function acceptOrgKey(program: Command, trust: Command): void {
  const g = () => globalOptions(program);
  trust
    .command('accept-org-key')
    .description("trust an org's new key after comparing its fingerprint with the org by phone")
    .argument('<orgId>', 'the org whose key changed')
    .argument('<fingerprint...>', 'the 60 digits the org read to you (spaces optional)')
    .action(
      run(program, async (orgId: string, digits: string[]) => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const cert = await client.trust.acceptOrgKey(orgId, digits.join(''));
        output(g(), { orgId, accepted: true, fingerprint: client.trust.orgFingerprint(cert) }, `The new key of ${orgId} is now trusted.`);
      }),
    );
}
