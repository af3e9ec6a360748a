/**
 * Shared helpers for the HTTP API tests: supertest against a running relay,
 * sign-in by hand, and the one assertion every refusal must pass (JSON error
 * shape, never HTML, never a stack trace).
 */
import request from 'supertest';
import type { Response } from 'supertest';
import { authSigningInput, ROUTES } from '../../../shared/api';
import { toB64u } from '../../../shared/encoding';
import type { TestDevice, TestNetwork } from '../../support/network';
import type { RelayFixture } from '../../support/relay';

export type Agent = ReturnType<typeof request>;

export function api(fx: { url: string }): Agent {
  return request(fx.url);
}

/** A response body must never look like an HTML page or carry a stack trace. */
export function expectNoLeak(res: Response): void {
  const text = res.text ?? '';
  expect(text).not.toMatch(/<html|<!DOCTYPE|<pre>/i);
  expect(text).not.toMatch(/\bat [\w.<>]+ \(|\n\s+at |node_modules|\.ts:\d+/);
  expect(text).not.toContain('"stack"');
}

/** The refusal shape: status, JSON content type, `{ error: { code, message } }`. */
export function expectError(res: Response, status: number, code: string): { code: string; message: string; details?: Record<string, unknown> } {
  if (res.status !== status || (res.body as { error?: { code?: string } })?.error?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${res.text?.slice(0, 300)}`);
  }
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expectNoLeak(res);
  const error = (res.body as { error: { code: string; message: string; details?: Record<string, unknown> } }).error;
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(Object.keys(res.body as object)).toEqual(['error']);
  return error;
}

/** A JSON success with this status. */
export function expectOk(res: Response, status = 200): Record<string, unknown> {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status} ${res.text?.slice(0, 300)}`);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return res.body as Record<string, unknown>;
}

export function registerOrg(fx: { url: string }, certificate: unknown) {
  return api(fx).post(ROUTES.orgs).send({ certificate });
}

export function registerDevice(fx: { url: string }, device: TestDevice, overrides: Record<string, unknown> = {}) {
  return api(fx)
    .post(ROUTES.devices)
    .send({
      certificate: device.certificate,
      signedPrekey: device.signedPrekey,
      pqPrekey: device.pqPrekey,
      oneTimePrekeys: device.oneTimePrekeys,
      ...overrides,
    });
}

/** Register the device's org (idempotent) and the device; fails the test unless both succeed. */
export async function enrol(fx: { url: string }, device: TestDevice): Promise<void> {
  const org = await registerOrg(fx, device.org.certificate);
  if (org.status !== 201) throw new Error(`org registration failed: ${org.text}`);
  const res = await registerDevice(fx, device);
  if (res.status !== 201) throw new Error(`device registration failed: ${res.text}`);
}

export async function challenge(fx: { url: string }, deviceId: string): Promise<{ challengeId: string; challenge: string; expiresAt: number }> {
  const res = await api(fx).post(ROUTES.challenge).send({ deviceId });
  return expectOk(res) as { challengeId: string; challenge: string; expiresAt: number };
}

/** The signature a device makes to sign in with a challenge. */
export function signChallenge(
  fx: Pick<RelayFixture, 'crypto'> & { network: TestNetwork },
  signer: TestDevice,
  fields: { deviceId: string; challengeId: string; challenge: string },
): string {
  const { deviceId, challengeId, challenge } = fields; // exactly these: extra fields would change what is signed
  const input = authSigningInput({ networkId: fx.network.anchor.networkId, deviceId, challengeId, challenge });
  return toB64u(fx.crypto.sign(input, signer.keys.sign.privateKey));
}

/** The relay's answer to a genuine sign-in (fresh challenge, signed with the device's own key): a session, or why not. */
export async function signInAnswer(fx: RelayFixture, device: TestDevice): Promise<Response> {
  const deviceId = device.keys.deviceId;
  const ch = await challenge(fx, deviceId);
  const signature = signChallenge(fx, device, { deviceId, challengeId: ch.challengeId, challenge: ch.challenge });
  return api(fx).post(ROUTES.session).send({ deviceId, challengeId: ch.challengeId, signature });
}

/** Challenge-response sign-in; returns the session token. */
export async function signIn(fx: RelayFixture, device: TestDevice): Promise<string> {
  const deviceId = device.keys.deviceId;
  const ch = await challenge(fx, deviceId);
  const signature = signChallenge(fx, device, { deviceId, challengeId: ch.challengeId, challenge: ch.challenge });
  const res = await api(fx).post(ROUTES.session).send({ deviceId, challengeId: ch.challengeId, signature });
  return (expectOk(res) as { token: string }).token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A JSON body just over the relay's 256 KiB JSON limit. */
export const OVERSIZED_JSON = JSON.stringify({ padding: 'x'.repeat(256 * 1024 + 16) });

