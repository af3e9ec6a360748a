/**
 * `handover unlock` and `handover lock`: start the unlocked session now (at
 * the start of a shift, say) for HANDOVER_AGENT_TTL or --for, and end it
 * now (leaving the desk). Device commands start a session by themselves
 * after a typed passphrase; these make it explicit.
 */
import type { Command } from 'commander';
import { localTime, openExistingStorage, output } from '../context';
import { globalOptions, run } from '../run';
import { agentTtl, lockAgent, parseDuration } from './agent-client';
import { unlockForSession } from './unlock';

export function registerAgentCommands(program: Command): void {
  const g = () => globalOptions(program);
  program
    .command('unlock')
    .description('keep this device unlocked for a while (default 15 min, HANDOVER_AGENT_TTL), so commands do not ask for the passphrase')
    .option('--for <duration>', 'how long, e.g. 30m or 2h (at most 24h)')
    .action(
      run(program, async (o: { for?: string }) => {
        const session = await openExistingStorage(g(), 'handover device init');
        const ttlMs = o.for !== undefined ? parseDuration(o.for, '--for') : agentTtl().ms;
        const { until, started } = await unlockForSession(session, ttlMs);
        const human = started
          ? `Unlocked until ${localTime(until)}. \`handover lock\` ends it now.`
          : `Already unlocked until ${localTime(until)}. For another length: \`handover lock\`, then \`handover unlock --for <duration>\` (the passphrase again).`;
        output(g(), { profile: session.dir, unlockedUntil: new Date(until).toISOString(), started }, human);
      }),
    );
  program
    .command('lock')
    .description('end the unlocked session of this profile now: the next command asks for the passphrase')
    .action(
      run(program, async () => {
        const session = await openExistingStorage(g(), 'handover device init');
        const ended = await lockAgent(session.dir);
        output(g(), { profile: session.dir, locked: true, endedSession: ended }, ended ? `Locked: ${session.dir}` : `No unlocked session for ${session.dir}; it is locked.`);
      }),
    );
}
