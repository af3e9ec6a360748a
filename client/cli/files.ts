/**
 * JSON in and out of the CLI: certificates, enrolment requests and
 * referrals arrive as files (or stdin) and leave as files created readable
 * by the user only, since some hold survivor data or signed credentials.
 */
import { promises as fs } from 'node:fs';
import { HandoverError } from '../sdk';
import { type GlobalOptions, output } from './context';

export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new HandoverError('BAD_REQUEST', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HandoverError('BAD_REQUEST', `${file} is not valid JSON`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Write JSON to --out FILE, or print it. */
export async function writeJsonOut(opts: GlobalOptions, out: string | undefined, value: unknown, what: string): Promise<void> {
  if (out) {
    await fs.writeFile(out, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    output(opts, { written: out }, `${what} written to ${out}`);
  } else {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
