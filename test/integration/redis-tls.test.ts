/**
 * The redis component over TLS with AUTH, as ElastiCache with in-transit encryption serves it (a secret's
 * `tls` defaults to true): a real redis-server listening on a TLS port only, its certificate issued by a
 * CA made here. Both client paths verify the certificate (ioredis for SCAN and INFO, resp.ts's bare
 * connections for the DUMP reads and RESTOREs): an untrusted server is refused with a typed error before
 * anything is read or written; a trusted one is backed up and restored, checked key by key against what
 * the server itself reports (DUMP payload and PEXPIRETIME), not against our fingerprint. The password is
 * not ASCII, so AUTH's bytes are checked too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import Redis from 'ioredis';
import { connectRedis, redis, type RedisTarget } from '../../functions/components/redis';
import { withStreams } from '../../functions/components/redis/connection';
import { InvalidInputError } from '../../functions/core/errors';
import { silentLogger as quiet } from '../../functions/core/logger';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { fsArtifacts } from '../support/fs-artifacts';

const PASSWORD = 'pässwörd-€-nca';
let dir: string;
let server: RunningRedis;
let ca: string;
const defaultCAs = getCACertificates('default');

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nca-redis-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=nca-backup test CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  server = await startRedis({ tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') }, password: PASSWORD });
});

afterAll(async () => {
  setDefaultCACertificates(defaultCAs);
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const target = (db: number): Promise<RedisTarget> => connectRedis({ db, keyPatterns: ['*'] }, { NCA_REDIS_URL: server.url });

/** A client that trusts the test CA explicitly (independent of the default store the component uses). */
async function withClient<T>(db: number, use: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: 'localhost', port: server.port, password: PASSWORD, db, tls: { ca, servername: 'localhost' } });
  try {
    return await use(c);
  } finally {
    c.disconnect();
  }
}

/**
 * Each key's DUMP payload and absolute expiry, as the server reports them; a set by its sorted members
 * instead (a hashtable set DUMPs in its table's iteration order, which RESTORE's rebuild changes).
 */
async function serverView(db: number): Promise<Map<string, [string, number]>> {
  return withClient(db, async (c) => {
    const keys = await c.keysBuffer('*');
    const out = new Map<string, [string, number]>();
    for (const key of keys) {
      const value = (await c.type(key)) === 'set' ? (await c.smembersBuffer(key)).map((m) => m.toString('hex')).sort().join(',') : (await c.dumpBuffer(key))!.toString('hex');
      out.set(key.toString('hex'), [value, Number(await c.call('PEXPIRETIME', key))]);
    }
    return out;
  });
}

test('a server whose certificate no trusted CA issued is refused on connecting, naming the target; nothing is read', async () => {
  const sink = fsArtifacts();
  const attempt = redis.backup(await target(0), sink.sink, quiet);
  await expect(attempt).rejects.toThrow(InvalidInputError);
  await expect(attempt).rejects.toThrow(new RegExp(`Redis at localhost:${server.port}/db0 presented a TLS certificate this runner does not trust`));
  await expect(attempt).rejects.not.toThrow(PASSWORD);
  expect(sink.records).toEqual([]);
  // The bare connections of the hot paths verify the certificate too (they are opened after ioredis's).
  const streams = withStreams(await target(0), 2, async () => 'connected');
  await expect(streams).rejects.toThrow(InvalidInputError);
  await expect(streams).rejects.toThrow(/does not trust \(connecting\): .*certificate/);
});

describe('with the CA trusted', () => {
  beforeAll(() => setDefaultCACertificates([...defaultCAs, ca]));

  test('backup and restore over TLS with a non-ASCII password: every key, payload and expiry as the server had them', async () => {
    await withClient(0, async (c) => {
      const p = c.pipeline();
      for (let i = 0; i < 3000; i++) p.set(`memory:working:${i}`, `item ${i} `.repeat(1 + (i % 40)));
      // Larger than a TLS record (16 KiB), so replies and RESTOREs span records.
      p.set(Buffer.from([0xff, 0x00, 0x0d, 0x0a]), Buffer.alloc(300_000, 7));
      p.hset('memory:working:session', { 'ключ': 'значение', '': 'empty field', '\r\n': '\x00' });
      p.zadd('memory:working:priority', 1.5, 'a', -Infinity, 'b', 3, 'c');
      p.sadd('memory:working:tags', 'x', 'y', '17');
      p.rpush('memory:working:events', 'e1', 'e2');
      p.xadd('memory:working:stream', '1-1', 'field', 'value');
      p.pexpire('memory:working:7', 86_400_000);
      const replies = (await p.exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
    });
    const source = await target(0);
    const artifacts = fsArtifacts();
    const backup = await redis.backup(source, artifacts.sink, quiet);
    expect(backup.report).toMatchObject({ keys: 3006, skippedExpired: 0 });

    const into = await target(3);
    const restored = await redis.restore(artifacts.source(), into, {}, quiet);
    expect(restored.details).toMatchObject({ restored: 3006 });
    expect(await serverView(3)).toEqual(await serverView(0));
    expect(await redis.fingerprint(into)).toEqual(backup.fingerprint);
  });
});
