/**
 * `handover watch` and `handover due` end to end, as a shelter would run
 * them: a real relay process on a real redis-server, the shelter's profile
 * on disk opened by the CLI, the NGO a real SDK device in this process.
 *
 * watch is spawned with both notification hooks configured (a script that
 * records its arguments and environment, and a local HTTP server), prints
 * the NGO's referral and note as they arrive and the referral's deadline,
 * reconnects by itself after the relay is killed and restarted, and stops
 * cleanly on SIGTERM. What the hooks received is checked for every value
 * of the referral's personal fields, the case code and the thread id.
 * Then `due` lists the deadline in the user's time zone (TZ).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaseService } from '../../client/referral/cases/case-service';
import { ReferralBody } from '../../client/referral/domain/schemas';
import { HandoverClient } from '../../client/sdk';
import { FileStorage } from '../../client/sdk/node';
import { ROUTES } from '../../shared/api';
import { issueDeviceCertificate } from '../../shared/certificates';
import { loadNodeCrypto } from '../../shared/crypto/node';
import { type Crypto, PWHASH_TEST_ONLY } from '../../shared/crypto/types';
import { toB64u } from '../../shared/encoding';
import { TestNetwork, type TestOrg } from '../support/network';
import { startRedis, type TestRedis } from '../support/redis';
import { enrolClient, postJson } from '../support/relay';
import { OPEN_LIMITS, type RelayProcess, spawnRelay } from '../support/relay-process';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/handover.js');
const PASSPHRASE = 'passphrase of the shelter device';
const TZ = 'Asia/Almaty'; // UTC+5 all year: the shown offset is known
jest.setTimeout(180_000);

let dir: string;
let redis: TestRedis;
let relay: RelayProcess;
let crypto: Crypto;
let network: TestNetwork;
let hookServer: Server;
let hookUrl: string;
const posted: unknown[] = [];
const clients: HandoverClient[] = [];
let watch: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-watch-'));
  crypto = await loadNodeCrypto();
  network = new TestNetwork(crypto, Date.now());
  redis = await startRedis();
  relay = await spawnRelay({ REDIS_URL: redis.url, HANDOVER_ROOT_PUBLIC_KEY: toB64u(network.root.publicKey), ...OPEN_LIMITS });
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      posted.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(body) as unknown });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  watch?.kill('SIGKILL');
  for (const c of clients) await c.close();
  await relay?.kill();
  await redis?.destroy();
  await new Promise((resolve) => hookServer?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A registered device of `org` whose profile lives on disk, as `device init` + `device register` leave it. */
async function enrolOnDisk(org: TestOrg, name: string, folder: string): Promise<void> {
  await postJson(relay.url, ROUTES.orgs, { certificate: org.certificate });
  const { client, enrolmentRequest } = await HandoverClient.createProfile({
    crypto,
    storage: await new FileStorage(folder).init(),
    passphrase: PASSPHRASE,
    pwhashLimits: PWHASH_TEST_ONLY,
    orgId: org.orgId,
    deviceId: `${org.orgId}:${name}`,
    label: `Staff ${name}`,
    rootPublicKey: toB64u(network.root.publicKey),
    serverUrl: relay.url,
  });
  const now = Date.now();
  const certificate = issueDeviceCertificate(crypto, {
    request: enrolmentRequest,
    orgCertificate: org.certificate,
    orgPrivateKey: org.keys.privateKey,
    role: 'caseworker',
    issuedAt: now - 60_000,
    expiresAt: now + 30 * 24 * 3600_000,
  });
  await client.importCertificates(org.certificate, certificate);
  await client.register();
  await client.close();
}

const cliEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'test', TZ, HANDOVER_PASSPHRASE: PASSPHRASE, ...extra });
const cliArgs = (args: string[]) => [BIN, '--profile', path.join(dir, 'shelter'), '--server', relay.url, ...args];

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(args), { cwd: dir, env: cliEnv(), timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Output of a running process, and a way to wait for a line. */
class Output {
  text = '';
  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer) => (this.text += c.toString('utf8')));
  }
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text);
      if (match) return match;
      if (Date.now() > until) throw new Error(`no ${pattern} within ${timeoutMs} ms in:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every string in the referral's survivor groups (and its case code). */
function personalValues(body: ReferralBody): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const group of [body.identity, body.traffickingContext, body.riskSafety, body.healthNeeds, body.childGuardian]) walk(group);
  // Short pick-list codes ("KZ", "ru", "high") would match by chance; the test looks for the values that identify.
  return out.filter((s) => s.length >= 5);
}

it('watch prints messages and deadlines, reconnects, tells the hooks nothing about the case, and stops on SIGTERM; due lists the deadline in the user time zone', async () => {
  const ngoOrg = network.addOrg('ngo-taraz', 'ngo');
  const shelterOrg = network.addOrg('shelter-ist', 'shelter');
  await enrolOnDisk(shelterOrg, 'amina', path.join(dir, 'shelter'));
  const ngoClient = await enrolClient({ url: relay.url, crypto, network }, ngoOrg, 'dana');
  clients.push(ngoClient);
  let ngoConnected = true;
  ngoClient.on('connection', (state) => (ngoConnected = state === 'connected'));
  const ngo = new CaseService({ transport: ngoClient });

  const recorder = path.join(dir, 'record-args.js');
  const recorded = path.join(dir, 'hook-calls.jsonl');
  writeFileSync(
    recorder,
    `require('node:fs').appendFileSync(${JSON.stringify(recorded)}, JSON.stringify({ argv: process.argv.slice(2), env: process.env }) + '\\n');\n`,
  );

  watch = spawn(process.execPath, cliArgs(['watch', '--every', '1s', '--batch', '1s']), {
    cwd: dir,
    env: cliEnv({ HANDOVER_NOTIFY_COMMAND: JSON.stringify([process.execPath, recorder, 'team-intake']), HANDOVER_NOTIFY_URL: hookUrl }),
  });
  const exited = new Promise<number | null>((resolve) => watch!.once('exit', (code) => resolve(code)));
  const out = new Output(watch.stdout!);
  const err = new Output(watch.stderr!);
  await err.waitFor(/watching as shelter-ist:amina/);

  // An emergency referral: its first response is due in 24 h, inside the default window.
  const body = ReferralBody.parse(JSON.parse(readFileSync(path.join(ROOT, 'examples/referral.json'), 'utf8')));
  body.header.priority = 'emergency';
  body.header.coordinators = [];
  body.consent.coveredOrgIds = ['shelter-ist'];
  const { threadId } = await ngo.refer(body);
  await out.waitFor(new RegExp(`message   thread ${threadId}: referral\\.create from ngo-taraz  NEW REFERRAL for your org`));
  const deadline = await out.waitFor(new RegExp(`deadline  thread ${threadId}: respond: acknowledge, request info, accept or decline, due (.*) \\(in (23 h 5\\d min|24 h)\\)`));
  expect(deadline[1]).toContain('GMT+5');

  await ngo.note(threadId, 'Transport arranged for tomorrow morning');
  await out.waitFor(new RegExp(`message   thread ${threadId}: note from ngo-taraz\\n`));

  // The relay dies and comes back on the same address: watch reconnects by itself and keeps printing.
  relay = await relay.restart();
  await err.waitFor(/connection to the relay lost; reconnecting by itself/);
  await err.waitFor(/reconnected after/, 30_000);
  await waitUntil(() => ngoConnected, 30_000, 'the NGO device to reconnect');
  await ngo.note(threadId, 'Interpreter confirmed');
  await waitUntil(() => out.text.split(`message   thread ${threadId}: note from ngo-taraz`).length === 3, 30_000, 'the second note');

  // Hooks are called after a batch window; then stop.
  await waitUntil(() => posted.length >= 3, 15_000, 'three webhook calls');
  watch.kill('SIGTERM');
  expect(await exited).toBe(0);
  if (process.env.DEBUG_WATCH) process.stderr.write(`watch stdout:\n${out.text}\nwatch stderr:\n${err.text}\n`);
  expect(err.text).toContain('SIGTERM: stopping');
  expect(err.text.slice(err.text.indexOf('SIGTERM: stopping'))).not.toContain('connection to the relay lost');
  expect(out.text).not.toContain('TRZ-2026-0147');

  // What the hooks were told: kinds, counts and fixed words only.
  const calls = readFileSync(recorded, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { argv: string[]; env: Record<string, string> });
  const argvs = calls.map((c) => c.argv);
  expect(argvs).toEqual(
    expect.arrayContaining([
      ['team-intake', 'new-referral', '1', 'new referral for your org'],
      ['team-intake', 'deadline', '1', 'deadline in 24 h'],
      ['team-intake', 'new-message', '1', 'new message in a case'],
    ]),
  );
  for (const c of calls) {
    expect(Object.keys(c.env).sort()).toEqual(expect.arrayContaining(['PATH']));
    expect(Object.keys(c.env).filter((k) => k.startsWith('HANDOVER'))).toEqual([]);
  }
  const bodies = posted.map((p) => (p as { body: { kind: string; count: number; text: string; at: string } }).body);
  expect(posted.every((p) => (p as { method: string; contentType: string }).method === 'POST' && (p as { contentType: string }).contentType === 'application/json')).toBe(true);
  expect(bodies.map((b) => b.kind).sort()).toEqual(expect.arrayContaining(['deadline', 'new-message', 'new-referral']));
  for (const b of bodies) expect(Object.keys(b).sort()).toEqual(['at', 'count', 'kind', 'text']);
  const told = JSON.stringify({ argvs, bodies });
  const secrets = [...personalValues(body), body.identity.caseCode, threadId, 'ngo-taraz', 'shelter-ist', body.header.referringPrimaryCaseWorker.name];
  expect(secrets.length).toBeGreaterThan(15);
  for (const value of secrets) expect(told).not.toContain(value);

  // due, in the user's time zone and as JSON.
  const due = await cli(['due']);
  if (process.env.DEBUG_WATCH) process.stderr.write(`due:\n${due.stdout}\n`);
  expect(due.code).toBe(0);
  expect(due.stdout).toContain('0 overdue, 1 due within 24 h (times in Asia/Almaty):');
  expect(due.stdout).toContain(`due      ${threadId}  TRZ-2026-0147   emergency respond: acknowledge, request info, accept or decline`);
  expect(due.stdout).toMatch(/GMT\+5 \(in 2[34] h/);
  const dueJson = await cli(['due', '--json', '--within', '1h']);
  expect(JSON.parse(dueJson.stdout)).toMatchObject({ timeZone: TZ, windowMs: 3_600_000, items: [] });
  const wide = JSON.parse((await cli(['due', '--json', '--within', '2d'])).stdout) as { items: Array<Record<string, unknown>> };
  expect(wide.items).toEqual([expect.objectContaining({ threadId, kind: 'response', mine: true, overdue: false, priority: 'emergency' })]);
  const bad = await cli(['due', '--within', 'soon']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--within must be a whole number and a unit');
  ngo.dispose();
});
