/**
 * The settings screen: language, how soon the app locks itself, read
 * receipts, notifications (opt-in, no case data: notify.ts) and an
 * encrypted backup of the device, downloaded as a file. The device's own
 * settings are kept in its encrypted storage (a vault record through the
 * SDK facade), so they apply from the next unlock on and are readable only
 * when unlocked.
 */
import { type BackupSummary, HandoverError, type HandoverClient, type ErrorCode } from '../../sdk/index';
import BackupWorker from './backup-worker?worker';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { CATALOGUE_META, LANGUAGES, isLanguage, language, t } from './i18n/index';
import { type WebSettings, effectiveLockMinutes, lockChoices, saveSettings } from './device-settings';
import { askNotificationPermission, notificationState } from './notify';

const MIN_RECOVERY_PASSPHRASE = 12;

/** Today as YYYY-MM-DD in the browser's zone: the backup file's name carries the date only. */
function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Seal the backup in a Web Worker (Argon2id off the page); if no worker can start, on the page. */
async function sealInWorker(client: HandoverClient, recoveryPassphrase: string): Promise<{ text: string; summary: BackupSummary }> {
  const contents = await client.backupContents();
  let worker: Worker;
  try {
    worker = new BackupWorker();
  } catch {
    // No worker (its script could not be loaded): the page seals it, freezing for a second or two.
    document.documentElement.dataset.backupKdf = 'page';
    return client.backup(recoveryPassphrase);
  }
  document.documentElement.dataset.backupKdf = 'worker';
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent<{ text?: string; summary?: BackupSummary; error?: { code: ErrorCode; message: string } }>) => {
        if (typeof ev.data.text === 'string' && ev.data.summary) resolve({ text: ev.data.text, summary: ev.data.summary });
        else reject(new HandoverError(ev.data.error?.code ?? 'INTERNAL', ev.data.error?.message ?? 'the backup worker failed'));
      };
      worker.onerror = (ev) => reject(new Error(ev.message || 'the backup worker failed'));
      worker.postMessage({ contents, recoveryPassphrase });
    });
  } finally {
    worker.terminate();
  }
}

