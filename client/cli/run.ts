/**
 * How every CLI command runs: the global options it reads, and one wrapper
 * so that any error, wherever it is thrown, ends as a clear coded message
 * (and exit 2) instead of a stack trace.
 */
import type { Command } from 'commander';
import { HandoverError } from '../sdk';
import { explainClock } from './clock';
import { type GlobalOptions, fail, serverUrl } from './context';

type Action<A extends unknown[]> = (...args: A) => Promise<void>;

/** The global options (--profile, --server, --json), read when the command runs, not when it is registered. */
export function globalOptions(program: Command): GlobalOptions {
  return program.opts<GlobalOptions>();
}

/** Wrap an action so every error ends as a clear coded message. */
export function run<A extends unknown[]>(program: Command, action: Action<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = globalOptions(program);
    try {
      await action(...args);
    } catch (err) {
      // A clock error (a certificate "not valid yet", a send refused as from the future) says whose clock is off.
      fail(opts, await explainClock(err, serverUrl(opts)).catch(() => err));
    }
  };
}

/** A count of days and the like: refused unless a positive whole number. */
export function intOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new HandoverError('BAD_REQUEST', `${name} must be a positive whole number`);
  return n;
}
