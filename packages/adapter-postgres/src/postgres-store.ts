/**
 * PostgreSQL Store — the Store contract on PostgreSQL or PGlite.
 *
 * Guarantees (on top of the Store contract in @tidesync/core):
 * - **One transaction per batch**: advisory locks on the batch's scopes (PostgreSQL), the rows of
 *   every mapped table and the keys' freshness state commit together. A batch the store cannot accept
 *   (duplicate identity, a value its column cannot hold, a missing key) is rejected before or
 *   inside that transaction, so nothing of it lands.
 * - **Set-based and change-skipping**: rows travel in bulk (COPY where the client can — binary
 *   format on PGlite where every column's type allows it, see `copy-binary.ts` — `unnest` of text
 *   arrays otherwise). Into scopes that hold no rows they are loaded directly; otherwise
 *   they are staged, diffed against the stored rows in one join, and only the differences are
 *   written (see `tableStatements`), so a row whose values are unchanged is never rewritten.
 * - **Scope-local**: only the scopes in the batch are replaced; a scope's rows are deleted only by
 *   a successful fetch of that scope that returned without them. The mapped tables' rows in a
 *   scope are the store's to write: whether each table holds any of the batch's scopes is asked
 *   once, before the first table is written, so a trigger that writes one mapped table from
 *   another is not supported (its rows would be replaced by the fetched truth in any case).
 * - **Concurrent writers** on overlapping scopes serialise on per-scope transaction advisory locks
 *   taken in one global order, so they neither corrupt a scope nor deadlock. On PGlite, one
 *   embedded session whose transactions already run one at a time, no lock is needed or taken.
 * - A batch naming one scope twice keeps the last occurrence's data; every key is marked fresh.
 */
import {
  SyncConfigError,
  StoreRejectedError,
  SyncError,
  emptyWriteResult,
  errorMessage,
  parseOptions,
  safeLogger,
  type ConfigIssue,
  type Logger,
  type ScopeWrite,
  type Store,
  type WriteBatch,
  type WriteResult,
  functionOption as fn,
} from '@tidesync/core';
import { z } from 'zod';
import { createDatabase, loadPgCopyStreams, redactConnectionString, type Database, type Queryable, type Tx } from './database.js';
import { castType, domainLimit, fitText, type LengthLimit } from './column-types.js';
import { encodeValue } from './encode.js';
import { identifierMessage, isIdentifier } from './identifiers.js';
import { createLeaderLock } from './leader-lock.js';
import { scopeLockKeys } from './lock-keys.js';
import { LATEST_VERSION, SchemaVersionError, migrate, schemaVersion } from './migrations.js';
import { arrayColumns, binaryCopy, copyChunks, scopeIdentities, stageBatch, type StagedTable } from './stage.js';
import { syncStateSql } from './sync-state.js';
import {
  batchEmptySql,
  createTableSql,
  planTable,
  readScopeSql,
  tableMappingSchema,
  tableStatements,
  type Row,
  type TableMapping,
  type TablePlan,
} from './table-mapping.js';

export type StagingMethod = 'auto' | 'copy' | 'unnest';

export interface PostgresStoreOptions<D = unknown> {
  /** A node-postgres Pool or Client, a PGlite instance, or a connection string (then a pg Pool is created and owned). */
  client: Queryable | string;
  /** Schema holding the sync-state tables and the mapped tables. Default `tidesync`. */
  schema?: string;
  /** The tables a scope writes. */
  tables: readonly TableMapping[];
  /**
   * Fetched data → rows per table: `{ [tableName]: rows }`, or just the rows when there is one
   * table. Default: the data itself, which must be an array of rows (one table).
   */
  rows?: (data: D, scope: string) => Row[] | Record<string, Row[]>;
  /**
   * Scope string → values of the scope columns, e.g. `'p14:2026-11-28'` → `{ product_id: 14, date: '2026-11-28' }`.
   * Default: the scope string itself for the single scope column of every table.
   */
  scopeValues?: (scope: string) => Record<string, unknown>;
  /** Apply pending migrations (and create missing mapped tables) in `init()`. Default false. */
  autoMigrate?: boolean;
  /** `migrate()` also creates mapped tables that do not exist yet. Default true. */
  createTables?: boolean;
  /** How rows are staged. `auto`: COPY on PGlite, and on pg when pg-copy-streams is installed; `unnest` otherwise. */
  staging?: StagingMethod;
  logger?: Logger;
}

