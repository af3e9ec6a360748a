/**
 * Argon2id off the page's thread, through the SDK's own keystore code — no
 * other crypto path. The page stays responsive meanwhile. Two requests:
 *  - unlock: the sealed keystore and the passphrase; answers with the
 *    vault's storage key (Vault.storageKeyOf);
 *  - seal (set-up): the passphrase and the limits the page chose; answers
 *    with a new storage key and the keystore sealing it
 *    (Vault.sealNewKeystore), which the page turns into the new vault.
 * Or the error, by code.
 */
import { type PwhashLimits, Vault, isHandoverError, loadCrypto } from '../../sdk/index';

type Request = { sealed: string; passphrase: string } | { seal: { passphrase: string; limits: PwhashLimits } };

const scope = self as unknown as { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(message: unknown, transfer?: Transferable[]): void };

scope.onmessage = (ev) => {
  void (async () => {
    try {
      const crypto = await loadCrypto();
      const request = ev.data;
      if ('seal' in request) {
        const { sealed, storageKey } = Vault.sealNewKeystore(crypto, request.seal.passphrase, request.seal.limits);
        // A buffer of its own to hand over (transferred: no copy stays here).
        const key = storageKey.slice();
        crypto.wipe(storageKey);
        scope.postMessage({ key, sealed }, [key.buffer]);
        return;
      }
      const key = Vault.storageKeyOf(crypto, request.sealed, request.passphrase);
      scope.postMessage({ key }, [key.buffer]);
    } catch (err) {
      scope.postMessage({ error: { code: isHandoverError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
    }
  })();
};
