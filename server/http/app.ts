/**
 * The relay's HTTP API (/v1, shared/api.ts). Every body is schema-checked,
 * every size capped, and every refusal — unknown route, malformed JSON,
 * oversized body included — is `{ "error": { "code", "message" } }`.
 */
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { ChallengeRequest, PublishRevocationRequest, RegisterDeviceRequest, RegisterOrgRequest, ROUTES, SessionRequest, UploadOneTimePrekeysRequest, UploadSignedPrekeysRequest, type NetworkInfo, HandoverError, Id } from '../../shared';
import type { RelayConfig } from '../config';
import { errorSummary, HTTP_STATUS, parseInput, toWireError } from '../errors';
import type { Logger } from '../logger';
import type { RelayMetrics } from '../metrics';
import type { AuthService } from '../services/auth';
import type { Registry } from '../services/registry';
import type { ActiveDevice } from '../services/trust';
import type { RateLimitStore, StoreLifecycle } from '../store';
import { serveWebApp } from './web-app';

export interface HttpDeps {
  config: RelayConfig;
  /** The probes ask it whether it answers; the per-address limit counts in it. */
  store: StoreLifecycle & RateLimitStore;
  auth: AuthService;
  registry: Registry;
  metrics: RelayMetrics;
  logger: Logger;
  networkInfo: NetworkInfo;
  /** False while shutting down: /readyz answers 503 so load balancers move away. */
  isAccepting: () => boolean;
}

/** JSON bodies are small (certificates, prekeys); envelopes travel on the socket. */
export const MAX_JSON_BODY_BYTES = 256 * 1024;

type SignedInDevice = ActiveDevice & { sessionExpiresAt: number };
type AuthedRequest = Request & { device?: SignedInDevice; sessionToken?: string };
type App = express.Express;

export function createHttpApp(deps: HttpDeps): App {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxyHops);
  app.set('etag', false);
  app.use(countRequests(deps));
  app.use(helmet());
  app.use(corsFor(deps.config));
  // Probes and metrics are outside the per-IP limit: load balancers poll them.
  probeRoutes(app, deps);
  app.use(limitPerAddress(deps));
  app.use(express.json({ limit: MAX_JSON_BODY_BYTES, strict: true }));
  const signedIn = requireDevice(deps.auth);
  directoryRoutes(app, deps, signedIn);
  signInRoutes(app, deps, signedIn);
  prekeyRoutes(app, deps, signedIn);
  revocationRoutes(app, deps, signedIn);
  if (deps.config.webApp) serveWebApp(app, deps.config.webApp);
  app.use((req, _res, next) => {
    next(new HandoverError('NOT_FOUND', `no route ${req.method} ${req.path.slice(0, 100)}`));
  });
  app.use(answerErrors(deps));
  return app;
}

/** Per route template, method and status: a metric, and a debug log line with the time taken. */
function countRequests({ metrics, logger }: HttpDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.httpRequests.inc({ route, method: req.method, status: String(res.statusCode) });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.debug({ method: req.method, route, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http');
    });
    next();
  };
}

function corsFor(config: RelayConfig) {
  return cors({
    origin: (origin, cb) => cb(null, origin !== undefined && config.corsOrigins.includes(origin)),
    methods: ['GET', 'POST', 'PUT'],
    allowedHeaders: ['content-type', 'authorization'],
    maxAge: 600,
  });
}

function probeRoutes(app: App, { store, metrics, isAccepting }: HttpDeps): void {
  app.get(ROUTES.health, (_req, res) => {
    res.json({ ok: true });
  });
  app.get(ROUTES.ready, async (_req, res) => {
    if (!isAccepting()) {
      res.status(503).json({ error: { code: 'UNAVAILABLE', message: 'shutting down' } });
      return;
    }
    try {
      await store.ping();
      res.json({ ok: true, store: store.kind });
    } catch {
      res.status(503).json({ error: { code: 'UNAVAILABLE', message: 'the store is not reachable' } });
    }
  });
  app.get(ROUTES.metrics, async (_req, res) => {
    res.set('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
}

/** Every other request counts against its client address (as `trust proxy` computes it). */
function limitPerAddress({ store, config }: HttpDeps) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const limit = await store.hitRateLimit(`ip:${req.ip ?? 'unknown'}`, 60_000, config.rateLimits.ipPerMinute);
    if (!limit.allowed) {
      res.set('retry-after', String(Math.ceil(limit.retryAfterMs / 1000)));
      throw new HandoverError('RATE_LIMITED', 'too many requests from this address; slow down', { retryAfterMs: limit.retryAfterMs });
    }
    next();
  };
}

/** Middleware: the request carries a live session token (`Authorization: Bearer`) of an active device. */
function requireDevice(auth: HttpDeps['auth']) {
  return async (req: AuthedRequest, _res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{32,128})$/i.exec(header);
    req.device = await auth.authenticate(match?.[1]);
    req.sessionToken = match?.[1];
    next();
  };
}

type SignedIn = ReturnType<typeof requireDevice>;

function deviceOf(req: AuthedRequest): SignedInDevice {
  if (!req.device) throw new HandoverError('UNAUTHENTICATED', 'sign in first');
  return req.device;
}

const orgIdParam = (req: Request): string => parseInput(Id, req.params.orgId, 'org id');

