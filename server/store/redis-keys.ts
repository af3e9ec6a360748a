/**
 * Redis key layout. Every key carries a hash tag (`{...}`) naming what it
 * belongs to, and each Lua script or MULTI only touches keys sharing one
 * tag, so the layout works unchanged on Redis Cluster:
 *
 *   {dir}        directory: org and device certificates (and every org's certificate history), org membership
 *   {rev}        revocation logs and per-issuer heads
 *   {<device>}   prekeys, session index, notices, and the inbox: stream, message index,
 *                the bytes of envelopes to this device alone, and replay memory
 *   {<message>}  the bytes of an envelope to several devices (kept once) and who has not acked it
 *   {<token>}    one session;  {<challenge>}  one challenge;  {<ticket>}  one socket ticket
 *   {expiry}     the sorted set of pending envelope expiries ("<message>/<device>")
 *
 * Ids are validated (validate.ts) so they cannot contain braces; device ids
 * hold one colon (`<orgId>:<name>`), which is inert inside a hash tag.
 */
import { HandoverError } from '../../shared';

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{0,64}$/;

export type RedisKeys = ReturnType<typeof redisKeys>;

export function redisKeys(prefix: string) {
  if (!PREFIX_PATTERN.test(prefix)) throw new HandoverError('BAD_REQUEST', 'key prefix may use letters, digits and _ . : - only');
  const p = prefix;
  return {
    orgs: `${p}{dir}:orgs`,
    /** List of every certificate ever registered for the org, oldest first. */
    orgHistory: (orgId: string) => `${p}{dir}:org-history:${orgId}`,
    deviceCerts: `${p}{dir}:device-certs`,
    deviceOrgs: `${p}{dir}:device-orgs`,
    /** Sorted set of "<orgId>:<deviceId>" (score 0), so one org's devices are a lexicographic range. */
    orgMembers: `${p}{dir}:org-members`,

    revocationHeads: `${p}{rev}:heads`,
    revocationLog: (issuerId: string) => `${p}{rev}:log:${issuerId}`,

    signedPrekeys: (deviceId: string) => `${p}spk:{${deviceId}}`,
    oneTimePrekeys: (deviceId: string) => `${p}otpk:{${deviceId}}`,
    oneTimePrekeyIds: (deviceId: string) => `${p}otpk-ids:{${deviceId}}`,
    oneTimePrekeyHighest: (deviceId: string) => `${p}otpk-highest:{${deviceId}}`,

    challenge: (challengeId: string) => `${p}challenge:{${challengeId}}`,
    session: (tokenHash: string) => `${p}session:{${tokenHash}}`,
    socketTicket: (ticketHash: string) => `${p}socket-ticket:{${ticketHash}}`,
    deviceSessions: (deviceId: string) => `${p}sessions:{${deviceId}}`,

    rateWindow: (key: string, window: number) => `${p}rate:{${key}}:${window}`,

    envelope: (messageId: string) => `${p}env:{${messageId}}`,
    pending: (messageId: string) => `${p}pending:{${messageId}}`,
    inbox: (deviceId: string) => `${p}inbox:{${deviceId}}`,
    inboxIndex: (deviceId: string) => `${p}inbox-index:{${deviceId}}`,
    inboxBodies: (deviceId: string) => `${p}inbox-body:{${deviceId}}`,
    /** Replay memory of the message ids this device was sent: id -> "<until>:<fingerprint>", and ids by until. */
    replay: (deviceId: string) => `${p}replay:{${deviceId}}`,
    replayDue: (deviceId: string) => `${p}replay-due:{${deviceId}}`,
    /** Stream of notices kept for a device until it acks them (expiry notices). */
    notices: (deviceId: string) => `${p}notices:{${deviceId}}`,

    expiries: `${p}{expiry}:due`,
  };
}
