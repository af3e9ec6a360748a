/**
 * Unlocking a staff device's profile for one command: from the session
 * agent when one holds this profile's key (no Argon2id, no prompt), else
 * with the passphrase — and then, when the person typed it (or set
 * HANDOVER_AGENT_TTL), leaving an agent behind for the next commands.
 *
 * Admin profiles (network root, org keys) never use the agent: their
 * signing keys are used rarely and matter most, so they cost a passphrase
 * every time (docs/DECISIONS.md, "An unlocked session for staff devices").
 */
import { HandoverError, isHandoverError, Vault } from '../../sdk';
import { type Session, localTime, passphrase, passphraseIsTyped, progress } from '../context';
import { agentKey, agentTtl, lockAgent, startAgent } from './agent-client';
import { agentSocketPath } from './wire';

/** The vault from the agent's key, or undefined when there is no agent (or its key is not this profile's any more). */
async function vaultFromAgent(session: Session): Promise<Vault | undefined> {
  const held = await agentKey(session.dir);
  if (!held) return undefined;
  try {
    return await Vault.unlockWithKey(session.crypto, session.storage, held.key);
  } catch (err) {
    // The profile was made again since the agent started: that agent is of no use to anyone.
    if (isHandoverError(err, 'WRONG_PASSPHRASE')) await lockAgent(session.dir);
    else throw err;
    return undefined;
  } finally {
    held.key.fill(0);
  }
}

/** Hand the unlocked vault's key to a new agent; a failure costs only the convenience, never the command. */
export async function keepUnlocked(session: Session, vault: Vault, ttlMs: number, announce = true): Promise<number | undefined> {
  if (!agentSocketPath(session.dir)) {
    progress(`the unlocked session is off for this profile: its folder's path is too long for a socket (${session.dir})`);
    return undefined;
  }
  const key = vault.exportStorageKey();
  try {
    await startAgent(session.dir, key, ttlMs);
    const until = Date.now() + ttlMs;
    if (announce) progress(`unlocked until ${localTime(until)} (HANDOVER_AGENT_TTL; \`handover lock\` ends it now)`);
    return until;
  } catch (err) {
    progress(`could not keep the profile unlocked: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  } finally {
    key.fill(0);
  }
}

/** Open this profile's vault: the agent's key if one is held, else the passphrase (and, when typed, an agent for next time). */
export async function unlockDeviceVault(session: Session): Promise<Vault> {
  const ttl = agentTtl();
  if (ttl.ms > 0) {
    const vault = await vaultFromAgent(session);
    if (vault) return vault;
  }
  const typed = passphraseIsTyped();
  const vault = await Vault.unlock(session.crypto, session.storage, await passphrase());
  if (ttl.ms > 0 && (typed || ttl.explicit)) await keepUnlocked(session, vault, ttl.ms);
  return vault;
}

/** `handover unlock`: unlock now for `ttlMs`, or say until when an agent already keeps it unlocked. */
export async function unlockForSession(session: Session, ttlMs: number): Promise<{ until: number; started: boolean }> {
  if (ttlMs <= 0) throw new HandoverError('BAD_REQUEST', 'the unlocked session is off (HANDOVER_AGENT_TTL=0): give a duration, e.g. --for 30m');
  const held = await agentKey(session.dir);
  if (held) {
    try {
      (await Vault.unlockWithKey(session.crypto, session.storage, held.key)).lock();
      return { until: held.expiresAt, started: false };
    } catch (err) {
      if (!isHandoverError(err, 'WRONG_PASSPHRASE')) throw err;
      await lockAgent(session.dir);
    } finally {
      held.key.fill(0);
    }
  }
  const vault = await Vault.unlock(session.crypto, session.storage, await passphrase());
  try {
    if ((await vault.get('profile')) === undefined) {
      throw new HandoverError('BAD_REQUEST', `${session.dir} holds no staff device: only device commands use an unlocked session (admin keys ask for the passphrase every time)`);
    }
    const until = await keepUnlocked(session, vault, ttlMs, false);
    if (until === undefined) throw new HandoverError('INTERNAL', 'the unlocked session could not start (see the line above)');
    return { until, started: true };
  } finally {
    vault.lock();
  }
}
