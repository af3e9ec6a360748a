/**
 * Helpers for the CLI tests in this folder: run `handover` as a person
 * would (a process of its own, a clean environment, no terminal), and make
 * a staff device's profile folder on disk with the SDK — registered with a
 * relay when one is given — as `device init` + `device register` leave it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROUTES } from '../../../shared/api';
import { issueDeviceCertificate } from '../../../shared/certificates';
import { PWHASH_TEST_ONLY } from '../../../shared/crypto/types';
import { toB64u } from '../../../shared/encoding';
import { HandoverClient } from '../../../client/sdk';
import { FileStorage } from '../../../client/sdk/node';
import type { TestNetwork, TestOrg } from '../../support/network';
import { postJson } from '../../support/relay';

const ROOT = path.resolve(__dirname, '../../..');
export const BIN = path.join(ROOT, 'bin/handover.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only view of CLI output
}

/** Run `handover args…` with only PATH, HOME and NODE_ENV=test from outside, plus `env`. */
export function runCli(args: string[], env: Record<string, string>, home: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, NODE_ENV: 'test', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, json });
    });
  });
}

/** A staff device of `org` in `folder`, certified by its org; registered with the relay at `relayUrl` if given. */
export async function deviceOnDisk(
  network: TestNetwork,
  org: TestOrg,
  name: string,
  folder: string,
  passphrase: string,
  relayUrl = 'http://127.0.0.1:9',
): Promise<void> {
  const crypto = network.crypto;
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto,
    storage: await new FileStorage(folder).init(),
    passphrase,
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: org.orgId,
    deviceId: `${org.orgId}:${name}`,
    label: `Staff ${name}`,
    rootPublicKey: toB64u(network.root.publicKey),
    serverUrl: relayUrl,
  });
  const now = Date.now();
  const certificate = issueDeviceCertificate(crypto, {
    request: enrolmentRequest,
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 90 * 24 * 3600_000, // beyond the 30-day renewal warning
  });
  await client.importCertificates(org.certificate, certificate);
  if (relayUrl !== 'http://127.0.0.1:9') {
    await postJson(relayUrl, ROUTES.orgs, { certificate: org.certificate });
    await client.register();
  }
  await client.close();
}
