/**
 * What a database needs from outside itself, which pg_dump of one database leaves out: the roles its
 * objects are owned by and granted to (names, LOGIN, INHERIT, memberships — never passwords), and the
 * database's own settings (ALTER DATABASE … SET, ALTER ROLE … IN DATABASE … SET), comment, owner and
 * grants. Read at backup time inside the snapshot transaction and stored as the backup's second
 * artifact; at restore time the roles are checked (or created) and the database facts applied to the
 * staging database, so they survive a restore under any name.
 *
 * The artifact is read back from the vault: it is checked like user input, every name is quoted as an
 * identifier and every value as a literal.
 */
import type { Client } from 'pg';
import { IntegrityError } from '../../core/errors';
import { quoteIdent } from './connection';

export const GLOBALS_ARTIFACT = 'globals.json';
export const GLOBALS_CONTENT_TYPE = 'application/json';

export interface RoleFacts {
  readonly name: string;
  readonly login: boolean;
  readonly inherit: boolean;
  /** Roles this role is a member of (direct memberships only). */
  readonly memberOf: readonly string[];
  /** Attributes a restore never grants on its own (superuser, createdb, createrole, replication, bypassrls). */
  readonly privileged: readonly string[];
}

export interface DatabaseGrant {
  /** null: PUBLIC. */
  readonly grantee: string | null;
  readonly privilege: 'CONNECT' | 'CREATE' | 'TEMPORARY';
  readonly grantable: boolean;
}

export interface DatabaseSetting {
  /** null: for every role (ALTER DATABASE … SET); otherwise ALTER ROLE … IN DATABASE … SET. */
  readonly role: string | null;
  readonly name: string;
  readonly value: string;
}

/** How the database sorts and encodes text: a staging database must be created the same way. */
export interface DatabaseLocale {
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
  /** PostgreSQL 15+: "c" (libc) or "i" (ICU); absent before. */
  readonly provider?: string | null;
  readonly icuLocale?: string | null;
}

export interface DatabaseFacts {
  readonly owner: string;
  /** Absent in artifacts written before it was recorded. */
  readonly locale?: DatabaseLocale;
  readonly comment: string | null;
  /** null: the default privileges (owner all, PUBLIC CONNECT and TEMPORARY). */
  readonly grants: readonly DatabaseGrant[] | null;
  readonly settings: readonly DatabaseSetting[];
}

export interface Globals {
  readonly format: 1;
  readonly roles: readonly RoleFacts[];
  readonly database: DatabaseFacts;
}

/** Every role a catalog of this database refers to, then the roles those are members of. */
const ROLES_SQL = `
  WITH RECURSIVE used(oid) AS (
    SELECT datdba FROM pg_database WHERE datname = current_database()
    UNION SELECT (aclexplode(datacl)).grantee FROM pg_database WHERE datname = current_database()
    UNION SELECT relowner FROM pg_class
    UNION SELECT (aclexplode(relacl)).grantee FROM pg_class
    UNION SELECT (aclexplode(relacl)).grantor FROM pg_class
    UNION SELECT (aclexplode(attacl)).grantee FROM pg_attribute WHERE attacl IS NOT NULL
    UNION SELECT nspowner FROM pg_namespace
    UNION SELECT (aclexplode(nspacl)).grantee FROM pg_namespace
    UNION SELECT proowner FROM pg_proc
    UNION SELECT (aclexplode(proacl)).grantee FROM pg_proc
    UNION SELECT typowner FROM pg_type
    UNION SELECT (aclexplode(typacl)).grantee FROM pg_type
    UNION SELECT lomowner FROM pg_largeobject_metadata
    UNION SELECT (aclexplode(lomacl)).grantee FROM pg_largeobject_metadata
    UNION SELECT defaclrole FROM pg_default_acl
    UNION SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
    UNION SELECT unnest(polroles) FROM pg_policy
    UNION SELECT oprowner FROM pg_operator
    UNION SELECT collowner FROM pg_collation
    UNION SELECT extowner FROM pg_extension
    UNION SELECT srvowner FROM pg_foreign_server
    UNION SELECT fdwowner FROM pg_foreign_data_wrapper
    UNION SELECT evtowner FROM pg_event_trigger
    UNION SELECT pubowner FROM pg_publication
    UNION SELECT setrole FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  ), closure(oid) AS (
    SELECT oid FROM used
    UNION SELECT m.roleid FROM pg_auth_members m JOIN closure c ON m.member = c.oid
  )
  SELECT r.rolname::text AS name, r.rolcanlogin AS login, r.rolinherit AS inherit,
         ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS "memberOf",
         ARRAY_REMOVE(ARRAY[CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                            CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                            CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS privileged
  FROM pg_roles r JOIN closure c ON c.oid = r.oid
  WHERE r.rolname !~ '^pg_'
  ORDER BY 1`;

