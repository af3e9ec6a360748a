/**
 * The unlocked session (issue 15): after an unlock, a small agent keeps the
 * profile's storage key in memory, answering only on a private socket in
 * the profile folder, so the next commands need no passphrase and no
 * Argon2id. It ends on `handover lock`, at HANDOVER_AGENT_TTL, when its
 * socket or folder is loosened or removed; it never writes the key
 * anywhere; a key that no longer opens the profile is dropped. Scripts
 * that pass HANDOVER_PASSPHRASE start no agent unless they set
 * HANDOVER_AGENT_TTL. Admin profiles never use it.
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { askAgent } from '../../../client/cli/agent/agent-client';
import { Vault } from '../../../client/sdk';
import { FileStorage } from '../../../client/sdk/node';
import { loadNodeCrypto } from '../../../shared/crypto/node';
import { TestNetwork } from '../../support/network';
import { type CliResult, deviceOnDisk, runCli } from './cli-process';

const PASSPHRASE = 'passphrase of the caseworker';
jest.setTimeout(120_000);

let dir: string;
let network: TestNetwork;
/** Every agent a test started, ended in afterAll if still alive. */
const pids = new Set<number>();

function cli(profile: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['--profile', profile, ...args], env, dir);
}

async function newDevice(name: string, passphrase = PASSPHRASE): Promise<string> {
  const folder = path.join(dir, name);
  await deviceOnDisk(network, network.addOrg(`ngo-${name}`, 'ngo'), name, folder, passphrase);
  return folder;
}

