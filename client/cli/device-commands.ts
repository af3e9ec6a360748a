/** `handover device …`, `directory`, `verify`: a staff device's setup and the key directory. */
import type { Command } from 'commander';
import { HandoverClient, HandoverError, isKeyText, keyFingerprint } from '../sdk';
import { readJsonFile, run, writeJsonOut } from './admin-commands';
import { type GlobalOptions, kdfLimits, newPassphrase, openStorage, output, passphrase, progress, serverUrl } from './context';

/** Open this profile's device, sign in and (optionally) connect. */
export async function openDevice(opts: GlobalOptions, connect: boolean): Promise<HandoverClient> {
  const { crypto, storage } = await openStorage(opts);
  const client = await HandoverClient.open({
    crypto,
    storage,
    passphrase: await passphrase(),
    ...(opts.server || process.env.HANDOVER_SERVER ? { serverUrl: serverUrl(opts) } : {}),
  });
  if (connect) {
    progress('signing in to the relay');
    await client.connect();
    const pending = await client.sync();
    if (pending > 0) progress(`received ${pending} pending message(s)`);
  }
  return client;
}

export function registerDeviceCommands(program: Command): void {
  const g = () => program.opts<GlobalOptions>();
  const device = program.command('device').description('this staff device: create keys, enrol, register');

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

  program
    .command('directory')
    .description('list organisations and their devices, with fingerprints to confirm by phone')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const { crypto } = await openStorage(g());
        const orgs = client.trust.listOrgs().map((org) => ({
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
        output(g(), { orgs }, () =>
          orgs
            .map(
              (o) =>
                `${o.orgId}  ${o.name} [${o.orgType}, ${o.country}${o.region ? `, ${o.region}` : ''}]\n  fingerprint ${o.fingerprint}\n` +
                o.devices.map((d) => `    ${d.deviceId}  ${d.label} (${d.role})\n      ${d.fingerprint}`).join('\n'),
            )
            .join('\n'),
        );
      }),
    );

  const trust = program.command('trust').description('org keys this device trusts: key changes waiting for confirmation, unverifiable revocations');
  trust
    .command('status')
    .description('list orgs whose key changed (not used until confirmed) and revocations that could not be verified')
    .action(
      run(program, async () => {
        const client = await openDevice(g(), false);
        await client.signIn();
        const changes = client.trust.pendingKeyChanges().map((c) => ({
          orgId: c.orgId,
          name: c.certificate.name,
          newFingerprint: client.trust.orgFingerprint(c.certificate),
          seenAt: new Date(c.seenAt).toISOString(),
        }));
        const unverifiable = client.trust.unverifiableRevocations().map((u) => ({ issuer: u.issuer, seq: u.seq, subject: u.subject, code: u.code, reason: u.reason }));
        output(g(), { keyChanges: changes, unverifiableRevocations: unverifiable }, () => {
          const lines: string[] = [];
          if (changes.length === 0) lines.push('No org key changes are waiting.');
          for (const c of changes) {
            lines.push(`KEY CHANGED: ${c.orgId} (${c.name}) presents a new org key since ${c.seenAt}.`);
            lines.push(`  Nothing is sent to it or accepted from it until you confirm it. Call the org and compare:`);
            lines.push(`  ${c.newFingerprint}`);
            lines.push(`  then: handover trust accept-org-key ${c.orgId} <the digits they read to you>`);
          }
          for (const u of unverifiable) {
            lines.push(`Unverifiable revocation ${u.issuer}#${u.seq} (${u.code}): ${u.reason}; its subject is treated as revoked.`);
          }
          return lines.join('\n');
        });
      }),
    );
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
        const org = client.trust.org(id);
        const dev = client.trust.listDevices().find((d) => d.certificate.deviceId === id);
        const actual = org
          ? keyFingerprint(crypto, 'org', id, org.publicKey)
          : dev
            ? keyFingerprint(crypto, 'device', id, dev.signPublicKey)
            : undefined;
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
