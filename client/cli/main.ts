/**
 * `handover`: the command line for network admins, org admins and staff.
 * Every read command takes --json; passphrases come from a prompt or
 * HANDOVER_PASSPHRASE; errors print their code and what to do.
 */
import { Command } from 'commander';
import { registerNetworkCommands } from './admin/network';
import { registerOrgCommands } from './admin/org';
import { registerCaseCommands } from './cases';
import { registerBackupCommands } from './device/backup';
import { registerCertificatesCommand } from './device/certificates';
import { registerDirectoryCommand, registerVerifyCommand } from './device/directory';
import { registerDeviceCommands } from './device/setup';
import { registerTrustCommands } from './device/trust';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('handover')
    .description('End-to-end encrypted referrals between NGOs, IOM and shelters.')
    .option('--profile <dir>', 'profile folder (default ~/.handover/default, or HANDOVER_PROFILE)')
    .option('--server <url>', 'relay URL (default http://127.0.0.1:8080, or HANDOVER_SERVER)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Setting up a network (each step on the person's own machine):
  handover network init                                  # coordinator: root key
  handover org init --org-id shelter-ist                 # org admin: org key
  handover network issue-org --org-id shelter-ist ... --fingerprint "<digits>"
                                                         # coordinator certifies the org key read to them by phone
  handover org import-certificate org.json               # org admin registers it
  handover device init --org-id shelter-ist --device-id amina ...   # staff: device keys
  handover org sign-device request.json --fingerprint "<digits>" --out cert.json
                                                         # org admin certifies the device key read to them
  handover device register --certificate cert.json --org-certificate org.json
  handover trust status                                  # org key changes waiting for a phone check

Environment: HANDOVER_PASSPHRASE, HANDOVER_PROFILE, HANDOVER_SERVER, HANDOVER_KDF.`,
    );
  // Registration order is the order `handover --help` lists the commands in.
  registerNetworkCommands(program);
  registerOrgCommands(program);
  registerDeviceCommands(program);
  registerDirectoryCommand(program);
  registerTrustCommands(program);
  registerBackupCommands(program);
  registerVerifyCommand(program);
  registerCertificatesCommand(program);
  registerCaseCommands(program);
  return program;
}

if (require.main === module || process.env.HANDOVER_CLI_MAIN === '1') {
  buildProgram()
    .parseAsync(process.argv)
    .then(() => process.exit(process.exitCode ?? 0));
}
