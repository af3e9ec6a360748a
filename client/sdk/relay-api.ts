/**
 * Typed HTTP calls to the relay (shared/api.ts). Every response is checked
 * against its schema; every refusal becomes a HandoverError carrying the
 * relay's code, so callers can react to `RATE_LIMITED`, `REVOKED`, ...
 *
 * Every call has a bounded wait: a relay that accepts the connection and
 * never answers (a stalled process, a captive proxy) would otherwise hold
 * the caller for minutes. Past the timeout the call fails with UNAVAILABLE
 * naming the relay and the wait, so a person knows what to check.
 */
import { z } from 'zod';
import { BundlesResponse, ChallengeResponse, NetworkInfo, OrgDirectory, PrekeyStatus, ROUTES, RevocationList, SessionResponse, SocketTicketResponse, type RegisterDeviceRequest, HandoverError, relayErrorFromBody, type OneTimePrekey, type OrgCertificate, type PqPrekey, type Revocation, type SignedPrekey } from '../../shared';

/** How long one relay call may go unanswered, by default. */
export const DEFAULT_RELAY_TIMEOUT_MS = 10_000;

export interface RelayApiOptions {
  /** How long one call (request and answer body) may take before it fails with UNAVAILABLE. */
  timeoutMs?: number;
}

export class RelayApi {
  private token: string | undefined;
  readonly timeoutMs: number;
  /** Aborted by cancel(): every call in flight stops, and new ones are refused. */
  private readonly cancelled = new AbortController();

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    options: RelayApiOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
  }

  /** Give up on the relay: calls in flight fail now, later ones at once (an app that moved on without it). */
  cancel(): void {
    this.cancelled.abort();
  }

  setToken(token: string | undefined): void {
    this.token = token;
  }

  get hasToken(): boolean {
    return this.token !== undefined;
  }

  private async call<T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown, authenticated = false): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authenticated) {
      if (!this.token) throw new HandoverError('UNAUTHENTICATED', 'not signed in');
      headers.authorization = `Bearer ${this.token}`;
    }
    if (this.cancelled.signal.aborted) throw this.cancelledError();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([timeout, this.cancelled.signal]);
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(path, this.baseUrl), {
        method,
        headers,
        signal,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw this.unanswered(timeout, err);
    }
    let json: unknown;
    try {
      // The body is bounded too: a relay can stall after the headers.
      json = await res.json();
    } catch (err) {
      if (signal.aborted) throw this.unanswered(timeout, err);
      throw new HandoverError(res.ok ? 'INTERNAL' : 'UNAVAILABLE', `the relay answered ${res.status} without JSON`);
    }
    if (!res.ok) throw relayErrorFromBody(res.status, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new HandoverError('INTERNAL', `unexpected answer from the relay for ${method} ${path}`);
    return parsed.data;
  }

  /** Why a call got no answer: our timeout, cancel(), or the network itself. */
  private unanswered(timeout: AbortSignal, err: unknown): HandoverError {
    if (timeout.aborted) return relayTimeoutError(this.baseUrl, this.timeoutMs);
    if (this.cancelled.signal.aborted) return this.cancelledError();
    // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND, a TLS error).
    const cause = messageOf((err as { cause?: unknown } | undefined)?.cause) ?? messageOf(err) ?? String(err);
    return new HandoverError('UNAVAILABLE', `cannot reach the relay at ${this.baseUrl}: ${cause}`);
  }

  private cancelledError(): HandoverError {
    return new HandoverError('UNAVAILABLE', `stopped waiting for the relay at ${this.baseUrl}`);
  }

  network(): Promise<NetworkInfo> {
    return this.call(NetworkInfo, 'GET', ROUTES.network);
  }
  registerOrg(certificate: OrgCertificate): Promise<unknown> {
    return this.call(anything, 'POST', ROUTES.orgs, { certificate });
  }
  directory(): Promise<OrgDirectory> {
    return this.call(OrgDirectory, 'GET', ROUTES.orgs, undefined, true);
  }
  registerDevice(request: RegisterDeviceRequest): Promise<unknown> {
    return this.call(anything, 'POST', ROUTES.devices, request);
  }
  challenge(deviceId: string): Promise<ChallengeResponse> {
    return this.call(ChallengeResponse, 'POST', ROUTES.challenge, { deviceId });
  }
  session(deviceId: string, challengeId: string, signature: string): Promise<SessionResponse> {
    return this.call(SessionResponse, 'POST', ROUTES.session, { deviceId, challengeId, signature });
  }
  /** A single-use ticket for the next socket connection (the upgrade URL carries it as `?ticket=`). */
  socketTicket(): Promise<SocketTicketResponse> {
    return this.call(SocketTicketResponse, 'POST', ROUTES.socketTicket, undefined, true);
  }
  uploadSignedPrekeys(signedPrekey: SignedPrekey, pqPrekey: PqPrekey): Promise<unknown> {
    return this.call(anything, 'PUT', ROUTES.signedPrekeys, { signedPrekey, pqPrekey }, true);
  }
  uploadOneTimePrekeys(prekeys: OneTimePrekey[]): Promise<unknown> {
    return this.call(anything, 'POST', ROUTES.oneTimePrekeys, { prekeys }, true);
  }
  prekeyStatus(): Promise<z.infer<typeof PrekeyStatus>> {
    return this.call(PrekeyStatus, 'GET', ROUTES.prekeyStatus, undefined, true);
  }
  bundles(orgId: string): Promise<BundlesResponse> {
    return this.call(BundlesResponse, 'GET', ROUTES.bundles(orgId), undefined, true);
  }
  revocations(): Promise<z.infer<typeof RevocationList>> {
    return this.call(RevocationList, 'GET', ROUTES.revocations, undefined, true);
  }
  publishRevocation(revocation: Revocation): Promise<unknown> {
    return this.call(anything, 'POST', ROUTES.revocations, { revocation });
  }
}

/** Bodies of write routes carry nothing the client relies on. */
const anything = z.unknown();

/** The one wording for a relay that stayed silent, for HTTP calls and the socket alike. */
export function relayTimeoutError(baseUrl: string, timeoutMs: number): HandoverError {
  return new HandoverError('UNAVAILABLE', `the relay at ${baseUrl} did not answer within ${formatSeconds(timeoutMs)}`, { timeoutMs });
}

/** An error's message, also for errors from another realm (where instanceof Error fails). */
function messageOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : undefined;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1))} s`;
}
