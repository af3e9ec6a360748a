/**
 * Org key changes as the web app says them. The SDK refuses to send to an
 * org that presents a new root-signed key until a person confirms the new
 * fingerprint (`acceptOrgKey`); its error tells a CLI user which command to
 * run. Here a send that failed for that reason is told as a pointer to the
 * directory, where the pending change is shown with both fingerprints.
 * Pure functions: no DOM, no session.
 */
import { t } from './i18n/index';

/** A send's failure as the outboxes keep it (code and message; the details are not kept). */
export interface SendFailure {
  code: string;
  message: string;
  details?: Readonly<Record<string, unknown>>;
}

/**
 * The org whose pending key change a send failure is about, or undefined.
 * Only an UNTRUSTED_KEY failure counts, and only for an org that has a
 * change waiting now: named in the error's details, among the orgs the send
 * went to (`recipients`), or named in the message as "org <id> ".
 */
export function keyChangeOrgOf(failure: SendFailure | null | undefined, pending: readonly { orgId: string }[], recipients: readonly string[] = []): string | undefined {
  if (!failure || failure.code !== 'UNTRUSTED_KEY') return undefined;
  const waiting = new Set(pending.map((c) => c.orgId));
  const named = failure.details?.orgId;
  if (typeof named === 'string' && failure.details?.keyChanged === true) return waiting.has(named) ? named : undefined;
  const recipient = recipients.find((orgId) => waiting.has(orgId));
  if (recipient !== undefined) return recipient;
  return [...waiting].find((orgId) => failure.message.includes(`org ${orgId} `));
}

/** A thrown error as a SendFailure (code UNTRUSTED_KEY etc. from a HandoverError), or undefined for anything else. */
export function failureOf(err: unknown): SendFailure | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, details } = err as Error & { code?: unknown; details?: unknown };
  if (typeof code !== 'string') return undefined;
  return { code, message: err.message, ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}) };
}

/**
 * What to show for a send failure: the directory pointer when it is a
 * pending key change, else the failure's own message.
 */
export function sendFailureText(failure: SendFailure | null | undefined, pending: readonly { orgId: string }[], recipients: readonly string[] = []): string {
  const org = keyChangeOrgOf(failure, pending, recipients);
  if (org !== undefined) return t('keyChange.sendError', { org });
  return failure?.message ?? '';
}

/** Digits as a person types them: spaces, dashes and dots between groups do not count. */
export function normaliseDigits(text: string): string {
  return text.replace(/[\s\-.]+/g, '');
}