/** The pid of the agent serving `folder`, remembered for clean-up; undefined when none answers. */
async function agentPid(folder: string): Promise<number | undefined> {
  const answer = await askAgent(folder, { op: 'status' });
  const pid = answer?.ok ? answer.pid : undefined;
  if (pid) pids.add(pid);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'handover-agent-'));
  network = new TestNetwork(await loadNodeCrypto(), Date.now());
});
afterAll(() => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

it('unlock, then commands without the passphrase; lock ends the agent and the next command needs it again', async () => {
  const folder = await newDevice('dana');
  const unlocked = await cli(folder, ['unlock', '--json'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(unlocked.code).toBe(0);
  expect(unlocked.json).toMatchObject({ profile: folder, started: true });
  const pid = await agentPid(folder);
  expect(pid).toBeDefined();
  const socket = statSync(path.join(folder, 'agent.sock'));
  expect(socket.isSocket()).toBe(true);
  expect(socket.mode & 0o777).toBe(0o600);

  const inbox = await cli(folder, ['inbox', '--offline']);
  expect([inbox.code, inbox.stdout.trim()]).toEqual([0, 'No case threads.']);
  const again = await cli(folder, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(again.stdout).toMatch(/^Already unlocked until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);

  const locked = await cli(folder, ['lock']);
  expect(locked.stdout.trim()).toBe(`Locked: ${folder}`);
  await eventually(() => !alive(pid as number), 'the agent ends');
  expect(existsSync(path.join(folder, 'agent.sock'))).toBe(false);
  const needs = await cli(folder, ['inbox', '--offline']);
  expect(needs.code).toBe(2);
  expect(needs.stderr).toContain('error BAD_REQUEST: no passphrase');
  expect((await cli(folder, ['lock'])).stdout.trim()).toBe(`No unlocked session for ${folder}; it is locked.`);
});

it('a script with HANDOVER_PASSPHRASE starts no agent; with HANDOVER_AGENT_TTL set it does, and says until when', async () => {
  const folder = await newDevice('emre');
  const plain = await cli(folder, ['inbox', '--offline'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(plain.code).toBe(0);
  expect(await agentPid(folder)).toBeUndefined();
  const withTtl = await cli(folder, ['inbox', '--offline'], { HANDOVER_PASSPHRASE: PASSPHRASE, HANDOVER_AGENT_TTL: '10m' });
  expect(withTtl.stderr).toMatch(/unlocked until \d{4}-\d\d-\d\d \d\d:\d\d UTC[+-]\d\d:\d\d \(HANDOVER_AGENT_TTL; `handover lock` ends it now\)/);
  expect(await agentPid(folder)).toBeDefined();
  // HANDOVER_AGENT_TTL=0 turns the session off: the agent is not asked.
  const off = await cli(folder, ['inbox', '--offline'], { HANDOVER_AGENT_TTL: '0' });
  expect(off.stderr).toContain('error BAD_REQUEST: no passphrase');
  await cli(folder, ['lock']);
});

it('the agent ends by itself at HANDOVER_AGENT_TTL', async () => {
  const folder = await newDevice('amina');
  await cli(folder, ['unlock', '--for', '1s'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  const pid = await agentPid(folder);
  expect(pid).toBeDefined();
  await eventually(() => !alive(pid as number), 'the agent ends at its time');
  expect(existsSync(path.join(folder, 'agent.sock'))).toBe(false);
});

it('the key is never written anywhere, nor on the agent command line or in its environment', async () => {
  const folder = await newDevice('aigul');
  await cli(folder, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  const pid = (await agentPid(folder)) as number;
  const key = (await Vault.unlock(network.crypto, await new FileStorage(folder).init(), PASSPHRASE)).exportStorageKey();
  const forms = [Buffer.from(key).toString('base64url'), Buffer.from(key).toString('base64'), Buffer.from(key).toString('hex')];
  const everything = (d: string): Buffer[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(d, e.name);
      return e.isDirectory() ? everything(p) : e.isFile() ? [readFileSync(p)] : [];
    });
  const seen = [...everything(dir), readFileSync(`/proc/${pid}/cmdline`), readFileSync(`/proc/${pid}/environ`)];
  for (const content of seen) {
    expect(content.includes(Buffer.from(key))).toBe(false);
    for (const form of forms) expect(content.toString('latin1')).not.toContain(form);
  }
  // Nor does the long-lived agent keep the passphrase the command was given.
  expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain(PASSPHRASE);
  await cli(folder, ['lock']);
});

it('a loosened socket is not used by the CLI, and the agent itself ends rather than answer on it', async () => {
  const folder = await newDevice('kairat');
  await cli(folder, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  const pid = (await agentPid(folder)) as number;
  chmodSync(path.join(folder, 'agent.sock'), 0o666);
  const refused = await cli(folder, ['inbox', '--offline']);
  expect(refused.stderr).toContain('error BAD_REQUEST: no passphrase');
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    const conn = net.connect(path.join(folder, 'agent.sock'), () => conn.write('{"op":"key"}\n'));
    conn.on('data', (d: Buffer) => (text += d.toString()));
    conn.on('close', () => resolve(text));
    conn.on('error', () => resolve(text));
  });
  expect(answer).toBe('');
  await eventually(() => !alive(pid), 'the agent ends');
});

it('the agent ends when its profile folder is removed', async () => {
  const folder = await newDevice('saule');
  await cli(folder, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  const pid = (await agentPid(folder)) as number;
  rmSync(folder, { recursive: true, force: true });
  await eventually(() => !alive(pid), 'the agent ends');
});

it('a profile made again under a live agent: its old key is refused, that agent ended, and the passphrase asked', async () => {
  const folder = await newDevice('marat');
  await cli(folder, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  const pid = (await agentPid(folder)) as number;
  const other = await newDevice('marat-new', 'the passphrase of the new profile');
  for (const f of readdirSync(folder)) if (f !== 'agent.sock') rmSync(path.join(folder, f));
  cpSync(other, folder, { recursive: true });
  const needs = await cli(folder, ['inbox', '--offline']);
  expect(needs.stderr).toContain('error BAD_REQUEST: no passphrase');
  await eventually(() => !alive(pid), 'the stale agent ends');
  const opens = await cli(folder, ['inbox', '--offline'], { HANDOVER_PASSPHRASE: 'the passphrase of the new profile' });
  expect(opens.code).toBe(0);
});

it('durations are checked; admin profiles do not get a session', async () => {
  const folder = await newDevice('nurlan');
  const bad = await cli(folder, ['inbox', '--offline'], { HANDOVER_AGENT_TTL: 'a while', HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(bad.stderr).toContain('error BAD_REQUEST: HANDOVER_AGENT_TTL must be a duration such as 900 (seconds), 15m or 2h, or 0 for off');
  const long = await cli(folder, ['unlock', '--for', '25h'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(long.stderr).toContain('error BAD_REQUEST: --for may be at most 24h');
  const admin = path.join(dir, 'admin');
  const init = await cli(admin, ['org', 'init', '--org-id', 'ngo-admin'], { HANDOVER_PASSPHRASE: PASSPHRASE, HANDOVER_KDF: 'insecure-test' });
  expect(init.code).toBe(0);
  const refused = await cli(admin, ['unlock'], { HANDOVER_PASSPHRASE: PASSPHRASE });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`error BAD_REQUEST: ${admin} holds no staff device`);
  expect(existsSync(path.join(admin, 'agent.sock'))).toBe(false);
});
