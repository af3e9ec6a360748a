/**
 * `handover`: the command line for network admins, org admins and staff.
 * Every read command takes --json; passphrases come from a prompt or
 * HANDOVER_PASSPHRASE (and an unlocked session keeps the device open for a
 * while); errors print their code and what to do.
 */
import { Command } from 'commander';
import { registerNetworkCommands } from './admin/network';
import { registerOrgCommands } from './admin/org';
import { registerAgentCommands } from './agent/commands';
import { registerCaseCommands } from './cases';
import { registerBackupCommands } from './device/backup';
import { registerCertificatesCommand } from './device/certificates';
import { registerDirectoryCommand, registerVerifyCommand } from './device/directory';
import { registerDeviceCommands } from './device/setup';
import { registerTrustCommands } from './device/trust';
import { registerWebCommand } from './web';

/**
 * The commands that only read what this device holds: they open the local
 * profile first and sync only if the relay answers soon (device/open.ts).
 * `due` and `report` are listed for the commands other parts add.
 */
const LOCAL_READS = new Set(['inbox', 'show', 'export', 'due', 'report']);

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('handover')
    .description('End-to-end encrypted referrals between NGOs, IOM and shelters.')
    .option('--profile <dir>', 'profile folder (default ~/.handover/default, or HANDOVER_PROFILE)')
    .option('--server <url>', 'relay URL (default http://127.0.0.1:8080, or HANDOVER_SERVER)')
    .option('--json', 'machine-readable output')
    .option('--offline', 'read commands (inbox, show, export): do not contact the relay, show what this device holds')
    .showHelpAfterError('(run with --help for usage)')
    .hook('preAction', (_program, action) => {
      if (action.parent === program && LOCAL_READS.has(action.name())) program.setOptionValue('localRead', true);
    })
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

Environment:
  HANDOVER_PROFILE, HANDOVER_SERVER   the profile folder and relay (as --profile, --server)
  HANDOVER_PASSPHRASE                 the passphrase, for scripts (otherwise it is asked)
  HANDOVER_AGENT_TTL                  how long a device stays unlocked after the passphrase
                                      is typed: 900 (seconds), 15m (default), 2h; 0 = off
  HANDOVER_TIMEOUT_MS                 how long one relay call may go unanswered (10000)
  HANDOVER_READ_TIMEOUT_MS            how long inbox/show wait for the relay before showing
                                      what the device holds (4000)
  HANDOVER_KDF                        Argon2id cost for new profiles (moderate)`,
    );
  // Registration order is the order `handover --help` lists the commands in.
  registerNetworkCommands(program);
  registerOrgCommands(program);
  registerDeviceCommands(program);
  registerAgentCommands(program);
  registerDirectoryCommand(program);
  registerTrustCommands(program);
  registerBackupCommands(program);
  registerVerifyCommand(program);
  registerCertificatesCommand(program);
  registerCaseCommands(program);
  registerWebCommand(program);
  return program;
}

/** Run the CLI on `argv` (process.argv's shape) and exit with its status. */
export function main(argv: readonly string[]): void {
  void buildProgram()
    .parseAsync([...argv])
    .then(() => process.exit(process.exitCode ?? 0));
}

if (require.main === module) main(process.argv);
