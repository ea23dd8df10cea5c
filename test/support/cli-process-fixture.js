'use strict';
// A real process around the CLI's runAsProcess with a command that misbehaves in one chosen way, for
// test/integration/cli.test.ts: the guards must turn each into a JSON error and exit code 1.
require('tsx/cjs');
const { EventEmitter } = require('node:events');
const { PassThrough } = require('node:stream');
const { runAsProcess } = require('../../functions/cli.ts');

const commands = {
  // A stream nobody ends, awaited: nothing keeps the event loop alive, the promise never settles.
  pending: () => new Promise((resolve) => new PassThrough().on('end', () => resolve(0))),
  // A connection object emitting 'error' with no listener, as a dropped database client does.
  'error-event': () => {
    setTimeout(() => new EventEmitter().emit('error', new Error('Connection terminated unexpectedly')), 10);
    return new Promise((resolve) => setTimeout(() => resolve(0), 2000));
  },
  // A promise rejected with nobody waiting for it, while the command itself would still succeed.
  rejection: () => {
    Promise.reject(new Error('write EPIPE'));
    return new Promise((resolve) => setTimeout(() => resolve(0), 2000));
  },
  ok: () => {
    process.stdout.write('{"ok": true}\n');
    return Promise.resolve(0);
  },
};

runAsProcess(commands[process.argv[2]], undefined, 'postgres');
