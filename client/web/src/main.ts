/**
 * Entry of the web app: load the page's config, libsodium and this
 * browser's storage, then show set-up or unlock. The app imports the SDK
 * facade and the referral package only (dependency rules, ARCHITECTURE.md).
 */
import { loadCrypto } from '../../sdk/index';
import { App, type AppConfig } from './app';
import { firstScreen, unlockScreen } from './access';
import { h } from './dom';
import { t } from './i18n/index';
import { IndexedDbStorage } from './idb-storage';
import { inboxScreen } from './inbox';
import { restoreScreen } from './restore';
import { settingsScreen } from './settings';

async function loadConfig(): Promise<AppConfig> {
  try {
    const res = await fetch('/app-config.json', { cache: 'no-store', credentials: 'omit' });
    if (!res.ok) return {};
    const json: unknown = await res.json();
    if (typeof json !== 'object' || json === null) return {};
    const c = json as Record<string, unknown>;
    return {
      ...(typeof c.relay === 'string' ? { relay: c.relay } : {}),
      ...(c.development === true ? { development: true } : {}),
      ...(typeof c.idleLockMinutes === 'number' && c.idleLockMinutes > 0 ? { idleLockMinutes: c.idleLockMinutes } : {}),
    };
  } catch {
    // No config beside the app: the relay is the page's own origin.
    return {};
  }
}

async function main(): Promise<void> {
  const root = document.getElementById('app');
  const bar = document.getElementById('bar');
  const banner = document.getElementById('banner');
  if (!root || !bar || !banner) return;
  root.textContent = '';
  root.appendChild(h('p', {}, t('app.loading')));
  const [config, crypto, storage] = await Promise.all([loadConfig(), loadCrypto(), IndexedDbStorage.open()]);
  const app = new App(crypto, storage, config, root, bar);
  if (config.development) {
    banner.textContent = t('app.development');
    banner.hidden = false;
  }
  app.lockScreen = unlockScreen(app);
  app.homeScreen = inboxScreen(app);
  app.settingsScreen = settingsScreen(app);
  app.restoreScreen = restoreScreen(app);
  await app.show(await firstScreen(app));
  document.documentElement.dataset.ready = 'true';
}

void main();
