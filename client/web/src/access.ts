/**
 * The screens before the inbox: set up this browser as a device (keys made
 * here, sealed by the passphrase with Argon2id through the SDK's vault),
 * enrol it (the request as text with its fingerprint; the admin's
 * certificates pasted back) and unlock. Argon2id runs in a Web Worker at
 * set-up and at unlock (unlock-worker.ts), on the page only when the worker
 * cannot load.
 */
import { HandoverClient, HandoverError, PWHASH_MODERATE, type PwhashLimits, RelayApi, Vault, isHandoverError, keyFingerprint, type ErrorCode } from '../../sdk/index';
import UnlockWorker from './unlock-worker?worker';
import { type App, errorText } from './app';
import { append, field, h, on } from './dom';
import { t } from './i18n/index';
import { inboxScreen } from './inbox';
import { qrMatrix, qrSvg } from './qr';

const MIN_PASSPHRASE = 12;

function busy(form: HTMLFormElement, message: string | undefined): void {
  for (const el of Array.from(form.elements)) (el as HTMLInputElement).disabled = message !== undefined;
  const status = form.querySelector('.busy');
  if (status) status.textContent = message ?? '';
}

function failure(form: HTMLFormElement, text: string): void {
  const box = form.querySelector('.form-error');
  if (box) box.textContent = text;
}

function formFooter(submit: string): HTMLElement[] {
  return [h('p', { class: 'form-error error', role: 'alert' }), h('p', { class: 'busy', role: 'status' }), h('button', { type: 'submit' }, submit)];
}

export function setupScreen(app: App) {
  return (root: HTMLElement) => {
    const relay = h('input', { type: 'text', name: 'relay', value: app.relayUrl, autocomplete: 'off', required: true });
    const orgId = h('input', { type: 'text', name: 'orgId', autocomplete: 'off', required: true });
    const deviceName = h('input', { type: 'text', name: 'deviceName', autocomplete: 'off', required: true });
    const label = h('input', { type: 'text', name: 'label', autocomplete: 'off', required: true });
    const pass = h('input', { type: 'password', name: 'passphrase', autocomplete: 'new-password', required: true });
    const again = h('input', { type: 'password', name: 'passphraseAgain', autocomplete: 'new-password', required: true });
    const passField = field(t('setup.passphrase'), pass);
    const againField = field(t('setup.passphraseAgain'), again);
    const form = h(
      'form',
      { id: 'setup', novalidate: true },
      field(t('setup.relay'), relay).wrap,
      field(t('setup.orgId'), orgId).wrap,
      field(t('setup.deviceName'), deviceName).wrap,
      field(t('setup.label'), label).wrap,
      passField.wrap,
      againField.wrap,
      ...formFooter(t('setup.submit')),
    );
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      passField.error.textContent = pass.value.length < MIN_PASSPHRASE ? t('setup.tooShort') : '';
      againField.error.textContent = pass.value !== again.value ? t('setup.mismatch') : '';
      if (pass.value.length < MIN_PASSPHRASE || pass.value !== again.value) return;
      void (async () => {
        busy(form, t('setup.working'));
        try {
          const serverUrl = relay.value.trim().replace(/\/+$/, '');
          // The root key the relay names is only a starting point: a certificate that does not chain to the real root is refused at import.
          const network = await new RelayApi(serverUrl).network();
          const org = orgId.value.trim();
          const name = deviceName.value.trim();
          const profile = {
            crypto: app.crypto,
            storage: app.storage,
            pwhashLimits: PWHASH_MODERATE,
            orgId: org,
            deviceId: name.includes(':') ? name : `${org}:${name}`,
            label: label.value.trim(),
            rootPublicKey: network.rootPublicKey,
            serverUrl,
          };
          // Sealing the new keystore is Argon2id too: in the worker, as at unlock (the page stays responsive).
          document.documentElement.dataset.kdf = 'worker';
          const vault = await sealInWorker(app, pass.value, PWHASH_MODERATE).catch((err: unknown) => {
            // A worker that could not load: the vault is made on the page (a second's freeze), as at unlock.
            if (isHandoverError(err)) throw err;
            document.documentElement.dataset.kdf = 'page';
            return undefined;
          });
          const { client } = await HandoverClient.createProfile(vault ? { ...profile, vault } : { ...profile, passphrase: pass.value });
          await app.show(enrolScreen(app, client, network.rootPublicKey));
        } catch (err) {
          busy(form, undefined);
          failure(form, t('app.error', { message: errorText(err) }));
        }
      })();
    });
    // Or: this browser becomes a new device from an encrypted backup (restore.ts).
    const restore = on(h('button', { type: 'button', class: 'secondary', id: 'open-restore' }, t('restore.open')), 'click', () => void app.show(app.restoreScreen));
    root.append(h('h1', {}, t('setup.title')), h('p', {}, t('setup.intro')), form, h('p', {}, restore));
  };
}

