/**
 * Where a database source's server is: `host` and `port` under backup.sources.postgres and
 * backup.sources.vector (for RDS-managed master secrets, which hold only the username and password), and
 * which CA bundle verifies it (the image's RDS bundle, an operator's file, or the system's roots).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Issues } from '../../config/fields';
import { postgresDescriptor } from '../../functions/components/postgres/descriptor';
import { vectorDescriptor } from '../../functions/components/vector/descriptor';
import { mongoCaFile } from '../../functions/components/mongodb/connection';
import { caBundle } from '../../functions/core/tls';

/** What RDS names the master user secret it manages: rds!cluster-<id> (Aurora) or rds!db-<id>. */
const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!cluster-0a1b2c3d-4e5f-6789-abcd-ef0123456789-AbCdEf';

const descriptors = { postgres: postgresDescriptor, vector: vectorDescriptor } as const;

/** The parsed source, or the issues as "path: problem" lines. */
function parse(component: keyof typeof descriptors, value: unknown): { source?: unknown; issues: string[] } {
  const issues = new Issues();
  const path = `backup.sources.${component}`;
  const source = descriptors[component].source.parse(value, { path, issues, sources: { [component]: value } });
  return { source, issues: issues.list.map((i) => `${i.path}: ${i.problem}`) };
}

describe.each(['postgres', 'vector'] as const)('backup.sources.%s host and port', (component) => {
  const path = `backup.sources.${component}`;

  test('are read beside a secret, for an RDS-managed master secret', () => {
    const { source, issues } = parse(component, { secret_arn: SECRET_ARN, host: 'neuroca.cluster-abc123.us-west-2.rds.amazonaws.com', port: 5433 });
    expect(issues).toEqual([]);
    expect(source).toMatchObject({ secretArn: SECRET_ARN, host: 'neuroca.cluster-abc123.us-west-2.rds.amazonaws.com', port: 5433 });
    expect(parse(component, { secret_arn: SECRET_ARN, host: '10.0.12.7' }).source).toMatchObject({ host: '10.0.12.7' });
  });

  test('the ARN of an RDS-managed master secret (rds!cluster-…, rds!db-…) is accepted; "!" elsewhere is not', () => {
    expect(parse(component, { secret_arn: SECRET_ARN.replace('rds!cluster-', 'rds!db-'), host: 'db.internal' }).issues).toEqual([]);
    expect(parse(component, { secret_arn: SECRET_ARN.replace('rds!', 'neuroca/db!'), host: 'db.internal' }).issues).toEqual([
      expect.stringMatching(new RegExp(`^${path.replace(/\./g, '\\.')}\\.secret_arn: .* is not a Secrets Manager secret ARN`)),
    ]);
  });

  test('are optional: without them the secret says where the server is', () => {
    const { source, issues } = parse(component, { secret_arn: SECRET_ARN });
    expect(issues).toEqual([]);
    expect(source).not.toHaveProperty('host');
    expect(source).not.toHaveProperty('port');
  });

  test('a bad host or port is an issue naming the field and what is allowed, each one recorded', () => {
    const { source, issues } = parse(component, { secret_arn: SECRET_ARN, host: 'db.internal/extra', port: 70000 });
    expect(source).toBeUndefined();
    expect(issues).toEqual([
      `${path}.host: 'db.internal/extra' is not a host name like neuroca.cluster-abc123.us-west-2.rds.amazonaws.com`,
      `${path}.port: 70000 is not a whole number from 1 to 65535`,
    ]);
    expect(parse(component, { host: '' }).issues).toEqual([expect.stringMatching(new RegExp(`^${path.replace(/\./g, '\\.')}\\.host: `))]);
    expect(parse(component, { port: '5432' }).issues).toEqual([`${path}.port: '5432' is not a whole number from 1 to 65535`]);
  });

  test('do not combine with url, which names the server itself', () => {
    const { source, issues } = parse(component, { url: 'postgresql://neuroca@localhost:5432/neuroca_db', host: 'other.internal' });
    expect(source).toBeUndefined();
    expect(issues).toEqual([`${path}.host: cannot be combined with url, which names the server itself; keep one`]);
  });

  test('an unknown key is still refused', () => {
    expect(parse(component, { secret_arn: SECRET_ARN, hostname: 'db.internal' }).issues).toEqual([expect.stringMatching(/hostname/)]);
  });
});

describe('the CA bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nca-ca-'));
  const imageBundle = join(dir, 'rds-global-bundle.pem');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('is the operator\'s file when set, else the image\'s RDS bundle when the image has one, else the system roots', () => {
    expect(caBundle(undefined, imageBundle)).toBeUndefined();
    writeFileSync(imageBundle, '-----BEGIN CERTIFICATE-----\n');
    expect(caBundle(undefined, imageBundle)).toBe(imageBundle);
    expect(caBundle('/etc/ssl/our-ca.pem', imageBundle)).toBe('/etc/ssl/our-ca.pem');
  });

  test('MongoDB: Amazon DocumentDB endpoints use the RDS bundle; other servers keep Node\'s roots unless one is set', () => {
    writeFileSync(imageBundle, '-----BEGIN CERTIFICATE-----\n');
    expect(mongoCaFile('neuroca.cluster-c1a2b3.us-west-2.docdb.amazonaws.com:27017', undefined, imageBundle)).toBe(imageBundle);
    expect(mongoCaFile('a.docdb-elastic.amazonaws.com:27017,b.docdb-elastic.amazonaws.com:27017', undefined, imageBundle)).toBe(imageBundle);
    expect(mongoCaFile('cluster0.example.mongodb.net', undefined, imageBundle)).toBeUndefined();
    expect(mongoCaFile('cluster0.example.mongodb.net', '/etc/ssl/atlas.pem', imageBundle)).toBe('/etc/ssl/atlas.pem');
    expect(mongoCaFile('neuroca.cluster-c1a2b3.us-west-2.docdb.amazonaws.com:27017', undefined, join(dir, 'absent.pem'))).toBeUndefined();
  });
});