function directoryRoutes(app: App, { registry, store, config, networkInfo }: HttpDeps, signedIn: SignedIn): void {
  app.get(ROUTES.network, (_req, res) => {
    res.json(networkInfo);
  });
  app.post(ROUTES.orgs, async (req, res) => {
    const { certificate } = parseInput(RegisterOrgRequest, req.body, 'org registration');
    res.status(201).json(await registry.registerOrg(certificate));
  });
  app.get(ROUTES.orgs, signedIn, async (_req, res) => {
    res.json(await registry.directory());
  });
  app.get('/v1/orgs/:orgId', signedIn, async (req, res) => {
    res.json(await registry.orgEntry(orgIdParam(req)));
  });
  app.get('/v1/orgs/:orgId/bundles', signedIn, async (req: AuthedRequest, res) => {
    const orgId = orgIdParam(req);
    const requester = deviceOf(req).device.deviceId;
    // Per (requester, target org): nobody can drain another org's one-time prekeys.
    const limit = await store.hitRateLimit(`bundles:${requester}:${orgId}`, 60_000, config.rateLimits.bundlesPerMinute);
    if (!limit.allowed) {
      res.set('retry-after', String(Math.ceil(limit.retryAfterMs / 1000)));
      throw new HandoverError('RATE_LIMITED', `too many key bundle fetches for ${orgId}; try again shortly`, { retryAfterMs: limit.retryAfterMs });
    }
    res.json(await registry.bundles(orgId, requester));
  });
  app.post(ROUTES.devices, async (req, res) => {
    const request = parseInput(RegisterDeviceRequest, req.body, 'device registration');
    res.status(201).json(await registry.registerDevice(request));
  });
}

function signInRoutes(app: App, { auth }: HttpDeps, signedIn: SignedIn): void {
  app.post(ROUTES.challenge, async (req, res) => {
    const { deviceId } = parseInput(ChallengeRequest, req.body, 'challenge request');
    res.json(await auth.challenge(deviceId));
  });
  app.post(ROUTES.session, async (req, res) => {
    const { deviceId, challengeId, signature } = parseInput(SessionRequest, req.body, 'session request');
    res.json(await auth.session(deviceId, challengeId, signature));
  });
  // A single-use ticket for the next socket upgrade: the socket is authenticated before the upgrade (finding 7).
  app.post(ROUTES.socketTicket, signedIn, async (req: AuthedRequest, res) => {
    const device = deviceOf(req);
    if (!req.sessionToken) throw new HandoverError('UNAUTHENTICATED', 'sign in first');
    res.json(await auth.socketTicket(req.sessionToken, device.sessionExpiresAt, device.device.deviceId));
  });
}

function prekeyRoutes(app: App, { registry }: HttpDeps, signedIn: SignedIn): void {
  app.put(ROUTES.signedPrekeys, signedIn, async (req: AuthedRequest, res) => {
    const { signedPrekey, pqPrekey } = parseInput(UploadSignedPrekeysRequest, req.body, 'signed prekey upload');
    await registry.uploadSignedPrekeys(deviceOf(req).device.deviceId, signedPrekey, pqPrekey);
    res.json({ ok: true });
  });
  app.post(ROUTES.oneTimePrekeys, signedIn, async (req: AuthedRequest, res) => {
    const { prekeys } = parseInput(UploadOneTimePrekeysRequest, req.body, 'one-time prekey upload');
    res.json(await registry.uploadOneTimePrekeys(deviceOf(req).device.deviceId, prekeys));
  });
  app.get(ROUTES.prekeyStatus, signedIn, async (req: AuthedRequest, res) => {
    res.json(await registry.prekeyStatus(deviceOf(req).device.deviceId));
  });
}

function revocationRoutes(app: App, { registry }: HttpDeps, signedIn: SignedIn): void {
  app.get(ROUTES.revocations, signedIn, async (_req, res) => {
    res.json(await registry.revocations());
  });
  app.post(ROUTES.revocations, async (req, res) => {
    const { revocation } = parseInput(PublishRevocationRequest, req.body, 'revocation');
    res.status(201).json(await registry.publishRevocation(revocation));
  });
}

/** Every refusal as `{ error: { code, message } }` with its HTTP status; internal failures logged, never detailed. */
function answerErrors({ logger, metrics }: HttpDeps) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const wire = toWireError(bodyParserError(err) ?? err);
    if (wire.code === 'INTERNAL') logger.error({ err: errorSummary(err), route: req.path.slice(0, 100) }, 'unhandled error');
    else if (wire.code === 'UNAVAILABLE') metrics.storeErrors.inc();
    if (res.headersSent) return;
    res.status(HTTP_STATUS[wire.code]).json({ error: wire });
  };
}

/** body-parser's own errors (status + type) as typed errors. */
function bodyParserError(err: unknown): HandoverError | undefined {
  if (typeof err !== 'object' || err === null || !('status' in err)) return undefined;
  const { type, status } = err as { type: unknown; status: unknown };
  if (type === 'entity.too.large') return new HandoverError('PAYLOAD_TOO_LARGE', `request bodies are limited to ${MAX_JSON_BODY_BYTES} bytes`);
  if (type === 'entity.parse.failed') return new HandoverError('BAD_REQUEST', 'the request body is not valid JSON');
  if (typeof status === 'number' && status >= 400 && status < 500) return new HandoverError('BAD_REQUEST', 'the request body could not be read');
  return undefined;
}