export interface ReadScopeOptions {
  /** Which mapped table; default the first. */
  table?: string;
}

export interface PostgresStore<D = unknown> extends Store<D> {
  init(): Promise<void>;
  close(): Promise<void>;
  /** Apply missing migrations; returns the versions applied. */
  migrate(): Promise<number[]>;
  /** Rows of one scope in one mapped table, without the scope columns, with column `read` parsers applied. */
  readScope(scope: string, options?: ReadScopeOptions): Promise<Row[]>;
  forgetKeys(keys: readonly string[]): Promise<void>;
  readonly schema: string;
}


const optionsSchema = z
  .object({
    client: z.union([
      z.string().min(1, { message: 'expected a connection string' }),
      z.custom<Queryable>((v) => typeof v === 'object' && v !== null && typeof (v as Queryable).query === 'function', {
        message: 'expected a pg Pool or Client, a PGlite instance, or a connection string',
      }),
    ]),
    schema: z.string().refine(isIdentifier, { message: identifierMessage }).default('tidesync'),
    tables: z.array(tableMappingSchema).min(1, { message: 'map at least one table' }),
    rows: fn<(data: unknown, scope: string) => Row[] | Record<string, Row[]>>('a function (data, scope) => rows').optional(),
    scopeValues: fn<(scope: string) => Record<string, unknown>>('a function (scope) => scope column values').optional(),
    autoMigrate: z.boolean().default(false),
    createTables: z.boolean().default(true),
    staging: z.enum(['auto', 'copy', 'unnest']).default('auto'),
    logger: z
      .custom<Logger>((v) => typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'), {
        message: 'expected a logger with debug, info, warn, error',
      })
      .optional(),
  });

/**
 * The checks across options, on the raw input: zod skips refinements once any field fails, so as
 * refinements these went unreported next to another problem (a bad logger hid a missing `rows`).
 */
function crossIssues(input: unknown): ConfigIssue[] {
  const o = (typeof input === 'object' && input !== null ? input : {}) as { tables?: unknown; rows?: unknown; scopeValues?: unknown };
  if (!Array.isArray(o.tables)) return [];
  const tables = o.tables.map((t) => (typeof t === 'object' && t !== null ? (t as { name?: unknown; scope?: unknown }) : {}));
  const issues: ConfigIssue[] = [];
  const names = new Set<unknown>();
  tables.forEach((t, i) => {
    if (typeof t.name === 'string' && names.has(t.name)) issues.push({ path: `tables.${i}.name`, message: `table "${t.name}" is mapped twice` });
    names.add(t.name);
  });
  if (tables.length > 1 && o.rows === undefined) issues.push({ path: 'rows', message: 'required when more than one table is mapped: return { [table]: rows }' });
  if (o.scopeValues === undefined) {
    tables.forEach((t, i) => {
      if (Array.isArray(t.scope) && t.scope.length > 1) issues.push({ path: `tables.${i}.scope`, message: 'more than one scope column needs the scopeValues option' });
    });
  }
  return issues;
}

const storeError = (err: unknown, what: string): SyncError =>
  err instanceof SyncError ? err : new SyncError('STORE_FAILED', `${what}: ${redactConnectionString(errorMessage(err))}`, { cause: err });

/**
 * A unique violation while writing a batch: two of its rows that the database sees as one identity
 * (the staging table's or the target's primary key), or, on the target, a row some other writer
 * put in meanwhile. `detail` names the key's values, never a connection setting.
 */
