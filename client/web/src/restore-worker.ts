/**
 * Restore's two Argon2id off the page's thread, through the SDK's own code
 * — no other crypto path. The page hands over the backup's text, the
 * recovery passphrase, the new passphrase and the limits it chose; this
 * worker opens the backup (readBackup: a wrong recovery passphrase is
 * WRONG_PASSPHRASE) and seals a new storage key under the new passphrase
 * (Vault.sealNewKeystore). It answers with the opened contents, the sealed
 * keystore and its key (transferred), which the page hands to
 * HandoverClient.restoreProfile; or with the error, by code.
 */
import { type PwhashLimits, Vault, isHandoverError, loadCrypto, readBackup } from '../../sdk/index';

interface Request {
  backup: string;
  recoveryPassphrase: string;
  passphrase: string;
  limits: PwhashLimits;
}

const scope = self as unknown as { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(message: unknown, transfer?: Transferable[]): void };

scope.onmessage = (ev) => {
  void (async () => {
    try {
      const crypto = await loadCrypto();
      const request = ev.data;
      // The backup first: a wrong recovery passphrase answers before the second Argon2id.
      const contents = readBackup(crypto, request.backup, request.recoveryPassphrase);
      const { sealed, storageKey } = Vault.sealNewKeystore(crypto, request.passphrase, request.limits);
      // A buffer of its own to hand over (transferred: no copy stays here).
      const key = storageKey.slice();
      crypto.wipe(storageKey);
      scope.postMessage({ contents, sealed, key }, [key.buffer]);
    } catch (err) {
      scope.postMessage({ error: { code: isHandoverError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
    }
  })();
};
