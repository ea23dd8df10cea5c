/**
 * TLS to PostgreSQL as a deployed worker connects: through a secret, verify-full by default, for the pg
 * client and for pg_dump alike. The file's own PostgreSQL cluster accepts TLS connections only
 * (ssl=on, hostssl lines only), with a server certificate for "localhost" from a throwaway CA made
 * with openssl here; a second CA stands for the wrong bundle, 127.0.0.1 for a host the certificate does
 * not name.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectPostgres, postgres, type PostgresTarget } from '../../functions/components/postgres';
import { withClient } from '../../functions/components/postgres/connection';
import { runTool } from '../../functions/components/postgres/tools';
import { connectVector } from '../../functions/components/vector/connection';
import { InvalidInputError, ToolError } from '../../functions/core/errors';
import { silentLogger as quiet } from '../../functions/core/logger';
import { freePort } from '../../scripts/local-servers';
import { fsArtifacts } from '../support/fs-artifacts';

const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/postgres-AbC123';
/** An RDS-managed master secret: the username and password, nothing else. */
const MANAGED_SECRET = async () => JSON.stringify({ username: 'postgres', password: 'never-shown-pw' });
const DATABASE = 'tls_sample';

const binDir = () => process.env.NCA_TEST_PG_BIN_DIR!;
const dir = mkdtempSync(join(tmpdir(), 'nca-tls-'));
const file = (name: string) => join(dir, name);
let port: number;
let asPostgres: { uid?: number; gid?: number } = {};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A self-signed CA: `<name>.key`, `<name>.pem`. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`));
}

/** The server's key and a certificate for DNS name localhost only, signed by the `test-ca`. */
function makeServerCertificate(): void {
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', file('server.key'), '-out', file('server.csr'));
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('test-ca.pem'), '-CAkey', file('test-ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.crt'));
}

beforeAll(async () => {
  makeCa('test-ca');
  makeCa('wrong-ca');
  makeServerCertificate();
  if (process.getuid?.() === 0) {
    asPostgres = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
    for (const name of ['', 'server.key', 'server.crt']) chownSync(file(name), asPostgres.uid!, asPostgres.gid!);
  }
  chmodSync(file('server.key'), 0o600);
  port = await freePort();
  const data = file('data');
  execFileSync(join(binDir(), 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...asPostgres, stdio: 'pipe' });
  // TLS only: a connection without it finds no pg_hba line.
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n');
  appendFileSync(join(data, 'postgresql.conf'), `ssl = on\nssl_cert_file = '${file('server.crt')}'\nssl_key_file = '${file('server.key')}'\n`);
  execFileSync(
    join(binDir(), 'pg_ctl'),
    ['-D', data, '-l', file('server.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=localhost -c fsync=off`, '-w', 'start'],
    { ...asPostgres, stdio: 'pipe' },
  );
  const admin = new Client({ host: dir, port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const sample = new Client({ host: dir, port, user: 'postgres', database: DATABASE });
  await sample.connect();
  await sample.query(`CREATE TABLE memories (id int PRIMARY KEY, text text); INSERT INTO memories SELECT g, 'memory ' || g FROM generate_series(1, 50) g`);
  await sample.end();
});

