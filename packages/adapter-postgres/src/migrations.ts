/**
 * Migrations — versioned SQL for the sync-state tables, shipped as constants so they are in dist.
 *
 * Guarantees:
 * - `migrate()` applies every missing version in order, in ONE transaction, under a transaction
 *   advisory lock: instances starting together serialise, the second finds nothing left to do,
 *   and a failed migration leaves the schema as it was.
 * - Versions are append-only; an applied version is never edited.
 * - A database whose schema is newer than this code is refused with `SchemaVersionError`, because
 *   old code writing a newer layout can corrupt it silently.
 * The user's mapped data tables are not versioned here: they are created if absent
 * (`CREATE TABLE IF NOT EXISTS`) and otherwise left to the user's own migrations.
 */
import { SyncError } from '@tidesync/core';
import { qualified, quoteIdent } from './identifiers.js';
import type { Database, Tx } from './database.js';
import { lockKey } from './lock-keys.js';

export interface Migration {
  version: number;
  name: string;
  /** SQL with `{schema}` standing for the quoted schema name. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sync state',
    sql: `
CREATE TABLE {schema}.tidesync_key_state (
  key text PRIMARY KEY,
  last_success_at bigint,
  last_attempt_at bigint,
  last_error text,
  consecutive_failures integer NOT NULL DEFAULT 0
);
CREATE TABLE {schema}.tidesync_paused (
  target text PRIMARY KEY
);
CREATE TABLE {schema}.tidesync_last_tick (
  schedule_id text PRIMARY KEY,
  at bigint NOT NULL
);
CREATE TABLE {schema}.tidesync_dead_letter (
  key text PRIMARY KEY,
  scope text NOT NULL,
  job text NOT NULL,
  payload jsonb,
  attempts integer NOT NULL,
  error text NOT NULL,
  at bigint NOT NULL
);`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The database holds a schema version this code does not know. */
export class SchemaVersionError extends SyncError {
  readonly found: number;
  readonly supported: number;

  constructor(schema: string, found: number, supported: number) {
    super('STORE_SCHEMA', `schema "${schema}" is at version ${found}, newer than this @tidesync/adapter-postgres supports (${supported}); upgrade the package`);
    this.name = 'SchemaVersionError';
    this.found = found;
    this.supported = supported;
  }
}

const versionTable = (schema: string) => qualified(schema, 'tidesync_migrations');

/** Current version, 0 when the schema or its version table does not exist yet. */
export async function schemaVersion(db: Pick<Database, 'query'> | Tx, schema: string): Promise<number> {
  const exists = await db.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [versionTable(schema)]);
  if (!exists.rows[0]?.present) return 0;
  const { rows } = await db.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${versionTable(schema)}`);
  return Number(rows[0]?.version ?? 0);
}

/** Applies missing versions; returns the versions applied (empty when already current). */
export async function migrate(db: Database, schema: string, extraDdl: readonly string[]): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey('migrate', schema)]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${versionTable(schema)} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const current = await schemaVersion(tx, schema);
    if (current > LATEST_VERSION) throw new SchemaVersionError(schema, current, LATEST_VERSION);
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const statement of m.sql.split(';').map((s) => s.trim()).filter(Boolean)) {
        await tx.query(statement.replaceAll('{schema}', quoteIdent(schema)));
      }
      await tx.query(`INSERT INTO ${versionTable(schema)} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    for (const ddl of extraDdl) await tx.query(ddl);
    return applied;
  });
}
