/**
 * Browser notifications that carry no case data. The person opts in on the
 * settings screen (the permission is asked on their click); then, when
 * another device's message arrives while the tab is in the background, the
 * browser shows one fixed sentence — "New activity in Handover" — and
 * nothing else: no case code, no name, no organisation, no count. A shared
 * office computer shows notifications to whoever stands in front of it.
 *
 * Nothing arrives while the app is locked: the lock closes the connection
 * to the relay, so there is nothing to notify about until someone unlocks.
 */
import { t } from './i18n/index';

/** One tag for every notification: a new one replaces the last instead of piling up. */
const TAG = 'handover-activity';

export type NotificationState = NotificationPermission | 'unsupported';

export function notificationState(): NotificationState {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Ask the browser for the permission (call from a click: browsers refuse a request without one). */
export async function askNotificationPermission(): Promise<NotificationState> {
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.requestPermission();
}

/** The fixed text a notification shows (the test checks it carries nothing else). */
export function notificationText(): { title: string; body: string } {
  return { title: t('app.name'), body: t('notify.body') };
}

/** Tell the person something arrived, if they opted in, the browser allows it, and the tab is not in front. */
export function notifyActivity(enabled: boolean): void {
  if (!enabled || !document.hidden || notificationState() !== 'granted') return;
  const { title, body } = notificationText();
  try {
    new Notification(title, { body, tag: TAG });
  } catch (err) {
    // Some browsers allow notifications only through a service worker (Chrome on Android): then there is none,
    // which the settings screen cannot tell in advance; the app works on without it.
    document.documentElement.dataset.notificationError = err instanceof Error ? err.name : 'error';
  }
}