afterAll(() => {
  try {
    execFileSync(join(binDir(), 'pg_ctl'), ['-D', file('data'), '-m', 'immediate', '-w', 'stop'], { ...asPostgres, stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A deployed worker's target: the managed secret, host and port from backup.yaml, the CA bundle given. */
function deployedTarget(host: string, caFile: string, secret = MANAGED_SECRET): Promise<PostgresTarget> {
  return connectPostgres({ database: DATABASE, secretArn: SECRET_ARN, host, port }, { NCA_PG_TLS_CA_FILE: caFile, NCA_PG_BIN_DIR: binDir() }, secret);
}

/** A backup that must fail before writing anything: its error, and what reached the sink. */
async function failedBackup(target: PostgresTarget): Promise<{ error: unknown; written: string[] }> {
  const artifacts = fsArtifacts();
  const error = await postgres.backup(target, artifacts.sink, quiet).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, written: [...artifacts.records.map((r) => r.name), ...readdirSync(artifacts.dir)] };
}

describe('TLS to PostgreSQL through a secret', () => {
  test('verify-full is the default; with the right CA the pg client and pg_dump both connect over TLS', async () => {
    const target = await deployedTarget('localhost', file('test-ca.pem'));
    expect(target).toMatchObject({ host: 'localhost', port, user: 'postgres', database: DATABASE, sslMode: 'verify-full', sslRootCert: file('test-ca.pem') });
    const [session] = await withClient(target, (client) => client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).then((r) => r.rows);
    expect(session.ssl).toBe(true);

    // The backup opens the pg client and runs pg_dump; the server refuses anything but TLS.
    const artifacts = fsArtifacts();
    const result = await postgres.backup(target, artifacts.sink, quiet);
    expect(result.artifacts.map((a) => a.name)).toEqual([`${DATABASE}.dump`, 'globals.json']);
    expect(result.fingerprint['table "public"."memories"'].count).toBe(50);
  });

  test('a CA bundle that did not sign the server certificate: a TLS error naming the server, nothing written', async () => {
    const { error, written } = await failedBackup(await deployedTarget('localhost', file('wrong-ca.pem')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(new RegExp(`^postgres: TLS to the PostgreSQL server at localhost:${port}/${DATABASE} failed \\(sslmode verify-full, the CA bundle .*wrong-ca\\.pem\\)`));
    expect((error as Error).message).not.toContain('never-shown-pw');
    expect(written).toEqual([]);
  });

  test('a host name the certificate does not carry: a TLS error naming the server, nothing written', async () => {
    const { error, written } = await failedBackup(await deployedTarget('127.0.0.1', file('test-ca.pem')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(new RegExp(`^postgres: TLS to the PostgreSQL server at 127\\.0\\.0\\.1:${port}/${DATABASE} failed .*(altnames|does not match)`));
    expect(written).toEqual([]);
  });

  test('pg_dump verifies the same way: the right CA connects, a wrong CA or host name fails naming the server', async () => {
    const dump = async (target: PostgresTarget) => {
      const running = runTool(target, 'pg_dump', ['--schema-only', '--dbname', DATABASE]);
      running.child.stdout!.resume();
      return running.done;
    };
    await expect(dump(await deployedTarget('localhost', file('test-ca.pem')))).resolves.toBeUndefined();
    const wrongCa = dump(await deployedTarget('localhost', file('wrong-ca.pem')));
    await expect(wrongCa).rejects.toThrow(ToolError);
    await expect(wrongCa).rejects.toThrow(new RegExp(`server at "localhost" .*port ${port} failed: .*certificate verify failed`));
    await expect(dump(await deployedTarget('127.0.0.1', file('test-ca.pem')))).rejects.toThrow(
      new RegExp(`server at "127\\.0\\.0\\.1", port ${port} failed: server certificate for "localhost".* does not match host name "127\\.0\\.0\\.1"`),
    );
  });

  test('a secret may ask for verify-ca (a name the certificate does not carry), never for less than TLS', async () => {
    const verifyCa = async () => JSON.stringify({ username: 'postgres', password: 'pw', sslmode: 'verify-ca' });
    const target = await deployedTarget('127.0.0.1', file('test-ca.pem'), verifyCa);
    expect(target.sslMode).toBe('verify-ca');
    const artifacts = fsArtifacts();
    await expect(postgres.backup(target, artifacts.sink, quiet)).resolves.toMatchObject({ source: { database: DATABASE } });
    const { error } = await failedBackup(await deployedTarget('127.0.0.1', file('wrong-ca.pem'), verifyCa));
    expect((error as Error).message).toMatch(/TLS to the PostgreSQL server at 127\.0\.0\.1/);

    for (const sslmode of ['disable', 'prefer', 'allow']) {
      const refused = deployedTarget('localhost', file('test-ca.pem'), async () => JSON.stringify({ username: 'postgres', password: 'pw', sslmode }));
      await expect(refused).rejects.toThrow(InvalidInputError);
      await expect(refused).rejects.toThrow(`secret ${SECRET_ARN} asks for sslmode "${sslmode}", which is not allowed: verify-full, verify-ca, require.`);
    }
  });

  test('an unreadable CA bundle is a clear error, not a connection without verification', async () => {
    const { error, written } = await failedBackup(await deployedTarget('localhost', file('no-such-bundle.pem')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(`the CA bundle ${file('no-such-bundle.pem')} for TLS to PostgreSQL at localhost:${port} cannot be read (ENOENT)`);
    expect(written).toEqual([]);
  });
});

describe('RDS-managed master secrets', () => {
  test('host and port come from backup.yaml; the secret\'s own host and port when backup.yaml has none', async () => {
    const managed = await connectPostgres({ database: 'neuroca_db', secretArn: SECRET_ARN, host: 'neuroca.cluster-abc.us-west-2.rds.amazonaws.com', port: 6543 }, {}, MANAGED_SECRET);
    expect(managed).toMatchObject({ host: 'neuroca.cluster-abc.us-west-2.rds.amazonaws.com', port: 6543, user: 'postgres', database: 'neuroca_db', sslMode: 'verify-full' });
    expect(JSON.stringify({ ...managed, password: undefined })).not.toContain('never-shown-pw');
    const defaultPort = await connectPostgres({ database: 'neuroca_db', secretArn: SECRET_ARN, host: 'db.internal' }, {}, MANAGED_SECRET);
    expect(defaultPort.port).toBe(5432);

    const rdsStyle = async () => JSON.stringify({ host: 'from-secret.internal', port: 5433, username: 'u', password: 'p' });
    expect(await connectPostgres({ database: 'd', secretArn: SECRET_ARN }, {}, rdsStyle)).toMatchObject({ host: 'from-secret.internal', port: 5433 });
    expect(await connectPostgres({ database: 'd', secretArn: SECRET_ARN, host: 'configured.internal' }, {}, rdsStyle)).toMatchObject({ host: 'configured.internal', port: 5433 });
  });

  test('no host in the secret nor in backup.yaml: a typed error naming both places', async () => {
    const postgresFailure = connectPostgres({ database: 'neuroca_db', secretArn: SECRET_ARN }, {}, MANAGED_SECRET);
    await expect(postgresFailure).rejects.toThrow(InvalidInputError);
    await expect(postgresFailure).rejects.toThrow(`postgres: secret ${SECRET_ARN} has no host and backup.sources.postgres.host is not set.`);
    await expect(postgresFailure).rejects.not.toThrow(/never-shown-pw/);

    const vectorFailure = connectVector({ database: 'neuroca_db', table: 'semantic_memory', secretArn: SECRET_ARN }, {}, MANAGED_SECRET);
    await expect(vectorFailure).rejects.toThrow(InvalidInputError);
    await expect(vectorFailure).rejects.toThrow(`vector: secret ${SECRET_ARN} has no host and backup.sources.vector.host is not set.`);
    const vector = await connectVector({ database: 'neuroca_db', table: 'semantic_memory', secretArn: SECRET_ARN, host: 'db.internal', port: 6000 }, {}, MANAGED_SECRET);
    expect(vector).toMatchObject({ host: 'db.internal', port: 6000, sslMode: 'verify-full', table: 'semantic_memory' });
  });

  test('a secret without a username, or not a JSON object, is refused without echoing it', async () => {
    await expect(connectPostgres({ database: 'd', secretArn: SECRET_ARN, host: 'h' }, {}, async () => '{"password":"hunter2"}')).rejects.toThrow(`secret ${SECRET_ARN} has no username.`);
    const notObject = connectPostgres({ database: 'd', secretArn: SECRET_ARN, host: 'h' }, {}, async () => '"hunter2"');
    await expect(notObject).rejects.toThrow(/is not a JSON object/);
    await expect(notObject).rejects.not.toThrow(/hunter2/);
  });
});
