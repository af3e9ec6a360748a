/**
 * This device's own settings (lock time, notifications) and their rules:
 * kept in the device's encrypted storage (a vault record through the SDK
 * facade), so they are readable only when unlocked. The screen that changes
 * them is settings.ts.
 */
import type { HandoverClient } from '../../sdk/index';

/** What this device remembers about how it is used (a record in the vault). */
export interface WebSettings {
  /** Minutes without use before the app locks itself; unset: the org's default. */
  lockMinutes?: number;
  /** Show a notification (with no case data) when something arrives while the tab is in the background. */
  notifications: boolean;
}

export const SETTINGS_RECORD = 'web/settings';
export const LOCK_CHOICES = [1, 5, 15, 30] as const;
export const DEFAULT_LOCK_MINUTES = 5;

/** The settings in the vault; anything not as expected there is the default. */
export async function loadSettings(client: Pick<HandoverClient, 'getRecord'>): Promise<WebSettings> {
  const stored = await client.getRecord(SETTINGS_RECORD);
  const s = typeof stored === 'object' && stored !== null ? (stored as Record<string, unknown>) : {};
  const minutes = s.lockMinutes;
  return {
    ...(typeof minutes === 'number' && Number.isFinite(minutes) && minutes > 0 ? { lockMinutes: minutes } : {}),
    notifications: s.notifications === true,
  };
}

export async function saveSettings(client: Pick<HandoverClient, 'putRecord'>, settings: WebSettings): Promise<void> {
  await client.putRecord(SETTINGS_RECORD, settings);
}

/**
 * The lock times offered: the usual ones, never longer than the org's own
 * limit (app-config.json's idleLockMinutes), which is offered too. A person
 * can make the lock come sooner on a shared computer, not later than the org allows.
 */
export function lockChoices(orgLimit: number | undefined): number[] {
  const choices: number[] = LOCK_CHOICES.filter((m) => orgLimit === undefined || m <= orgLimit);
  if (orgLimit !== undefined && !choices.includes(orgLimit)) choices.push(orgLimit);
  return choices.sort((a, b) => a - b);
}

/** The lock time in force: the person's choice within the org's limit, else the org's, else 5 minutes. */
export function effectiveLockMinutes(settings: WebSettings | undefined, orgLimit: number | undefined): number {
  const chosen = settings?.lockMinutes;
  if (chosen !== undefined) return orgLimit === undefined ? chosen : Math.min(chosen, orgLimit);
  return orgLimit ?? DEFAULT_LOCK_MINUTES;
}