function keyConflict(err: unknown, plans: readonly TablePlan[]): SyncError | undefined {
  const e = err as { code?: unknown; detail?: unknown; table?: unknown } | undefined;
  if (e?.code !== '23505') return undefined;
  // The staging table of plans[i] is `tidesync_stage_<i>_…` (see tableStatements).
  const staged = typeof e.table === 'string' ? /^tidesync_stage_(\d+)_/.exec(e.table) : null;
  const table = staged ? plans[Number(staged[1])]?.name : plans.find((p) => p.name === e.table)?.name;
  const detail = typeof e.detail === 'string' ? `: ${e.detail}` : '';
  return new SyncError('STORE_CONFLICT', `two rows of one scope share a key in ${table ?? 'a mapped table'}${detail}`, { cause: err });
}

/**
 * The database refused the batch's data: a data exception (SQLSTATE class 22: a number out of
 * range, a NUL in text, a malformed value) or an integrity violation (class 23: a NOT NULL, CHECK
 * or foreign key of the user's table). Not a store that is away: the same data fails again.
 */
function dataRejected(err: unknown, scopes: number): SyncError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !/^2[23][0-9A-Z]{3}$/.test(code)) return undefined;
  return new StoreRejectedError(`postgres rejected the data of ${scopes} scope(s): ${redactConnectionString(errorMessage(err))}`, { cause: err });
}

