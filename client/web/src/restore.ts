/**
 * Restore from a backup (the settings screen's download, or `handover
 * backup`): the file and its recovery passphrase make a NEW device of the
 * same organisation, with new keys under a new name, sealed here by a new
 * passphrase; then it is enrolled like any new device (the admin signs its
 * request and revokes the lost one). Every case of the backup is there at
 * once. Argon2id runs twice here on the page (opening the backup, sealing
 * the new profile), as at set-up: the page is busy for a few seconds.
 */
import { HandoverClient, PWHASH_MODERATE, isHandoverError } from '../../sdk/index';
import { enrolScreen, setupScreen } from './access';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { t } from './i18n/index';

const MIN_PASSPHRASE = 12;
/** A backup is text; one far larger than any device holds is refused before it is read into memory. */
const MAX_BACKUP_BYTES = 512 * 1024 * 1024;

/** Let the page paint the "working" line before the slow part starts. */
const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

export function restoreScreen(app: App) {
  return (root: HTMLElement) => {
    const file = h('input', { type: 'file', name: 'backup', accept: '.txt,text/plain,application/octet-stream', required: true });
    const recovery = h('input', { type: 'password', name: 'recoveryPassphrase', autocomplete: 'off', required: true });
    const deviceName = h('input', { type: 'text', name: 'deviceName', autocomplete: 'off', required: true });
    const pass = h('input', { type: 'password', name: 'passphrase', autocomplete: 'new-password', required: true });
    const again = h('input', { type: 'password', name: 'passphraseAgain', autocomplete: 'new-password', required: true });
    const fileField = field(t('restore.file'), file);
    const passField = field(t('setup.passphrase'), pass);
    const againField = field(t('setup.passphraseAgain'), again);
    const error = h('p', { class: 'form-error error', role: 'alert' });
    const status = h('p', { class: 'busy', role: 'status' });
    const cancel = on(h('button', { type: 'button', class: 'secondary', id: 'back' }, t('form.cancel')), 'click', () => void app.show(setupScreen(app)));
    const form = h(
      'form',
      { id: 'restore', novalidate: true },
      fileField.wrap,
      field(t('restore.recovery'), recovery).wrap,
      field(t('restore.deviceName'), deviceName).wrap,
      passField.wrap,
      againField.wrap,
      error,
      status,
      h('p', {}, h('button', { type: 'submit' }, t('restore.submit')), ' ', cancel),
    );
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const chosen = file.files?.[0];
      fileField.error.textContent = chosen ? '' : t('restore.noFile');
      passField.error.textContent = [...pass.value].length < MIN_PASSPHRASE ? t('setup.tooShort') : '';
      againField.error.textContent = pass.value !== again.value ? t('setup.mismatch') : '';
      if (!chosen || fileField.error.textContent || passField.error.textContent || againField.error.textContent || !deviceName.value.trim()) return;
      void (async () => {
        const controls = Array.from(form.elements) as HTMLInputElement[];
        for (const el of controls) el.disabled = true;
        status.textContent = t('restore.working');
        try {
          if (chosen.size > MAX_BACKUP_BYTES) throw new Error(`${chosen.size} bytes: not a backup of one device`);
          const backup = await chosen.text();
          await nextFrame();
          const { client } = await HandoverClient.restoreProfile({
            crypto: app.crypto,
            storage: app.storage,
            passphrase: pass.value,
            pwhashLimits: PWHASH_MODERATE,
            backup,
            recoveryPassphrase: recovery.value,
            deviceId: deviceName.value.trim(),
            serverUrl: app.relayUrl,
          });
          await app.show(enrolScreen(app, client));
        } catch (err) {
          for (const el of controls) el.disabled = false;
          status.textContent = '';
          error.textContent = isHandoverError(err) && (err.code === 'WRONG_PASSPHRASE' || err.code === 'KEYSTORE_CORRUPT') ? t('restore.wrong') : t('app.error', { message: errorText(err) });
        } finally {
          recovery.value = '';
          pass.value = '';
          again.value = '';
        }
      })();
    });
    root.append(h('h1', {}, t('restore.title')), h('p', {}, t('restore.intro')), form);
  };
}
