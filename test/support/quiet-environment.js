// Jest's node environment, quiet unless a test fails. What the code under test (or a test) writes to the
// console, process.stdout or process.stderr is held back: dropped when the test passes, written to stderr
// under the test's name when it fails (just before jest's report of that file). Output outside any test (beforeAll, afterAll) is
// held for the whole file and written if anything in the file failed. Child processes are the tests'
// business: they capture their children's output (support/cli.ts) or discard it (scripts/local-servers.ts).
const { format } = require('node:util');
const { default: NodeEnvironment } = require('jest-environment-node');

class QuietEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
    /** Output of the running test, or of the file outside tests; each entry is one write. */
    this.held = [];
    this.fileHeld = [];
    this.inTest = false;
    this.failed = false;
    const hold = (chunk) => {
      (this.inTest ? this.held : this.fileHeld).push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    };
    const global = this.global;
    for (const name of ['stdout', 'stderr']) {
      const real = process[name];
      // Everything but `write` is the real stream's; a test that swaps `write` (and restores it) swaps ours.
      let write = (chunk, encoding, callback) => {
        hold(chunk);
        const done = typeof encoding === 'function' ? encoding : callback;
        if (done) process.nextTick(done);
        return true;
      };
      const held = new Proxy(real, {
        get: (target, property) => {
          if (property === 'write') return write;
          const value = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
        set: (target, property, value) => {
          if (property === 'write') write = value;
          else Reflect.set(target, property, value, target);
          return true;
        },
      });
      Object.defineProperty(global.process, name, { configurable: true, enumerable: true, get: () => held });
    }
    const console = {};
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'table', 'group', 'groupCollapsed']) {
      console[method] = (...args) => hold(`console.${method}: ${format(...args)}\n`);
    }
    console.dir = (value) => hold(`console.dir: ${format(value)}\n`);
    console.assert = (condition, ...args) => {
      if (!condition) hold(`console.assert: Assertion failed${args.length ? `: ${format(...args)}` : ''}\n`);
    };
    this.quietConsole = console;
  }

  async setup() {
    await super.setup();
    // Jest installs its own console after the constructor; the quiet one replaces its printing methods.
    Object.assign(this.global.console, this.quietConsole);
  }

  handleTestEvent(event, state) {
    if (event.name === 'test_start') {
      this.inTest = true;
      this.held = [];
    } else if (event.name === 'test_done') {
      this.inTest = false;
      if (event.test.errors.length > 0) {
        this.failed = true;
        this.flush(testName(event.test), this.held);
      }
      this.held = [];
    } else if (event.name === 'hook_failure' || (event.name === 'run_finish' && state.unhandledErrors.length > 0)) {
      this.failed = true;
    }
  }

  async teardown() {
    if (this.failed) this.flush('outside the tests', this.fileHeld);
    await super.teardown();
  }

  /** Writes held output to the real stderr; jest's worker forwards it, after or beside the failure report. */
  flush(where, chunks) {
    if (chunks.length === 0) return;
    process.stderr.write(`\n── output of ${this.testPath} › ${where} ──\n${chunks.join('')}── end of output ──\n`);
  }
}

function testName(test) {
  const names = [];
  for (let block = test; block && block.name !== 'ROOT_DESCRIBE_BLOCK'; block = block.parent) names.unshift(block.name);
  return names.join(' › ');
}

module.exports = QuietEnvironment;