export function createPostgresStore<D = unknown>(options: PostgresStoreOptions<D>): PostgresStore<D> {
  const o = parseOptions('postgres store options', optionsSchema, options, crossIssues);
  // A logger that throws must not fail a committed write (the engine would retry it) or crash the
  // process from the pool's error listener.
  const logger = safeLogger(o.logger);
  const schema = o.schema;
  const plans = o.tables.map((t) => planTable(schema, t as TableMapping));
  const planByName = new Map(plans.map((p) => [p.name, p]));
  const statements = plans.map((p, i) => tableStatements(p, i));
  let emptySql = batchEmptySql(plans);
  /** Per table: COPY in binary format on PGlite (decided in `verifyTables`). */
  const binaryTables = plans.map(() => false);
  const toRows = (o.rows ?? ((data: unknown) => data)) as (data: unknown, scope: string) => Row[] | Record<string, Row[]>;
  const scopeValues =
    o.scopeValues ??
    ((scope: string): Record<string, unknown> => Object.fromEntries(plans.map((p) => [p.scopeCols[0]!.name, scope])));

  const db: Database = createDatabase(o.client, (err) => logger.warn({ err: redactConnectionString(errorMessage(err)) }, 'postgres pool client error'));
  const state = syncStateSql(schema);
  const leader = createLeaderLock(db, schema);

  let initialising: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    initialising ??= initialise().catch((err: unknown) => {
      initialising = undefined; // a failed init (server down, schema old) may succeed later
      throw err;
    });
    return initialising;
  };

  async function initialise(): Promise<void> {
    if (o.autoMigrate) await runMigrations();
    let version: number;
    try {
      version = await schemaVersion(db, schema);
    } catch (err) {
      throw storeError(err, 'postgres store init failed');
    }
    if (version > LATEST_VERSION) throw new SchemaVersionError(schema, version, LATEST_VERSION);
    if (version < LATEST_VERSION) {
      throw new SyncError('STORE_SCHEMA', `schema "${schema}" is at version ${version}, this code needs ${LATEST_VERSION}: call store.migrate() or pass autoMigrate: true`);
    }
    try {
      await verifyTables();
    } catch (err) {
      throw storeError(err, 'postgres store init failed');
    }
  }

  async function runMigrations(): Promise<number[]> {
    try {
      const applied = await migrate(db, schema, o.createTables ? plans.map(createTableSql) : []);
      if (applied.length > 0) logger.info({ schema, applied }, 'postgres store migrated');
      return applied;
    } catch (err) {
      throw storeError(err, 'postgres store migration failed');
    }
  }

  /**
   * Checks the mapped tables against the catalog, once, at init:
   * - a mapping that names columns the table lacks would fail at the first write; fail here, naming each;
   * - binary COPY is used for a table only where every column's type is the declared one: binary
   *   data is read with the real column's reader, so a column declared `double precision` but
   *   created `bigint` would load garbage (text COPY converts, as it always did);
   * - a column declared with a domain over a length-limited character or bit type gets that limit
   *   (see `column-types.ts`), so its values are never cut by a cast.
   */
  async function verifyTables(): Promise<void> {
    const { rows } = await db.query<{ table_name: string; column_name: string; type_oid: number }>(
      `SELECT c.relname AS table_name, a.attname AS column_name, a.atttypid::int AS type_oid
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND a.attnum > 0 AND NOT a.attisdropped`,
      [schema, plans.map((p) => p.name)],
    );
    const actual = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, Number(r.type_oid)]));
    const tables = new Set(rows.map((r) => r.table_name));
    const issues: ConfigIssue[] = [];
    plans.forEach((p, i) => {
      if (!tables.has(p.name)) issues.push({ path: `tables.${i}`, message: `table ${schema}.${p.name} does not exist (run migrate() with createTables, or create it)` });
      else for (const c of p.all) if (!actual.has(`${p.name}.${c.name}`)) issues.push({ path: `tables.${i}.columns.${c.name}`, message: `column missing in ${schema}.${p.name}` });
    });
    if (issues.length > 0) throw new SyncConfigError('postgres store tables', issues);

    const declared = await readDeclaredTypes([...new Set(plans.flatMap((p) => p.all.map((c) => c.type)))]);
    let refined = false;
    plans.forEach((p, i) => {
      binaryTables[i] = p.binaryCopy && p.all.every((c) => declared.get(c.type)?.oid != null && declared.get(c.type)!.oid === actual.get(`${p.name}.${c.name}`));
      for (const c of p.all) {
        const limit = c.limit ? undefined : declared.get(c.type)?.limit;
        if (!limit) continue;
        c.limit = limit;
        c.cast = castType(c.type, limit);
        refined = true;
      }
    });
    if (refined) {
      plans.forEach((p, i) => (statements[i] = tableStatements(p, i)));
      emptySql = batchEmptySql(plans);
    }
    await checkStatements();
  }

  /**
   * Each declared type's OID (null when the name does not resolve) and, for a domain, the length
   * limit it inherits: the chain of base types is walked down to a plain type, so a domain over a
   * domain over varchar(3) is limited as PostgreSQL limits it (the first typmod set on the way
   * down, on the plain type at the bottom).
   */
  async function readDeclaredTypes(declaredTypes: string[]): Promise<Map<string, { oid: number | null; limit: LengthLimit | undefined }>> {
    const { rows: chain } = await db.query<{ type: string; depth: number; oid: number | null; name: string | null; domain: boolean; typmod: number }>(
      `WITH RECURSIVE chain AS (
         SELECT d.type, 0 AS depth, t.oid, t.typname, t.typtype, t.typbasetype, t.typtypmod
           FROM unnest($1::text[]) AS d(type) LEFT JOIN pg_type t ON t.oid = to_regtype(d.type)
         UNION ALL
         SELECT c.type, c.depth + 1, b.oid, b.typname, b.typtype, b.typbasetype, b.typtypmod
           FROM chain c JOIN pg_type b ON b.oid = c.typbasetype WHERE c.typtype = 'd' AND c.depth < 32)
       SELECT type, depth, oid::int AS oid, typname::text AS name, typtype = 'd' AS domain, typtypmod::int AS typmod FROM chain ORDER BY type, depth`,
      [declaredTypes],
    );
    const declared = new Map<string, { oid: number | null; limit: LengthLimit | undefined }>();
    for (const type of declaredTypes) {
      const levels = chain.filter((r) => r.type === type);
      const bottom = levels[levels.length - 1];
      const typmod = levels.find((r) => r.domain && Number(r.typmod) >= 0)?.typmod ?? -1;
      const limit = levels[0]?.domain && bottom?.name && !bottom.domain ? domainLimit(bottom.name, Number(typmod)) : undefined;
      declared.set(type, { oid: levels[0]?.oid == null ? null : Number(levels[0].oid), limit });
    }
    return declared;
  }

  /**
   * Plans every statement a write runs (EXPLAIN, nothing executed, rolled back), so a mapping the
   * tables cannot serve — a declared type that cannot be compared with or stored in the created
   * column (`text` declared for an `integer`) — fails `init()` naming the table, not the first
   * write to a scope that holds rows.
   */
  async function checkStatements(): Promise<void> {
    const ROLLBACK = Symbol('rollback');
    const issues: ConfigIssue[] = [];
    await db
      .transaction(async (tx) => {
        for (const [i, p] of plans.entries()) {
          const sql = statements[i]!;
          const noScopes = p.scopeCols.map(() => []);
          // One savepoint per table: a table that fails rolls back to it, and the next is still checked.
          await tx.query('SAVEPOINT tidesync_check');
          try {
            await tx.query(sql.staging.createSql);
            await tx.query(sql.diff.createSql);
            await tx.query(`EXPLAIN ${sql.diffSql}`, noScopes);
            await tx.query(`EXPLAIN ${sql.applySql}`);
            await tx.query(`EXPLAIN ${sql.insertFromUnnest}`, p.all.map(() => []));
          } catch (err) {
            issues.push({ path: `tables.${i}`, message: `${schema}.${p.name} cannot be written with this mapping: ${errorMessage(err)}` });
            await tx.query('ROLLBACK TO SAVEPOINT tidesync_check');
          }
        }
        throw ROLLBACK;
      })
      .catch((err: unknown) => {
        if (err !== ROLLBACK) throw err;
      });
    if (issues.length > 0) throw new SyncConfigError('postgres store tables', issues);
  }

  /** How `tx` stages this batch's rows. */
  const stagingMethod = async (tx: Tx): Promise<'copy' | 'unnest'> => {
    if (o.staging !== 'auto') return o.staging;
    // PGlite COPYs from a file ('/dev/blob'), which takes a superuser or pg_read_server_files:
    // asked in each write's transaction, as the session's role may change (SET ROLE).
    if (db.kind === 'pglite') return (await tx.query<{ ok: boolean }>(`SELECT pg_has_role(current_user, 'pg_read_server_files', 'USAGE') AS ok`)).rows[0]?.ok === true ? 'copy' : 'unnest';
    if (db.kind === 'pool') return (await loadPgCopyStreams()) ? 'copy' : 'unnest';
    return 'unnest';
  };

  /**
   * Replaces the batch's scopes in one table; see `tableStatements` for the steps and why. `empty`:
   * no scope of the batch has a row in the table (from `emptySql`).
   */
  async function applyTable(tx: Tx, t: StagedTable, index: number, empty: boolean, copy: boolean): Promise<{ inserted: number; updated: number; deleted: number }> {
    const sql = statements[index]!;
    const columns = t.plan.all.map((c) => c.q).join(', ');
    const load = async (into: string, unnestInsert: string) => {
      if (!copy) {
        await tx.query(unnestInsert, arrayColumns(t));
        return;
      }
      // PGlite parses in Node's own thread, so binary rows (no parsing) shorten the write; a
      // server parses text while Node encodes the next chunk, so there the text stream stays.
      const binary = db.kind === 'pglite' && binaryTables[index] ? binaryCopy(t) : undefined;
      if (binary) await tx.copyIn!(into, columns, binary, 'binary');
      else await tx.copyIn!(into, columns, copyChunks(t));
    };
    if (empty) {
      if (t.rowCount > 0) await load(t.plan.target, sql.insertFromUnnest);
      return { inserted: t.rowCount, updated: 0, deleted: 0 };
    }
    await tx.query(sql.staging.createSql);
    await tx.query(sql.diff.createSql);
    if (t.rowCount > 0) await load(sql.staging.name, sql.stageFromUnnest);
    const { rows: differences } = await tx.query<{ n: number }>(sql.diffSql, t.scopeParams);
    if (Number(differences[0]!.n) === 0) return { inserted: 0, updated: 0, deleted: 0 };
    const { rows } = await tx.query<{ inserted: number; updated: number; deleted: number }>(sql.applySql);
    const r = rows[0]!;
    return { inserted: Number(r.inserted), updated: Number(r.updated), deleted: Number(r.deleted) };
  }

  const stateQuery = async (fnc: (q: Database['query']) => Promise<void>) => {
    await ready();
    try {
      await fnc(db.query);
    } catch (err) {
      throw storeError(err, 'postgres store state update failed');
    }
  };

  return {
    schema,
    capabilities: { leaderLock: { acquire: leader.acquire, release: leader.release } },

    init: ready,

    async close() {
      await leader.dispose();
      await db.close();
    },

    migrate: runMigrations,

    async write(batch: WriteBatch<D>): Promise<WriteResult> {
      await ready();
      const result = emptyWriteResult();
      if (batch.scopes.length === 0) return result;
      const byScope = new Map<string, ScopeWrite<D>>();
      for (const s of batch.scopes) byScope.set(s.scope, s);
      const scopes = [...byScope.values()];
      const staged = stageBatch(plans, { toRows, scopeValues }, scopes);
      try {
        await db.transaction(async (tx) => {
          const copy = (await stagingMethod(tx)) === 'copy';
          if (db.kind !== 'pglite') {
            await tx.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k', [scopeLockKeys(schema, staged.flatMap(scopeIdentities))]);
          }
          const { rows: probe } = await tx.query<Record<string, boolean>>(emptySql, staged.flatMap((t) => t.scopeParams));
          for (const [i, t] of staged.entries()) {
            const counts = await applyTable(tx, t, i, probe[0]![`e${i}`] === true, copy);
            result.inserted += counts.inserted;
            result.updated += counts.updated;
            result.unchanged += t.rowCount - counts.inserted - counts.updated;
            result.deleted += counts.deleted;
          }
          await state.markSucceeded(tx.query, batch.scopes);
        });
      } catch (err) {
        throw keyConflict(err, plans) ?? dataRejected(err, scopes.length) ?? storeError(err, `postgres write of ${scopes.length} scope(s) failed`);
      }
      logger.debug({ scopes: scopes.length, ...result }, 'postgres batch written');
      return result;
    },

    async readKeyStates(keys) {
      await ready();
      return state.readKeyStates(db.query, keys);
    },
    recordFailures: (failures) => stateQuery((q) => state.recordFailures(q, failures)),
    forgetKeys: (keys) => stateQuery((q) => state.forgetKeys(q, keys)),
    async readPaused() {
      await ready();
      return state.readPaused(db.query);
    },
    writePaused: (target, paused) => stateQuery((q) => state.writePaused(q, target, paused)),
    async readLastTick(id) {
      await ready();
      return state.readLastTick(db.query, id);
    },
    writeLastTick: (id, at) => stateQuery((q) => state.writeLastTick(q, id, at)),
    addDeadLetter: (entry) => stateQuery((q) => state.addDeadLetter(q, entry)),
    async listDeadLetters() {
      await ready();
      return state.listDeadLetters(db.query);
    },
    removeDeadLetters: (keys) => stateQuery((q) => state.removeDeadLetters(q, keys)),

    async readScope(scope, readOptions = {}) {
      await ready();
      const plan = readOptions.table === undefined ? plans[0]! : planByName.get(readOptions.table);
      if (!plan) throw new SyncError('STORE_FAILED', `no mapped table named ${readOptions.table}`);
      const values = scopeValues(scope);
      const params: (string | null)[] = [];
      for (const c of plan.scopeCols) {
        const text = encodeValue(values[c.name], c.kind);
        const fitted = text !== null && c.limit ? fitText(text, c.limit) : text;
        // A scope value its column cannot hold names no stored scope.
        if (fitted === undefined) return [];
        params.push(fitted);
      }
      let rows: Row[];
      try {
        ({ rows } = await db.query<Row>(readScopeSql(plan), params));
      } catch (err) {
        // A scope value its column's domain CHECK refuses names no stored scope either.
        if ((err as { code?: unknown }).code === '23514') return [];
        throw storeError(err, `postgres read of scope ${scope} failed`);
      }
      const parsers = [...plan.keyCols, ...plan.valueCols].filter((c) => c.read);
      if (parsers.length > 0) for (const row of rows) for (const c of parsers) row[c.name] = c.read!(row[c.name]);
      return rows;
    },
  };
}
