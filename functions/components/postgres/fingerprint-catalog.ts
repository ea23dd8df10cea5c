/**
 * Schema objects of the kinds pg_dump carries beside relations, types and routines: extensions (name and
 * schema; not the version, which pg_dump does not carry: a restore installs the server's default version,
 * and comparing versions would make every backup of a database on an older version unrestorable),
 * operators, casts,
 * collations, text search configurations, event triggers, publications and extended statistics. One query
 * per catalog; each object is keyed by pg_identify_object_as_address (never by OID) and digested by a
 * definition text that names, never numbers, what it refers to.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint } from '../types';
import { objectKey } from './fingerprint-keys';
import { notExtensionMember, userSchema } from './fingerprint-scope';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** FirstNormalObjectId: objects below it were made by initdb, not by the database's users. */
const FIRST_NORMAL_OID = 16384;

/** A catalog's objects: `alias` is the catalog's alias in `from`, `text` the definition over it. */
interface CatalogKind {
  catalog: string;
  alias: string;
  from: string;
  where: string;
  text: string;
}

const KINDS: CatalogKind[] = [
  {
    catalog: 'pg_extension', alias: 'x', from: 'pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace',
    where: `x.extname <> 'plpgsql'`,
    text: `concat_ws(' ', 'schema', quote_ident(n.nspname), 'relocatable', x.extrelocatable)`,
  },
  {
    catalog: 'pg_operator', alias: 'o', from: 'pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace',
    where: userSchema('n'),
    text: `concat_ws(' ', o.oprkind, o.oprcode::regprocedure, o.oprresult::regtype, nullif(o.oprcom, 0)::regoperator, nullif(o.oprnegate, 0)::regoperator,
                     nullif(o.oprrest::oid, 0)::regprocedure, nullif(o.oprjoin::oid, 0)::regprocedure, o.oprcanmerge, o.oprcanhash)`,
  },
  {
    catalog: 'pg_cast', alias: 'k', from: 'pg_cast k', where: `k.oid >= ${FIRST_NORMAL_OID}`,
    text: `concat_ws(' ', nullif(k.castfunc, 0)::regprocedure, k.castcontext, k.castmethod)`,
  },
  {
    // collversion is left out: it is the collation library's version on the server, not the database's.
    catalog: 'pg_collation', alias: 'co', from: 'pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace',
    where: `${userSchema('n')} AND co.oid >= ${FIRST_NORMAL_OID}`,
    text: `(to_jsonb(co) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion')::text`,
  },
  {
    catalog: 'pg_ts_config', alias: 'tc', from: 'pg_ts_config tc JOIN pg_namespace n ON n.oid = tc.cfgnamespace',
    where: userSchema('n'),
    text: `(SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.prsname) FROM pg_ts_parser p JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE p.oid = tc.cfgparser)
           || ' ' || coalesce((SELECT string_agg(m.maptokentype || ':' || m.mapseqno || ':' || m.mapdict::regdictionary::text, ',' ORDER BY m.maptokentype, m.mapseqno)
                               FROM pg_ts_config_map m WHERE m.mapcfg = tc.oid), '')`,
  },
  {
    catalog: 'pg_event_trigger', alias: 'et', from: 'pg_event_trigger et', where: 'true',
    text: `concat_ws(' ', et.evtevent, et.evtfoid::regprocedure, et.evtenabled, array_to_string(et.evttags, ','))`,
  },
  {
    catalog: 'pg_publication', alias: 'pb', from: 'pg_publication pb', where: 'true',
    text: `concat_ws(' ', pb.puballtables, pb.pubinsert, pb.pubupdate, pb.pubdelete, pb.pubtruncate, pb.pubviaroot,
                     (SELECT string_agg(pr.prrelid::regclass::text || coalesce(' where ' || pg_get_expr(pr.prqual, pr.prrelid), '')
                                        || coalesce(' columns ' || pr.prattrs::text, ''), ', ' ORDER BY pr.prrelid::regclass::text)
                      FROM pg_publication_rel pr WHERE pr.prpubid = pb.oid),
                     (SELECT string_agg(quote_ident(pn.nspname), ', ' ORDER BY pn.nspname)
                      FROM pg_publication_namespace pns JOIN pg_namespace pn ON pn.oid = pns.pnnspid WHERE pns.pnpubid = pb.oid))`,
  },
  {
    catalog: 'pg_statistic_ext', alias: 'st', from: 'pg_statistic_ext st JOIN pg_namespace n ON n.oid = st.stxnamespace',
    where: userSchema('n'),
    text: `pg_get_statisticsobjdef(st.oid) || ' target ' || coalesce(st.stxstattarget::text, 'default')`,
  },
];

const kindSql = ({ catalog, alias, from, where, text }: CatalogKind) => `
  SELECT a.type AS kind, a.object_names AS names, a.object_args AS args, ${text} AS text
  FROM ${from}
  CROSS JOIN LATERAL pg_identify_object_as_address('${catalog}'::regclass, ${alias}.oid, 0) a
  WHERE ${where} AND ${notExtensionMember(catalog, `${alias}.oid`)}`;

export async function fingerprintCatalogObjects(client: Client): Promise<Fingerprint> {
  const fingerprint: Fingerprint = {};
  for (const kind of KINDS) {
    const { rows } = await client.query<{ kind: string; names: string[]; args: string[]; text: string }>(kindSql(kind));
    for (const row of rows) fingerprint[objectKey(row.kind, row.names, row.args)] = { count: 1, digest: sha256(row.text ?? '') };
  }
  return fingerprint;
}
