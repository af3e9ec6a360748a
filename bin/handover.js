#!/usr/bin/env node
// `handover` (and `npx handover`): runs the compiled CLI, one bundled file
// in dist/cli/ (built by `npm run build:cli`, which `npm ci` runs through
// `prepare`), or the TypeScript sources through tsx in a development tree
// whose build is missing or older than the sources (see cli-entry.js).
'use strict';
const { compiledEntry, staleReason, SOURCE_MAIN } = require('./cli-entry');

const compiled = compiledEntry();
if (compiled) {
  require(compiled).main(process.argv);
} else {
  if (process.stderr.isTTY && process.env.HANDOVER_CLI_FROM_SOURCE !== '1') {
    process.stderr.write(`handover: the compiled CLI in dist/ is ${staleReason()}; running the sources (slower). \`npm run build:cli\` makes it fast again.\n`);
  }
  require('tsx/cjs');
  require(SOURCE_MAIN).main(process.argv);
}
