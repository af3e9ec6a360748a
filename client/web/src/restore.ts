/**
 * Restore from a backup (the settings screen's download, or `handover
 * backup`): the file and its recovery passphrase make a NEW device of the
 * same organisation, with new keys under a new name, sealed here by a new
 * passphrase; then it is enrolled like any new device (the admin signs its
 * request and revokes the lost one). Every case of the backup is there at
 * once. Argon2id runs twice (opening the backup, sealing the new profile):
 * in a Web Worker (restore-worker.ts), as at set-up and unlock, so the page
 * keeps drawing; on the page only when the worker cannot load.
 */
import { type BackupContents, type ErrorCode, HandoverClient, HandoverError, PWHASH_MODERATE, type PwhashLimits, isHandoverError } from '../../sdk/index';
import RestoreWorker from './restore-worker?worker';
import { enrolScreen, setupScreen } from './access';
import { type App, errorText } from './app';
import { field, h, on } from './dom';
import { t } from './i18n/index';

const MIN_PASSPHRASE = 12;
/** A backup is text; one far larger than any device holds is refused before it is read into memory. */
const MAX_BACKUP_BYTES = 512 * 1024 * 1024;

/** Let the page paint the "working" line before the slow part starts (on the page, when no worker could run it). */
const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

type WorkerAnswer = { contents?: BackupContents; sealed?: string; key?: Uint8Array; error?: { code: ErrorCode; message: string } };

/**
 * Open the backup and seal the new keystore in a Web Worker (both
 * Argon2id); the page stays responsive. While it runs, `data-kdf-running`
 * on the page says so, as at set-up and unlock (nothing about the case).
 * A HandoverError is the worker's answer (a wrong recovery passphrase);
 * any other rejection means the worker could not run.
 */
async function openInWorker(request: { backup: string; recoveryPassphrase: string; passphrase: string; limits: PwhashLimits }): Promise<{ contents: BackupContents; sealed: string; key: Uint8Array }> {
  const worker = new RestoreWorker();
  document.documentElement.dataset.kdfRunning = 'true';
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent<WorkerAnswer>) => {
        const { contents, sealed, key, error } = ev.data;
        if (contents && typeof sealed === 'string' && key) resolve({ contents, sealed, key });
        else reject(new HandoverError(error?.code ?? 'INTERNAL', error?.message ?? 'the restore worker failed'));
      };
      worker.onerror = (ev) => reject(new Error(ev.message || 'the restore worker failed'));
      worker.postMessage(request);
    });
  } finally {
    delete document.documentElement.dataset.kdfRunning;
    worker.terminate();
  }
}

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
          const profile = { crypto: app.crypto, storage: app.storage, pwhashLimits: PWHASH_MODERATE, deviceId: deviceName.value.trim(), serverUrl: app.relayUrl };
          // Where Argon2id ran, for people debugging a frozen page (and the tests): nothing about the case.
          document.documentElement.dataset.kdf = 'worker';
          const opened = await openInWorker({ backup, recoveryPassphrase: recovery.value, passphrase: pass.value, limits: PWHASH_MODERATE }).catch((err: unknown) => {
            // A wrong recovery passphrase is an answer; a worker that could not even load is not: then both
            // Argon2id run on the page (a few seconds' freeze), as at unlock.
            if (isHandoverError(err)) throw err;
            document.documentElement.dataset.kdf = 'page';
            return undefined;
          });
          let restored: HandoverClient;
          if (opened) {
            try {
              ({ client: restored } = await HandoverClient.restoreProfile({ ...profile, contents: opened.contents, sealedKeystore: { sealed: opened.sealed, storageKey: opened.key } }));
            } finally {
              app.crypto.wipe(opened.key);
            }
          } else {
            await nextFrame();
            ({ client: restored } = await HandoverClient.restoreProfile({ ...profile, passphrase: pass.value, backup, recoveryPassphrase: recovery.value }));
          }
          await app.show(enrolScreen(app, restored));
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
