/** Case commands (refer, inbox, show, ...) — wired to the referral workflow. */
import type { Command } from 'commander';

export function registerCaseCommands(_program: Command): void {}
