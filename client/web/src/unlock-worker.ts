/**
 * Argon2id off the page's thread: the unlock screen hands this worker the
 * sealed keystore and the passphrase; it answers with the vault's storage
 * key (or the error), through the SDK's own keystore code (Vault.storageKeyOf)
 * — no other crypto path. The page stays responsive meanwhile.
 */
import { Vault, isHandoverError, loadCrypto } from '../../sdk/index';

interface Request {
  sealed: string;
  passphrase: string;
}

const scope = self as unknown as { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(message: unknown, transfer?: Transferable[]): void };

scope.onmessage = (ev) => {
  void (async () => {
    try {
      const crypto = await loadCrypto();
      const key = Vault.storageKeyOf(crypto, ev.data.sealed, ev.data.passphrase);
      scope.postMessage({ key }, [key.buffer]);
    } catch (err) {
      scope.postMessage({ error: { code: isHandoverError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
    }
  })();
};
