/**
 * A sample NCA database for the demo, tests and benchmarks: users, memory items (jsonb content and
 * metadata, text[] tags, real[] embeddings, the tier as an enum as the NCA's SQLAlchemy models declare
 * it), links between memories, an audit log partitioned by month with a primary key, model artifacts
 * (bytea) and a quoted mixed-case table in its own schema. Generated in the server (generate_series), in
 * batches. Enums and partitions are what in-place restores and OID-bound fingerprints used to trip on.
 */
import { Client } from 'pg';

export interface SampleOptions {
  /** Memory items to create; the other tables scale with it. */
  readonly rows: number;
  /** Floats per embedding (default 32). */
  readonly embeddingDimensions?: number;
}

const SCHEMA = `
  CREATE TABLE users (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text,
    settings jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TYPE memory_tier AS ENUM ('working', 'episodic', 'semantic');
  CREATE TABLE memory_items (
    id uuid PRIMARY KEY,
    user_id integer REFERENCES users(id),
    tier memory_tier NOT NULL,
    content jsonb NOT NULL,
    metadata jsonb NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    importance real NOT NULL,
    embedding real[],
    created_at timestamptz NOT NULL
  );
  CREATE INDEX memory_items_tags ON memory_items USING gin (tags);
  CREATE INDEX memory_items_created ON memory_items (created_at);
  CREATE TABLE memory_links (
    source_id uuid NOT NULL REFERENCES memory_items(id) ON DELETE CASCADE,
    target_id uuid NOT NULL REFERENCES memory_items(id) ON DELETE CASCADE,
    weight double precision NOT NULL,
    PRIMARY KEY (source_id, target_id)
  );
  CREATE TABLE audit_log (
    id bigserial,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    details jsonb,
    PRIMARY KEY (at, id)
  ) PARTITION BY RANGE (at);
  CREATE TABLE audit_log_2026_01 PARTITION OF audit_log FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
  CREATE TABLE audit_log_later PARTITION OF audit_log DEFAULT;
  CREATE TABLE model_artifacts (
    id serial PRIMARY KEY,
    name text NOT NULL,
    payload bytea NOT NULL,
    checksum text NOT NULL
  );
  CREATE SCHEMA cognition;
  CREATE TABLE cognition."Session State" (
    "Session Id" uuid PRIMARY KEY,
    goals text[],
    attention jsonb,
    updated_at timestamptz
  );
  CREATE VIEW active_memories AS SELECT id, tier, importance FROM memory_items WHERE (metadata->>'status') = 'active';
`;

const BATCH = 50_000;

async function inBatches(client: Client, total: number, statement: (from: number, to: number) => string): Promise<void> {
  for (let from = 1; from <= total; from += BATCH) {
    await client.query(statement(from, Math.min(total, from + BATCH - 1)));
  }
}

export async function loadSampleNcaDatabase(url: string, options: SampleOptions): Promise<void> {
  const rows = Math.max(1, Math.floor(options.rows));
  const dims = options.embeddingDimensions ?? 32;
  const users = Math.max(10, Math.floor(rows / 100));
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(SCHEMA);
    await client.query(`
      INSERT INTO users (username, email, settings, created_at)
      SELECT 'user_' || g, 'user_' || g || '@neuroca.example', jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END, 'locale', 'en'),
             timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
      FROM generate_series(1, ${users}) g`);
    await inBatches(client, rows, (from, to) => `
      INSERT INTO memory_items (id, user_id, tier, content, metadata, tags, importance, embedding, created_at)
      SELECT gen_random_uuid(), 1 + g % ${users},
             (ARRAY['working', 'episodic', 'semantic']::memory_tier[])[1 + g % 3],
             jsonb_build_object('text', 'observation ' || g || ': ' || md5(random()::text) || ' ' || md5(random()::text),
                                'summary', left(md5(g::text), 12), 'content_type', 'text/plain', 'language', 'en'),
             jsonb_build_object('status', (ARRAY['active', 'archived', 'consolidated', 'decaying'])[1 + g % 4],
                                'strength', round(random()::numeric, 4), 'access_count', g % 17, 'source', 'demo'),
             ARRAY['tag' || (g % 50), 'topic' || (g % 7)],
             random()::real,
             ARRAY(SELECT random()::real FROM generate_series(1, ${dims} + 0 * g)),
             timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
      FROM generate_series(${from}, ${to}) g`);
    await client.query(`
      INSERT INTO memory_links (source_id, target_id, weight)
      SELECT a.id, b.id, random()
      FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM memory_items) a
      JOIN (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM memory_items) b ON b.n = a.n + 1
      WHERE a.n % 2 = 0`);
    await inBatches(client, rows, (from, to) => `
      INSERT INTO audit_log (at, actor, action, details)
      SELECT timestamptz '2026-01-01 00:00:00+00' + g * interval '2 seconds', 'user_' || (1 + g % ${users}),
             (ARRAY['recall', 'store', 'consolidate', 'forget'])[1 + g % 4],
             CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('latency_ms', g % 250, 'request', md5(g::text)) END
      FROM generate_series(${from}, ${to}) g`);
    await client.query(`
      INSERT INTO model_artifacts (name, payload, checksum)
      SELECT 'adapter-' || g, decode(string_agg(md5(g::text || '/' || i), ''), 'hex'), md5(g::text)
      FROM generate_series(1, ${Math.max(5, Math.floor(rows / 200))}) g, generate_series(1, 64) i
      GROUP BY g`);
    await client.query(`
      INSERT INTO cognition."Session State" ("Session Id", goals, attention, updated_at)
      SELECT gen_random_uuid(), ARRAY['goal ' || g, 'goal ' || (g + 1)], jsonb_build_object('focus', g % 3, 'weights', jsonb_build_array(0.5, 0.25)),
             timestamptz '2026-06-01 12:00:00+00' + g * interval '1 hour'
      FROM generate_series(1, ${Math.max(10, Math.floor(rows / 50))}) g`);
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

/**
 * What an incident looks like: rows deleted and changed, a table dropped, a table emptied, and a
 * migration that ran after the backup (a new table and a view on the dumped enum), which a restore of
 * the backup must not leave behind.
 */
export async function damageSampleDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE memory_feedback (memory_id uuid, tier memory_tier, score real)');
    await client.query('CREATE VIEW working_memories AS SELECT id FROM memory_items WHERE tier = \'working\'');
    await client.query(`DELETE FROM memory_items WHERE id IN (SELECT id FROM memory_items ORDER BY created_at LIMIT 100)`);
    await client.query(`UPDATE audit_log SET action = 'tampered' WHERE id % 97 = 0`);
    await client.query('DROP TABLE model_artifacts');
    await client.query('TRUNCATE cognition."Session State"');
  } finally {
    await client.end();
  }
}
