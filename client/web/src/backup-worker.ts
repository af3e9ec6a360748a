/**
 * Argon2id for the backup off the page's thread: the settings screen hands
 * this worker what the backup holds (HandoverClient.backupContents) and the
 * recovery passphrase; it answers with the sealed file's text, made by the
 * SDK's own backup code (sealBackup) — no other crypto path. The page stays
 * responsive meanwhile.
 */
import { type BackupContents, PWHASH_MODERATE, isHandoverError, loadCrypto, sealBackup } from '../../sdk/index';

interface Request {
  contents: BackupContents;
  recoveryPassphrase: string;
}

const scope = self as unknown as { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(message: unknown): void };

scope.onmessage = (ev) => {
  void (async () => {
    try {
      const crypto = await loadCrypto();
      scope.postMessage(sealBackup(crypto, ev.data.contents, ev.data.recoveryPassphrase, PWHASH_MODERATE));
    } catch (err) {
      scope.postMessage({ error: { code: isHandoverError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
    }
  })();
};