/** Hand `text` to the browser as a file download (a Blob: nothing leaves the browser). */
function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/octet-stream' }));
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The download has started by now; the URL is dropped so the sealed text does not linger in the page.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export function settingsScreen(app: App) {
  return (root: HTMLElement) => {
    const session = app.session;
    if (!session) return;
    const back = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('settings.back')), 'click', () => void app.goHome());
    const saved = h('p', { role: 'status', id: 'settings-status' });
    const store = (next: WebSettings) => {
      session.settings = next;
      void saveSettings(session.client, next).then(
        () => {
          saved.textContent = t('settings.saved');
        },
        (err: unknown) => {
          saved.textContent = t('app.error', { message: errorText(err) });
        },
      );
    };

    // Language (the bar has the same choice, for the screens before unlocking).
    const lang = h('select', { id: 'settings-language' });
    for (const l of LANGUAGES) lang.appendChild(h('option', { value: l, lang: l, selected: l === language() }, CATALOGUE_META[l].name));
    on(lang, 'change', () => {
      if (!isLanguage(lang.value)) return;
      app.applyLanguage(lang.value);
      void app.refresh();
    });

    // Lock time: applied at once (the idle timer restarts with it).
    const orgLimit = app.config.idleLockMinutes;
    const current = effectiveLockMinutes(session.settings, orgLimit);
    const lock = h('select', { id: 'lock-minutes' }, ...lockChoices(orgLimit).map((m) => h('option', { value: String(m), selected: m === current }, t('settings.lockMinutes', { minutes: m }))));
    on(lock, 'change', () => {
      store({ ...session.settings, lockMinutes: Number(lock.value) });
      app.restartIdleLock();
    });

    // Read receipts (the bar has the same switch).
    const receipts = h('input', { type: 'checkbox', id: 'settings-read-receipts', checked: session.readReceipts });
    on(receipts, 'change', () => {
      session.readReceipts = receipts.checked;
      void session.client.setReadReceipts(receipts.checked).then(() => app.renderBar());
    });

    // Notifications: asked on this click, so the browser shows its question.
    const state = notificationState();
    const notify = h('input', { type: 'checkbox', id: 'notifications', checked: session.settings.notifications && state === 'granted', disabled: state === 'unsupported' || state === 'denied' });
    const notifyNote = h('p', { class: 'hint', id: 'notifications-state', role: 'status' }, state === 'unsupported' ? t('settings.notificationsUnsupported') : state === 'denied' ? t('settings.notificationsDenied') : '');
    on(notify, 'change', () => {
      if (!notify.checked) {
        store({ ...session.settings, notifications: false });
        return;
      }
      void askNotificationPermission().then((answer) => {
        const granted = answer === 'granted';
        notify.checked = granted;
        notifyNote.textContent = granted ? '' : t('settings.notificationsDenied');
        store({ ...session.settings, notifications: granted });
      });
    });

    // Encrypted backup, sealed under a separate recovery passphrase.
    const pass = h('input', { type: 'password', name: 'recoveryPassphrase', autocomplete: 'new-password', required: true });
    const again = h('input', { type: 'password', name: 'recoveryPassphraseAgain', autocomplete: 'new-password', required: true });
    const passField = field(t('backup.passphrase'), pass);
    const againField = field(t('backup.passphraseAgain'), again);
    const backupStatus = h('p', { role: 'status', id: 'backup-status' });
    const backupError = h('p', { class: 'form-error error', role: 'alert' });
    const backupForm = h('form', { id: 'backup', novalidate: true }, passField.wrap, againField.wrap, backupError, backupStatus, h('button', { type: 'submit' }, t('backup.submit')));
    on(backupForm, 'submit', (ev) => {
      ev.preventDefault();
      backupError.textContent = '';
      backupStatus.textContent = '';
      passField.error.textContent = [...pass.value].length < MIN_RECOVERY_PASSPHRASE ? t('setup.tooShort') : '';
      againField.error.textContent = pass.value !== again.value ? t('setup.mismatch') : '';
      if (passField.error.textContent || againField.error.textContent) return;
      const recovery = pass.value;
      void (async () => {
        const controls = Array.from(backupForm.elements) as HTMLInputElement[];
        for (const el of controls) el.disabled = true;
        backupStatus.textContent = t('backup.working');
        try {
          const { text, summary } = await sealInWorker(session.client, recovery);
          download(text, `handover-backup-${today()}.txt`);
          pass.value = '';
          again.value = '';
          backupStatus.textContent = t('backup.done', { records: summary.records });
        } catch (err) {
          backupStatus.textContent = '';
          backupError.textContent = t('app.error', { message: errorText(err) });
        } finally {
          for (const el of controls) el.disabled = false;
        }
      })();
    });

    root.append(
      h('p', {}, back),
      h('h1', {}, t('settings.title')),
      saved,
      h('section', { 'aria-labelledby': 'settings-general' }, h('h2', { id: 'settings-general' }, t('settings.general')), field(t('app.language'), lang).wrap, field(t('settings.lock'), lock, { hint: t('settings.lockHint') }).wrap),
      h(
        'section',
        { 'aria-labelledby': 'settings-privacy' },
        h('h2', { id: 'settings-privacy' }, t('settings.privacy')),
        h('div', { class: 'field' }, h('span', {}, receipts, h('label', { for: 'settings-read-receipts' }, ` ${t('app.readReceipts')}`)), h('p', { class: 'hint' }, t('settings.readReceiptsHint'))),
        h('div', { class: 'field' }, h('span', {}, notify, h('label', { for: 'notifications' }, ` ${t('settings.notifications')}`)), h('p', { class: 'hint' }, t('settings.notificationsHint')), notifyNote),
      ),
      h('section', { 'aria-labelledby': 'settings-backup' }, h('h2', { id: 'settings-backup' }, t('backup.title')), h('p', {}, t('backup.intro')), backupForm),
    );
  };
}