export function enrolScreen(app: App, client: HandoverClient, rootPublicKey?: string) {
  return (root: HTMLElement) => {
    const request = client.enrolmentRequest();
    const requestText = JSON.stringify(request, null, 2);
    const fingerprint = keyFingerprint(app.crypto, 'device', client.deviceId, client.signPublicKey);
    const orgCert = h('textarea', { name: 'orgCertificate', rows: 6, spellcheck: 'false' });
    const deviceCert = h('textarea', { name: 'deviceCertificate', rows: 6, spellcheck: 'false' });
    const form = h(
      'form',
      { id: 'enrol', novalidate: true },
      field(t('enrol.orgCertificate'), orgCert).wrap,
      field(t('enrol.deviceCertificate'), deviceCert).wrap,
      ...formFooter(t('enrol.import')),
    );
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      void (async () => {
        busy(form, t('enrol.working'));
        try {
          await client.importCertificates(JSON.parse(orgCert.value) as unknown, JSON.parse(deviceCert.value) as unknown);
          await client.register();
          await app.startSession(client);
          await app.show(inboxScreen(app));
        } catch (err) {
          busy(form, undefined);
          failure(form, t('enrol.bad', { message: errorText(err) }));
        }
      })();
    });
    append(
      root,
      h('h1', {}, t('enrol.title')),
      h('p', {}, t('enrol.intro')),
      h('h2', {}, t('enrol.fingerprint')),
      h('p', { class: 'mono', id: 'device-fingerprint' }, fingerprint),
      rootPublicKey ? h('p', {}, `${t('enrol.rootFingerprint')}: `, h('span', { class: 'mono' }, rootPublicKey)) : null,
      h('figure', { id: 'enrolment-qr' }, qrSvg(qrMatrix(JSON.stringify(request)), t('enrol.qr')), h('figcaption', {}, t('enrol.qr'))),
      field(t('enrol.request'), h('textarea', { id: 'enrolment-request', readonly: true, rows: 10, spellcheck: 'false' }, requestText)).wrap,
      form,
    );
  };
}

