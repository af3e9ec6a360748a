/**
 * Typed HTTP calls to the relay (shared/api.ts). Every response is checked
 * against its schema; every refusal becomes a HandoverError carrying the
 * relay's code, so callers can react to `RATE_LIMITED`, `REVOKED`, ...
 */
import { z } from 'zod';
import { BundlesResponse, ChallengeResponse, NetworkInfo, OrgDirectory, PrekeyStatus, ROUTES, RevocationList, SessionResponse, SocketTicketResponse, type RegisterDeviceRequest, HandoverError, relayErrorFromBody, type OneTimePrekey, type OrgCertificate, type PqPrekey, type Revocation, type SignedPrekey } from '../../shared';

export class RelayApi {
  private token: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

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
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(path, this.baseUrl), {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new HandoverError('UNAVAILABLE', `cannot reach the relay at ${this.baseUrl}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new HandoverError(res.ok ? 'INTERNAL' : 'UNAVAILABLE', `the relay answered ${res.status} without JSON`);
    }
    if (!res.ok) throw relayErrorFromBody(res.status, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new HandoverError('INTERNAL', `unexpected answer from the relay for ${method} ${path}`);
    return parsed.data;
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


