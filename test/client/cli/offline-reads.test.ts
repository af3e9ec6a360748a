/**
 * Reads from the device, the relay only if it answers (issue 15): `inbox`
 * and `show` open the local profile first and sync only when the relay can
 * be reached within HANDOVER_READ_TIMEOUT_MS. With the relay gone or
 * stalled (a server that accepts and never answers), they still print what
 * the device holds, with an "offline: … (last sync …)" line; --offline
 * skips the relay. Commands that need the relay fail within
 * HANDOVER_TIMEOUT_MS with UNAVAILABLE naming it. A missing profile is
 * NOT_FOUND naming the folder and how it was chosen.
 *
 * A real relay, a real referral from an NGO device (SDK, in this process)
 * to a shelter device whose profile is on disk and used through the CLI.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaseService, ReferralBody } from '../../../client/referral';
import type { HandoverClient } from '../../../client/sdk';
import { loadNodeCrypto } from '../../../shared/crypto/node';
import { TestNetwork } from '../../support/network';
import { type RelayFixture, enrolClient, startTestRelay } from '../../support/relay';
import { type CliResult, deviceOnDisk, runCli } from './cli-process';

const ROOT = path.resolve(__dirname, '../../..');
const PASSPHRASE = 'passphrase of the shelter device';
jest.setTimeout(120_000);

let dir: string;
let fx: RelayFixture;
let ngoClient: HandoverClient;
let threadId: string;
/** Accepts connections and never answers. */
let stalled: net.Server;
let stalledUrl: string;
const held: net.Socket[] = [];
/** A port nobody listens on. */
let closedUrl: string;

const shelterProfile = () => path.join(dir, 'shelter');
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['--profile', shelterProfile(), ...args], { HANDOVER_PASSPHRASE: PASSPHRASE, ...env }, dir);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-cli-offline-'));
  const network = new TestNetwork(await loadNodeCrypto(), Date.now());
  fx = await startTestRelay(network, { logLevel: 'silent' });
  const shelter = network.addOrg('shelter-ist', 'shelter');
  await deviceOnDisk(network, shelter, 'amina', shelterProfile(), PASSPHRASE, fx.url);
  ngoClient = await enrolClient(fx, network.addOrg('ngo-taraz', 'ngo'), 'dana');
  const ngo = new CaseService({ transport: ngoClient, crypto: fx.crypto });
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(ROOT, 'examples/referral.json'), 'utf8')));
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  threadId = (await ngo.refer(body)).threadId;
  ngo.dispose();

  stalled = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  stalledUrl = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => stalled.close(() => resolve()));
  await ngoClient?.close();
  await fx?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('with the relay up, inbox syncs (the referral arrives) and says nothing about being offline', async () => {
  const r = await cli(['--server', fx.url, 'inbox', '--json']);
  expect(r.code).toBe(0);
  expect(r.json.threads).toEqual([expect.objectContaining({ threadId, status: 'sent' })]);
  expect(r.stderr).not.toContain('offline');
});

it('with the relay gone, inbox and show still print what the device holds, with the last sync and why', async () => {
  const inbox = await cli(['--server', closedUrl, 'inbox', '--json']);
  expect(inbox.code).toBe(0);
  expect(inbox.json.threads).toEqual([expect.objectContaining({ threadId })]);
  expect(inbox.stderr).toMatch(new RegExp(`offline: showing what this device holds \\(last sync \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC[+-]\\d\\d:\\d\\d[^)]*\\); cannot reach the relay at ${closedUrl}`));
  const show = await cli(['--server', closedUrl, 'show', threadId]);
  expect(show.code).toBe(0);
  expect(show.stdout).toContain(threadId);
  expect(show.stderr).toContain('offline: showing what this device holds');
});

it('with a stalled relay (accepts, never answers), inbox gives up after HANDOVER_READ_TIMEOUT_MS and shows the device', async () => {
  const r = await cli(['--server', stalledUrl, 'inbox'], { HANDOVER_READ_TIMEOUT_MS: '800' });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(threadId);
  expect(r.stderr).toContain(`; the relay at ${stalledUrl} did not answer within 0.8 s`);
});

it('--offline does not contact the relay at all, and says so', async () => {
  // Were the relay contacted, this would wait the full minute the test allows.
  const r = await cli(['--server', stalledUrl, 'show', threadId, '--offline', '--json'], { HANDOVER_READ_TIMEOUT_MS: '600000', HANDOVER_TIMEOUT_MS: '600000' });
  expect(r.code).toBe(0);
  expect(r.json.threadId).toBe(threadId);
  expect(r.stderr).toMatch(/^… offline \(--offline\): showing what this device holds \(last sync /m);
});

it('a command that needs the relay fails within HANDOVER_TIMEOUT_MS with UNAVAILABLE naming it; --offline is refused there', async () => {
  const ack = await cli(['--server', stalledUrl, 'ack', threadId], { HANDOVER_TIMEOUT_MS: '800' });
  expect(ack.code).toBe(2);
  expect(ack.stderr).toContain(`error UNAVAILABLE: the relay at ${stalledUrl} did not answer within 0.8 s`);
  expect(ack.stderr).toContain('Is the relay running?');
  const offline = await cli(['ack', threadId, '--offline']);
  expect(offline.code).toBe(2);
  expect(offline.stderr).toContain('error BAD_REQUEST: --offline is for the read commands');
  const bad = await cli(['inbox'], { HANDOVER_TIMEOUT_MS: 'soon' });
  expect(bad.stderr).toContain('error BAD_REQUEST: HANDOVER_TIMEOUT_MS must be a whole number of milliseconds');
});

it('no profile: NOT_FOUND naming the folder and how it was chosen, and no folder is left behind', async () => {
  const home = path.join(dir, 'fresh-home');
  mkdirSync(home);
  const byDefault = await runCli(['refer', path.join(ROOT, 'examples/referral.json')], { HANDOVER_PASSPHRASE: PASSPHRASE }, home);
  const folder = path.join(home, '.handover', 'default');
  expect(byDefault.code).toBe(2);
  expect(byDefault.stderr).toContain(`error NOT_FOUND: no Handover profile in ${folder} (the default; pick another with --profile <dir> or HANDOVER_PROFILE); set one up there with \`handover device init\``);
  expect(existsSync(folder)).toBe(false);
  const fromEnv = await runCli(['inbox', '--json'], { HANDOVER_PROFILE: path.join(home, 'elsewhere') }, home);
  expect(fromEnv.json.error).toMatchObject({ code: 'NOT_FOUND', details: { profile: path.join(home, 'elsewhere') } });
  expect(fromEnv.json.error.message).toContain('(from HANDOVER_PROFILE)');
});
