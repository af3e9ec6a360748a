/**
 * Key layout of the embedded store's LevelDB database. Ids cannot contain
 * `/` (validate.ts), so `/` separates the parts; numbers are zero-padded so
 * that byte order is numeric order (an inbox reads back in arrival order).
 *
 *   org/<orgId>                      current org certificate
 *   orgh/<orgId>/<n>                 every certificate the org ever had, oldest first
 *   dev/<deviceId>                   {"o": orgId, "c": certificate}
 *   rev/<issuerId>/<seq>             revocation JSON
 *   spk/<deviceId>                   signed prekeys JSON
 *   otpk/<deviceId>/<id>             one-time prekey JSON
 *   otph/<deviceId>                  highest one-time prekey id ever accepted
 *   sess/<tokenHash>                 {"d": deviceId, "e": expiresAt}
 *   seen/<messageId>                 {"f": fingerprint, "u": remembered until}
 *   env/<messageId>                  {"s": sender, "e": expiresAt}
 *   blob/<messageId>                 envelope bytes (read only when delivered)
 *   inbox/<deviceId>/<seq>           messageId (seq: one counter for the whole store)
 *   note/<deviceId>/<seq>            {"i": noticeId, "j": json, "e": expiresAt}
 *   meta/format                      layout version
 *
 * Challenges, socket tickets and rate-limit windows live in memory only:
 * they last seconds to a minute, and after a restart a client simply signs
 * in again (a lost challenge can never be used twice).
 */

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const PREFIX = {
  org: 'org/',
  orgHistory: 'orgh/',
  device: 'dev/',
  revocation: 'rev/',
  signedPrekeys: 'spk/',
  oneTimePrekey: 'otpk/',
  oneTimePrekeyHighest: 'otph/',
  session: 'sess/',
  seen: 'seen/',
  envelope: 'env/',
  blob: 'blob/',
  inbox: 'inbox/',
  notice: 'note/',
} as const;

export const keys = {
  org: (orgId: string) => `${PREFIX.org}${orgId}`,
  orgHistory: (orgId: string, n: number) => `${PREFIX.orgHistory}${orgId}/${pad(n, 6)}`,
  device: (deviceId: string) => `${PREFIX.device}${deviceId}`,
  revocation: (issuerId: string, seq: number) => `${PREFIX.revocation}${issuerId}/${pad(seq, 16)}`,
  signedPrekeys: (deviceId: string) => `${PREFIX.signedPrekeys}${deviceId}`,
  oneTimePrekey: (deviceId: string, id: number) => `${PREFIX.oneTimePrekey}${deviceId}/${pad(id, 16)}`,
  oneTimePrekeyHighest: (deviceId: string) => `${PREFIX.oneTimePrekeyHighest}${deviceId}`,
  session: (tokenHash: string) => `${PREFIX.session}${tokenHash}`,
  seen: (messageId: string) => `${PREFIX.seen}${messageId}`,
  envelope: (messageId: string) => `${PREFIX.envelope}${messageId}`,
  blob: (messageId: string) => `${PREFIX.blob}${messageId}`,
  inbox: (deviceId: string, seq: number) => `${PREFIX.inbox}${deviceId}/${pad(seq, 16)}`,
  notice: (deviceId: string, seq: number) => `${PREFIX.notice}${deviceId}/${pad(seq, 16)}`,
};

/** The parts after a prefix: `inbox/dev-a/0000000000000007` → ['dev-a', '0000000000000007']. */
export function keyParts(key: string, prefix: string): string[] {
  return key.slice(prefix.length).split('/');
}
