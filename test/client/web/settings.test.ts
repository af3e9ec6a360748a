/**
 * The settings' rules: the lock times offered never exceed the org's limit;
 * the lock time in force is the person's choice within it; settings read
 * from storage fall back to the defaults when not as expected.
 */
import { DEFAULT_LOCK_MINUTES, effectiveLockMinutes, loadSettings, lockChoices } from '../../../client/web/src/device-settings';

it('offers 1, 5, 15 and 30 minutes, never longer than the org allows, and the org’s own limit', () => {
  expect(lockChoices(undefined)).toEqual([1, 5, 15, 30]);
  expect(lockChoices(15)).toEqual([1, 5, 15]);
  expect(lockChoices(10)).toEqual([1, 5, 10]);
  expect(lockChoices(0.05)).toEqual([0.05]);
});

it('locks after the person’s choice within the org’s limit, else the org’s, else 5 minutes', () => {
  expect(effectiveLockMinutes({ notifications: false }, undefined)).toBe(DEFAULT_LOCK_MINUTES);
  expect(effectiveLockMinutes({ notifications: false }, 10)).toBe(10);
  expect(effectiveLockMinutes({ lockMinutes: 1, notifications: false }, 10)).toBe(1);
  expect(effectiveLockMinutes({ lockMinutes: 30, notifications: false }, 10)).toBe(10);
  expect(effectiveLockMinutes({ lockMinutes: 30, notifications: false }, undefined)).toBe(30);
});

it('reads settings from the device’s records, defaults for anything unexpected', async () => {
  const from = (value: unknown) => loadSettings({ getRecord: async () => value });
  expect(await from(undefined)).toEqual({ notifications: false });
  expect(await from({ lockMinutes: 15, notifications: true })).toEqual({ lockMinutes: 15, notifications: true });
  expect(await from({ lockMinutes: -1, notifications: 'yes' })).toEqual({ notifications: false });
  expect(await from({ lockMinutes: Infinity })).toEqual({ notifications: false });
  expect(await from('junk')).toEqual({ notifications: false });
});
