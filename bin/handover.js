#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx handover` works from a fresh clone.
process.env.HANDOVER_CLI_MAIN = '1';
require('tsx/cjs');
require('../client/cli/main.ts');