export function unlockScreen(app: App) {
  return (root: HTMLElement) => {
    const pass = h('input', { type: 'password', name: 'passphrase', autocomplete: 'current-password', required: true });
    const passField = field(t('unlock.passphrase'), pass);
    const form = h('form', { id: 'unlock', novalidate: true }, passField.wrap, ...formFooter(t('unlock.submit')));
    on(form, 'submit', (ev) => {
      ev.preventDefault();
      void (async () => {
        busy(form, t('unlock.working'));
        try {
          // Where Argon2id ran, for people debugging a frozen page (and the tests): nothing about the case.
          document.documentElement.dataset.kdf = 'worker';
          const client = await openInWorker(app, pass.value).catch((err: unknown) => {
            // A wrong passphrase is an answer; a worker that could not even load (the app's host is away) is not:
            // then Argon2id runs on the page, which freezes for a second but opens the device.
            if (isHandoverError(err)) throw err;
            document.documentElement.dataset.kdf = 'page';
            return HandoverClient.open({ crypto: app.crypto, storage: app.storage, passphrase: pass.value });
          });
          pass.value = '';
          // For the web bench (and anyone profiling): the moment the keystore opened, no data in it.
          performance.mark('handover:unlocked');
          if (!client.certificates.device) {
            await app.show(enrolScreen(app, client));
            return;
          }
          await app.startSession(client);
          await app.show(inboxScreen(app));
        } catch (err) {
          busy(form, undefined);
          pass.value = '';
          failure(form, isHandoverError(err) && err.code === 'WRONG_PASSPHRASE' ? t('unlock.wrong') : t('app.error', { message: errorText(err) }));
        }
      })();
    });
    const forget = on(h('button', { type: 'button', class: 'secondary', id: 'forget' }, t('unlock.forget')), 'click', () => {
      if (!window.confirm(t('unlock.forgetConfirm'))) return;
      void app.storage.clear().then(() => app.show(setupScreen(app)));
    });
    root.append(h('h1', {}, t('unlock.title')), h('p', { role: 'status' }, t('app.locked')), form, h('p', {}, forget));
  };
}

type WorkerAnswer = { key?: Uint8Array; sealed?: string; error?: { code: ErrorCode; message: string } };

/**
 * One Argon2id job in a Web Worker (unlock-worker.ts); the page stays
 * responsive. While it runs, `data-kdf-running` on the page says so (for
 * people debugging a frozen page, and the tests; nothing about the case).
 */
async function inWorker(request: { sealed: string; passphrase: string } | { seal: { passphrase: string; limits: PwhashLimits } }): Promise<{ key: Uint8Array; sealed?: string }> {
  const worker = new UnlockWorker();
  document.documentElement.dataset.kdfRunning = 'true';
  try {
    return await new Promise<{ key: Uint8Array; sealed?: string }>((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent<WorkerAnswer>) => {
        if (ev.data.key) resolve({ key: ev.data.key, ...(ev.data.sealed !== undefined ? { sealed: ev.data.sealed } : {}) });
        else reject(new HandoverError(ev.data.error?.code ?? 'INTERNAL', ev.data.error?.message ?? 'the unlock worker failed'));
      };
      worker.onerror = (ev) => reject(new Error(ev.message || 'the unlock worker failed'));
      worker.postMessage(request);
    });
  } finally {
    delete document.documentElement.dataset.kdfRunning;
    worker.terminate();
  }
}

/** Run Argon2id in a Web Worker (the page stays responsive), then open the vault with the key it found. */
async function openInWorker(app: App, passphrase: string): Promise<HandoverClient> {
  const sealed = await Vault.sealedKeystore(app.storage);
  if (sealed === undefined) throw new HandoverError('KEYSTORE_CORRUPT', 'no device in this browser: set it up first');
  const { key } = await inWorker({ sealed, passphrase });
  try {
    const vault = await Vault.unlockWithKey(app.crypto, app.storage, key);
    return await HandoverClient.open({ crypto: app.crypto, storage: app.storage, vault });
  } finally {
    app.crypto.wipe(key);
  }
}

/** Set-up: the worker makes the storage key and seals it under the passphrase; the page makes the vault from them. */
async function sealInWorker(app: App, passphrase: string, limits: PwhashLimits): Promise<Vault> {
  const { key, sealed } = await inWorker({ seal: { passphrase, limits } });
  try {
    if (sealed === undefined) throw new HandoverError('INTERNAL', 'the worker sealed no keystore');
    return await Vault.createSealed(app.crypto, app.storage, sealed, key);
  } finally {
    app.crypto.wipe(key);
  }
}

/** The first screen: set up when this browser holds no device yet, else unlock. */
export async function firstScreen(app: App) {
  return (await Vault.exists(app.storage)) ? unlockScreen(app) : setupScreen(app);
}