/** to_jsonb reads the PostgreSQL 15 locale-provider columns without failing on PostgreSQL 14. */
export const LOCALE_SQL = `
  SELECT pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
         to_jsonb(d) ->> 'datlocprovider' AS provider, to_jsonb(d) ->> 'daticulocale' AS "icuLocale"
  FROM pg_database d WHERE d.datname = coalesce($1, current_database())`;

const DATABASE_SQL = `
  SELECT pg_get_userbyid(d.datdba) AS owner,
         shobj_description(d.oid, 'pg_database') AS comment,
         CASE WHEN d.datacl IS NULL THEN NULL ELSE COALESCE((
           SELECT json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
                                             'privilege', a.privilege_type, 'grantable', a.is_grantable) ORDER BY a.grantee, a.privilege_type)
           FROM aclexplode(d.datacl) a), '[]'::json) END AS grants,
         COALESCE((SELECT json_agg(json_build_object('role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END, 'config', s.setconfig))
                   FROM pg_db_role_setting s WHERE s.setdatabase = d.oid), '[]'::json) AS settings
  FROM pg_database d WHERE d.datname = current_database()`;
// (name[] and name come back from node-postgres as unparsed text: the queries cast to text.)

/** Read inside the backup's snapshot transaction. */
export async function readGlobals(client: Client): Promise<Globals> {
  const roles = (await client.query<RoleFacts>(ROLES_SQL)).rows;
  const row = (await client.query<{ owner: string; comment: string | null; grants: DatabaseGrant[] | null; settings: { role: string | null; config: string[] }[] }>(DATABASE_SQL)).rows[0];
  const settings = row.settings.flatMap(({ role, config }) =>
    config.map((entry) => {
      const at = entry.indexOf('=');
      return { role, name: entry.slice(0, at), value: entry.slice(at + 1) };
    }),
  );
  const locale = (await client.query<DatabaseLocale>(LOCALE_SQL, [null])).rows[0];
  return { format: 1, roles, database: { owner: row.owner, locale, comment: row.comment, grants: row.grants, settings } };
}

// --- reading the artifact back -------------------------------------------------------------------

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]{0,127}$/;
const PRIVILEGES = ['CONNECT', 'CREATE', 'TEMPORARY'];
const isRoleName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= 63 && !v.includes('\0');
const isText = (v: unknown): v is string => typeof v === 'string' && !v.includes('\0');

/** The artifact's JSON, checked field by field; IntegrityError when it is not what a backup writes. */
export function parseGlobals(raw: unknown, context: { backupId?: string } = {}): Globals {
  const fail = (what: string) => new IntegrityError(`${GLOBALS_ARTIFACT} ${what}.`, { component: 'postgres', ...context });
  const g = raw as Globals;
  if (!g || typeof g !== 'object' || g.format !== 1 || !Array.isArray(g.roles) || !g.database || typeof g.database !== 'object') throw fail('is not a roles-and-settings record');
  for (const r of g.roles) {
    if (!isRoleName(r?.name) || typeof r.login !== 'boolean' || typeof r.inherit !== 'boolean' || !Array.isArray(r.memberOf) || !r.memberOf.every(isRoleName)) {
      throw fail('holds a role that is not a name with login, inherit and memberOf');
    }
    if (!Array.isArray(r.privileged) || !r.privileged.every(isText)) throw fail(`role ${r.name} has a bad attribute list`);
  }
  const d = g.database;
  if (!isRoleName(d.owner) || !(d.comment === null || isText(d.comment)) || !Array.isArray(d.settings)) throw fail('has no database owner, comment or settings');
  if (d.grants !== null && (!Array.isArray(d.grants) || !d.grants.every((x) => (x.grantee === null || isRoleName(x.grantee)) && PRIVILEGES.includes(x.privilege) && typeof x.grantable === 'boolean'))) {
    throw fail('has a database grant that is not CONNECT, CREATE or TEMPORARY to a role');
  }
  const l = d.locale;
  if (l !== undefined && (!l || !isText(l.encoding) || !isText(l.collate) || !isText(l.ctype) || ![undefined, null, 'c', 'i'].includes(l.provider as string) || !(l.icuLocale == null || isText(l.icuLocale)))) {
    throw fail('has a database locale that is not encoding, collate, ctype and provider');
  }
  if (!d.settings.every((s) => (s.role === null || isRoleName(s.role)) && SETTING_NAME.test(s.name) && isText(s.value))) throw fail('has a setting without a valid name');
  return g;
}

export async function readGlobalsArtifact(stream: NodeJS.ReadableStream, context: { backupId?: string } = {}): Promise<Globals> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new IntegrityError(`${GLOBALS_ARTIFACT} is not JSON.`, { component: 'postgres', ...context });
  }
  return parseGlobals(raw, context);
}

