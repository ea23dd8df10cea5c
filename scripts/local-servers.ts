/**
 * Throwaway servers for tests, the demo and the benchmarks: PostgreSQL and Redis from Debian's packages
 * and s3rver from npm, each on a free loopback port, each stopped by `stop()`. Nothing here depends on a
 * server the machine happens to run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startS3Proxy } from '../test/support/s3-proxy';

export interface RunningServer {
  readonly port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? execFileSync('ls', [base]).toString().trim().split('\n').filter(Boolean) : [];
  const newest = versions.map(Number).filter((v) => !Number.isNaN(v)).sort((a, b) => b - a)[0];
  if (newest === undefined) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: install the Debian package postgresql');
  return join(base, String(newest), 'bin');
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export interface RunningPostgres extends RunningServer {
  /** Connection URL of the `postgres` superuser database; no password (trust auth on loopback). */
  readonly url: string;
  readonly binDir: string;
  urlFor(database: string): string;
}

/** initdb + pg_ctl start on a free port (about a second); initdb refuses root, so it runs as `postgres`. */
export async function startPostgres(): Promise<RunningPostgres> {
  const binDir = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'nca-pg-'));
  const user = postgresUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const port = await freePort();
  const data = join(dir, 'data');
  execFileSync(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...asUser, stdio: 'pipe' });
  execFileSync(
    join(binDir, 'pg_ctl'),
    ['-D', data, '-l', join(dir, 'server.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, '-w', 'start'],
    { ...asUser, stdio: 'pipe' },
  );
  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    binDir,
    url: urlFor('postgres'),
    urlFor,
    async stop() {
      try {
        execFileSync(join(binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { ...asUser, stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Waits until `child` listens on `port`; on failure the child is killed so it cannot outlive the caller. */
async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 15000): Promise<void> {
  try {
    await pollPort(port, child, what, timeoutMs);
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
}

async function pollPort(port: number, child: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((res) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); res(true); });
      socket.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess, dir?: string): Promise<void> {
  return new Promise((res) => {
    const done = () => { if (dir) rmSync(dir, { recursive: true, force: true }); res(); };
    if (child.exitCode !== null) return done();
    child.once('exit', done);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

export interface RunningRedis extends RunningServer {
  readonly url: string;
}

export interface RedisServerOptions {
  /** Serve TLS only (no plain port), as ElastiCache with in-transit encryption: PEM files of the server's certificate and key. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** requirepass: clients must AUTH with it (the URL carries it, percent-encoded). */
  readonly password?: string;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nca-redis-'));
  const listen = options.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const auth = options.password !== undefined ? ['--requirepass', options.password] : [];
  const child = spawn('redis-server', [...listen, ...auth, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--dir', dir], { stdio: 'ignore' });
  await waitForPort(port, child, 'redis-server');
  // localhost, not 127.0.0.1, over TLS: the name a test certificate is issued for.
  const host = options.tls ? 'localhost' : '127.0.0.1';
  const user = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : '';
  return { port, url: `${options.tls ? 'rediss' : 'redis'}://${user}${host}:${port}`, stop: () => stopChild(child, dir) };
}

export interface RunningS3 extends RunningServer {
  readonly endpoint: string;
  readonly directory: string;
}

/**
 * s3rver in its own Node process, behind the proxy of test/support/s3-proxy.ts, which adds the conditional
 * writes (If-None-Match, If-Match) s3rver ignores and the operation lock relies on. `--openssl-legacy-provider`
 * because s3rver's paginated listings use a cipher OpenSSL 3 only has in the legacy provider (without it they
 * answer 500).
 */
export async function startS3(): Promise<RunningS3> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nca-s3-'));
  const bin = resolve(__dirname, '../node_modules/s3rver/bin/s3rver.js');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', bin, '-d', dir, '-p', String(port), '-a', '127.0.0.1', '--silent'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await waitForPort(port, child, 's3rver');
  const proxy = await startS3Proxy(`http://127.0.0.1:${port}`).catch(async (error: unknown) => {
    await stopChild(child, dir);
    throw error;
  });
  return {
    port: Number(new URL(proxy.endpoint).port),
    endpoint: proxy.endpoint,
    directory: dir,
    stop: async () => {
      await proxy.stop();
      await stopChild(child, dir);
    },
  };
}
