/**
 * Challenge-response sign-in. The relay hands out a random single-use
 * challenge; the device signs it (bound to the network, device and challenge
 * ids) with its certified key and gets a short-lived random session token.
 * Only a hash of the token is stored, so a copy of Redis yields no sessions.
 *
 * Nobody learns from these unauthenticated routes whether a device id
 * exists or is revoked (finding 8): a challenge is issued for any id, and
 * every failed answer gets one refusal. Only a requester whose signature
 * verifies under the device's certified key is told REVOKED or expired.
 */
import { authSigningInput, type Crypto, fromB64u, toB64u, utf8, HandoverError } from '../../shared';
import type { RelayConfig } from '../config';
import type { SessionStore } from '../store';
import type { ActiveDevice, RelayTrust } from './trust';

/** The one refusal of a failed sign-in, whatever failed. */
export const SIGN_IN_REFUSED =
  'sign-in refused: unknown device, wrong signature, or an unknown, expired or already used challenge; ask for a new challenge and sign it with the device key';

/** A ticket as the relay issues it: 32 random bytes, canonical base64url. */
const TICKET_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** What a socket ticket stands for: one session of one device (the token only as its hash). */
interface StoredTicket {
  deviceId: string;
  tokenHash: string;
}

interface StoredChallenge {
  deviceId: string;
  challenge: string;
}

export class AuthService {
  /** Stands in for the key of an unknown device, so refusing it costs a signature check like any other. */
  private readonly decoyKey: Uint8Array;

  constructor(
    private readonly crypto: Crypto,
    private readonly trust: RelayTrust,
    private readonly store: SessionStore,
    private readonly config: RelayConfig,
    private readonly now: () => number,
  ) {
    this.decoyKey = crypto.signKeyPair().publicKey;
  }

  tokenHash(token: string): string {
    return toB64u(this.crypto.hash(utf8(token), 32));
  }

  /** A challenge for any well-formed device id: known, unknown, revoked or expired alike. */
  async challenge(deviceId: string): Promise<{ challengeId: string; challenge: string; expiresAt: number }> {
    const challengeId = toB64u(this.crypto.random(16));
    const challenge = toB64u(this.crypto.random(32));
    const value: StoredChallenge = { deviceId, challenge };
    await this.store.putChallenge(challengeId, JSON.stringify(value), this.config.challengeTtlMs);
    return { challengeId, challenge, expiresAt: this.now() + this.config.challengeTtlMs };
  }

  async session(deviceId: string, challengeId: string, signature: string): Promise<{ token: string; expiresAt: number }> {
    const refused = () => new HandoverError('UNAUTHENTICATED', SIGN_IN_REFUSED);
    // Taken (deleted) before anything else: a challenge is good for one try only.
    const stored = await this.store.takeChallenge(challengeId);
    if (!stored) throw refused();
    const { deviceId: boundTo, challenge } = JSON.parse(stored) as StoredChallenge;
    if (!this.crypto.equal(this.crypto.hash(utf8(boundTo), 32), this.crypto.hash(utf8(deviceId), 32))) throw refused();
    const registered = await this.trust.deviceKey(deviceId);
    const input = authSigningInput({ networkId: this.trust.anchor.networkId, deviceId, challengeId, challenge });
    const signed = this.crypto.verify(fromB64u(signature), input, registered ?? this.decoyKey);
    if (!registered || !signed) throw refused();
    // The requester holds the device key: it may learn that the device or its org is revoked or expired.
    await this.trust.activeDevice(deviceId);
    const token = toB64u(this.crypto.random(32));
    await this.store.putSession(this.tokenHash(token), deviceId, this.config.sessionTtlMs);
    return { token, expiresAt: this.now() + this.config.sessionTtlMs };
  }

  /**
   * A single-use ticket for one socket upgrade, bound to this session: its
   * device, and its expiry (the ticket never outlives the session). Only a
   * hash of the ticket is stored.
   */
  async socketTicket(token: string, sessionExpiresAt: number, deviceId: string): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = toB64u(this.crypto.random(32));
    const ttlMs = Math.max(1, Math.min(this.config.socketTicketTtlMs, sessionExpiresAt - this.now()));
    const value: StoredTicket = { deviceId, tokenHash: this.tokenHash(token) };
    await this.store.putSocketTicket(this.tokenHash(ticket), JSON.stringify(value), ttlMs);
    return { ticket, expiresAt: this.now() + ttlMs };
  }

  /**
   * Takes (uses up) a socket ticket and returns the active device behind it,
   * with its session's expiry. Refused: a missing, malformed, unknown, used
   * or expired ticket, a session that has ended since (revocation ends them
   * all), or a device or org no longer active.
   */
  async redeemSocketTicket(ticket: unknown): Promise<ActiveDevice & { sessionExpiresAt: number }> {
    if (typeof ticket !== 'string' || !TICKET_PATTERN.test(ticket)) {
      throw new HandoverError('UNAUTHENTICATED', 'a socket ticket is required: POST /v1/auth/socket-ticket, then connect with ?ticket=<ticket>');
    }
    const stored = await this.store.takeSocketTicket(this.tokenHash(ticket));
    if (!stored) throw new HandoverError('UNAUTHENTICATED', 'unknown, expired or already used socket ticket; get a new one for every connection');
    const { deviceId, tokenHash } = JSON.parse(stored) as StoredTicket;
    const session = await this.store.getSession(tokenHash);
    if (!session || session.deviceId !== deviceId || session.expiresAt <= this.now()) {
      throw new HandoverError('UNAUTHENTICATED', 'the session behind this socket ticket has ended; sign in again');
    }
    return { ...(await this.trust.activeDevice(deviceId)), sessionExpiresAt: session.expiresAt };
  }

  /** The active device behind a session token, or UNAUTHENTICATED / REVOKED. */
  async authenticate(token: unknown): Promise<ActiveDevice & { sessionExpiresAt: number }> {
    if (typeof token !== 'string' || token.length < 32 || token.length > 128) {
      throw new HandoverError('UNAUTHENTICATED', 'a session token is required (POST /v1/auth/challenge, then /v1/auth/session)');
    }
    const session = await this.store.getSession(this.tokenHash(token));
    if (!session || session.expiresAt <= this.now()) throw new HandoverError('UNAUTHENTICATED', 'the session has expired; sign in again');
    return { ...(await this.trust.activeDevice(session.deviceId)), sessionExpiresAt: session.expiresAt };
  }
}