// --- applying them ---------------------------------------------------------------------------------

/** Settings whose value is a list of quoted elements (as pg_dump's variable_is_guc_list_quote). */
const LIST_QUOTE_SETTINGS = new Set(['local_preload_libraries', 'search_path', 'session_preload_libraries', 'shared_preload_libraries', 'temp_tablespaces', 'unix_socket_directories']);

/** `"$user", public` → ['$user', 'public'] (SplitGUCList: commas, optional double quotes with "" escapes). */
export function splitSettingList(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ') i++;
    let item = '';
    if (value[i] === '"') {
      i++;
      while (i < value.length) {
        if (value[i] === '"' && value[i + 1] === '"') (item += '"'), (i += 2);
        else if (value[i] === '"') {
          i++;
          break;
        } else item += value[i++];
      }
    } else {
      while (i < value.length && value[i] !== ',') item += value[i++];
      item = item.trim();
    }
    while (value[i] === ' ') i++;
    if (value[i] === ',') i++;
    items.push(item);
  }
  return items;
}

function settingValue(client: Client, setting: DatabaseSetting): string {
  if (!LIST_QUOTE_SETTINGS.has(setting.name.toLowerCase())) return client.escapeLiteral(setting.value);
  return splitSettingList(setting.value).map((item) => client.escapeLiteral(item)).join(', ');
}

/** The CREATE DATABASE clauses that give a new database `locale`. */
export function localeClauses(client: Client, locale: DatabaseLocale): string {
  const clauses = [`ENCODING ${client.escapeLiteral(locale.encoding)}`, `LC_COLLATE ${client.escapeLiteral(locale.collate)}`, `LC_CTYPE ${client.escapeLiteral(locale.ctype)}`];
  if (locale.provider === 'i' && locale.icuLocale) clauses.push('LOCALE_PROVIDER icu', `ICU_LOCALE ${client.escapeLiteral(locale.icuLocale)}`);
  return clauses.join(' ');
}

/** Roles of the backup that the target server lacks. */
export function missingRoles(wanted: readonly string[], existing: ReadonlySet<string>): string[] {
  return wanted.filter((name) => !existing.has(name));
}

export async function existingRoles(client: Client): Promise<Set<string>> {
  return new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname));
}

/**
 * Creates the missing roles without passwords: LOGIN only where the source role had it, INHERIT as it
 * was, then their memberships. Privileged attributes (SUPERUSER, CREATEDB, …) are never granted.
 */
export async function createRoles(client: Client, roles: readonly RoleFacts[], missing: readonly string[]): Promise<string[]> {
  const wanted = roles.filter((r) => missing.includes(r.name));
  for (const role of wanted) {
    await client.query(`CREATE ROLE ${quoteIdent(role.name)} ${role.login ? 'LOGIN' : 'NOLOGIN'} ${role.inherit ? 'INHERIT' : 'NOINHERIT'}`);
  }
  const existing = await existingRoles(client);
  for (const role of wanted) {
    for (const parent of role.memberOf) {
      if (existing.has(parent)) await client.query(`GRANT ${quoteIdent(parent)} TO ${quoteIdent(role.name)}`);
    }
  }
  return wanted.map((r) => r.name);
}

/**
 * Gives `database` (the staging database) the source database's comment, settings and, unless
 * `noOwner`, its owner, grants and per-role settings. Runs on a connection to another database.
 */
export async function applyDatabaseFacts(client: Client, database: string, facts: DatabaseFacts, options: { noOwner: boolean }): Promise<void> {
  const db = quoteIdent(database);
  if (facts.comment !== null) await client.query(`COMMENT ON DATABASE ${db} IS ${client.escapeLiteral(facts.comment)}`);
  for (const setting of facts.settings) {
    if (setting.role === null) await client.query(`ALTER DATABASE ${db} SET ${quoteIdent(setting.name)} = ${settingValue(client, setting)}`);
    else if (!options.noOwner) await client.query(`ALTER ROLE ${quoteIdent(setting.role)} IN DATABASE ${db} SET ${quoteIdent(setting.name)} = ${settingValue(client, setting)}`);
  }
  if (options.noOwner) return;
  await client.query(`ALTER DATABASE ${db} OWNER TO ${quoteIdent(facts.owner)}`);
  if (facts.grants === null) return;
  await client.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC, ${quoteIdent(facts.owner)}`);
  for (const grant of facts.grants) {
    const grantee = grant.grantee === null ? 'PUBLIC' : quoteIdent(grant.grantee);
    await client.query(`GRANT ${grant.privilege} ON DATABASE ${db} TO ${grantee}${grant.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
}
