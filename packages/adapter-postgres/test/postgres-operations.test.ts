import { SyncConfigError, SyncError } from '@tidesync/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SchemaVersionError, createPostgresStore, quoteIdent, redactConnectionString, type PostgresStoreOptions, type TableMapping } from '../src/index.js';
import { lockKey } from '../src/lock-keys.js';
import { TEST_DATABASE_URL, backends, inventoryMapping, itemsTable, newPool, randomSchema, slot, waitFor, type Slot } from './helpers.js';

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SyncConfigError);
    return (err as SyncConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a SyncConfigError');
};
const fakeClient = { query: async () => ({ rows: [] }) };

describe('options', () => {
  it('names every problem of a bad table mapping', () => {
    const issues = issuesOf(() =>
      createPostgresStore({
        client: fakeClient,
        tables: [
          { name: 'slots', columns: { time: 'text', meta: 'json', left: 'integer; DROP TABLE x', seats: 'integer not null', code: 'text unique' }, key: ['time', 'nope'] },
          { name: 'slots', columns: { a: 'text', b: 'text', c: 'int' }, key: ['a'], scope: ['b', 'c'] },
        ],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tables\.0\.columns\.meta: use jsonb/),
        expect.stringMatching(/^tables\.0\.columns\.left: .*not a PostgreSQL type/),
        expect.stringMatching(/^tables\.0\.columns\.seats: .*not a PostgreSQL type name \(a type only: constraints such as NOT NULL/),
        expect.stringMatching(/^tables\.0\.columns\.code: .*not a PostgreSQL type/),
        expect.stringMatching(/^tables\.0\.key\.1: key column "nope" is not declared/),
        expect.stringMatching(/^tables\.1\.name: table "slots" is mapped twice/),
        expect.stringMatching(/^rows: required when more than one table/),
        expect.stringMatching(/^tables\.1\.scope: more than one scope column needs the scopeValues option/),
      ]),
    );
  });

  it('lists the checks across options next to any other problem (a bad client or logger hid them)', () => {
    const first = issuesOf(() =>
      createPostgresStore({ client: undefined as never, tables: [itemsTable, itemsTable] } as PostgresStoreOptions),
    );
    expect(first).toEqual(
      expect.arrayContaining([expect.stringMatching(/^client: /), expect.stringMatching(/^tables\.1\.name: table "items" is mapped twice/), expect.stringMatching(/^rows: required/)]),
    );
    const second = issuesOf(() =>
      createPostgresStore({ client: 'postgres://x', logger: {} as never, tables: [{ name: 't', columns: { a: 'text', b: 'text', c: 'int' }, key: ['a'], scope: ['b', 'c'] }] }),
    );
    expect(second).toEqual(expect.arrayContaining([expect.stringMatching(/^logger: /), expect.stringMatching(/^tables\.0\.scope: more than one scope column needs the scopeValues/)]));
  });

  it('rejects identifiers that carry quotes, semicolons or spaces, wherever they appear', () => {
    const issues = issuesOf(() =>
      createPostgresStore({
        client: fakeClient,
        schema: 'x"; DROP SCHEMA public; --',
        tables: [{ name: 'items"; --', columns: { 'id" text); --': 'text', id: 'text' }, key: ['id'] }],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^schema: must be a plain SQL identifier/),
        expect.stringMatching(/^tables\.0\.name: must be a plain SQL identifier/),
        expect.stringMatching(/^tables\.0\.columns\.id" text\); --: column name must be a plain SQL identifier/),
      ]),
    );
    expect(quoteIdent('a"b; c')).toBe('"a""b; c"');
  });

  it('rejects reserved names, array key columns and a missing client', () => {
    const issues = issuesOf(() =>
      createPostgresStore({ client: undefined as never, tables: [{ name: 'tidesync_key_state', columns: { ids: 'text[]' }, key: ['ids'] }] } as PostgresStoreOptions),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^client: /),
        expect.stringMatching(/^tables\.0\.name: .*reserved/),
        expect.stringMatching(/^tables\.0\.key\.0: key column "ids" must have a scalar type/),
      ]),
    );
  });

  it('never shows a password from a connection string', async () => {
    expect(redactConnectionString('postgres://app:s3cr3t@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactConnectionString('host=db password=s3cr3t user=app')).toBe('host=db password=*** user=app');
    // A password with an unencoded '@' (not a valid URL, but written that way) goes whole.
    expect(redactConnectionString('connect to postgres://app:p@ss@w0rd@db:5432/x failed')).toBe('connect to postgres://app:***@db:5432/x failed');
    // A space in the password (node-postgres takes it unencoded) does not end the redaction.
    expect(redactConnectionString('database: postgres://app:s3cr3t pw@db:5432/x')).toBe('database: postgres://app:***@db:5432/x');
    const store = createPostgresStore({ client: 'postgres://app:s3cr3t@127.0.0.1:1/x', tables: [itemsTable] });
    const err = await store.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(String((err as Error).message)).not.toContain('s3cr3t');
    await store.close();
  });
});

describe.each(backends.map((b) => [b.name, b] as const))('migrations (%s)', (_name, backend) => {
  const withSchema = (fn: (schema: string) => Promise<void>) => async () => {
    const schema = randomSchema();
    try {
      await fn(schema);
    } finally {
      await (await backend.admin()).query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  };
  /** The items table mapped with `columns` on top of its own. */
  const itemsWith = async (schema: string, columns: TableMapping['columns']) =>
    createPostgresStore({ client: await backend.client(), schema, tables: [{ ...itemsTable, columns: { ...itemsTable.columns, ...columns } }], autoMigrate: true });

  it('refuses to run on an unmigrated schema unless asked, then migrates once', withSchema(async (schema) => {
    const store = createPostgresStore({ client: await backend.client(), schema, tables: [itemsTable] });
    await expect(store.init()).rejects.toThrow(/version 0.*call store\.migrate\(\)/);
    expect(await store.migrate()).toEqual([1]);
    expect(await store.migrate()).toEqual([]);
    await store.init();
    await store.close();
  }));

  it('serialises concurrent migrations: each version is applied exactly once', withSchema(async (schema) => {
    const stores = await Promise.all([0, 1, 2].map(async () => createPostgresStore({ client: await backend.client(true), schema, tables: [itemsTable] })));
    const applied = await Promise.all(stores.map((s) => s.migrate()));
    expect(applied.flat()).toEqual([1]);
    await Promise.all(stores.map((s) => s.close()));
  }));

  it('raises SchemaVersionError on a schema newer than the code', withSchema(async (schema) => {
    const store = createPostgresStore({ client: await backend.client(), schema, tables: [itemsTable], autoMigrate: true });
    await store.init();
    await (await backend.admin()).query(`INSERT INTO ${schema}.tidesync_migrations (version, name) VALUES (99, 'from the future')`);
    const newer = createPostgresStore({ client: await backend.client(), schema, tables: [itemsTable] });
    const err = await newer.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect(err).toMatchObject({ found: 99, supported: 1, code: 'STORE_SCHEMA' });
    await expect(newer.migrate()).rejects.toBeInstanceOf(SchemaVersionError);
  }));

  it('reports mapped columns the existing table lacks as SyncConfigError', withSchema(async (schema) => {
    await createPostgresStore({ client: await backend.client(), schema, tables: [itemsTable], autoMigrate: true }).init();
    const err = await (await itemsWith(schema, { currency: 'text' })).init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncConfigError);
    expect((err as SyncConfigError).issues).toEqual([{ path: 'tables.0.columns.currency', message: `column missing in ${schema}.items` }]);
  }));

  it('reports a declared type the created column cannot be compared with as SyncConfigError, at init', withSchema(async (schema) => {
    await createPostgresStore({ client: await backend.client(), schema, tables: [itemsTable], autoMigrate: true }).init();
    const admin = await backend.admin();
    await admin.query(`ALTER TABLE ${schema}.items ADD COLUMN stock integer`);
    const err = await (await itemsWith(schema, { stock: 'text' })).init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncConfigError);
    expect((err as SyncConfigError).issues).toEqual([
      { path: 'tables.0', message: expect.stringMatching(new RegExp(`^${schema}\\.items cannot be written with this mapping: .*(operator does not exist|is of type integer but expression is of type text)`)) },
    ]);
    // Every table that cannot be served is named, not only the first.
    const bothTables = async () =>
      createPostgresStore({
        client: await backend.client(),
        schema,
        autoMigrate: true,
        rows: (data: unknown) => data as Record<string, never[]>,
        tables: [
          { ...itemsTable, columns: { ...itemsTable.columns, stock: 'text' } },
          { ...itemsTable, name: 'items_copy', columns: { ...itemsTable.columns, stock: 'text' } },
        ],
      });
    const two = await bothTables();
    await two.init().catch(() => {}); // creates items_copy (with stock text)
    await admin.query(`ALTER TABLE ${schema}.items_copy ALTER COLUMN stock TYPE integer USING NULL`);
    const both = await (await bothTables()).init().catch((e: unknown) => e);
    expect((both as SyncConfigError).issues.map((i) => i.path)).toEqual(['tables.0', 'tables.1']);
    // Types that differ but convert (integer declared for a bigint column) pass.
    await admin.query(`ALTER TABLE ${schema}.items ALTER COLUMN stock TYPE bigint`);
    await (await itemsWith(schema, { stock: 'integer' })).init();
  }));
});

describe.skipIf(!TEST_DATABASE_URL)('sessions that die (PostgreSQL)', () => {
  it('a connection killed mid-transaction leaves no partial scope', async () => {
    const schema = randomSchema();
    const admin = newPool(2);
    const store = createPostgresStore<Slot[]>({ client: newPool(), schema, autoMigrate: true, ...inventoryMapping });
    const write = (data: Slot[], fetchedAt: number) => store.write({ scopes: [{ key: 'k', scope: 'p1:2026-11-28', job: 'today', data, fetchedAt }] });
    const blocker = await admin.connect();
    try {
      await write([slot('09:00', 5, 49.9), slot('10:00', 5, 49.9)], 1_000);
      const snapshot = () => admin.query(`SELECT time, left_count, xmin::text FROM ${schema}.slots ORDER BY time`).then((r) => r.rows);
      const before = await snapshot();
      // Hold a price row so the batch blocks after it has already rewritten the slots table.
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM ${schema}.slot_prices WHERE time = '09:00' FOR UPDATE`);
      const pending = write([slot('09:00', 4, 55), slot('11:00', 9, 10)], 2_000).catch((e: unknown) => e);
      const pid = await waitFor(async () => {
        const { rows } = await admin.query(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, [`%${schema}"."slot_prices%`]);
        return rows[0]?.pid as number | undefined;
      }, 'the writer to block');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const err = await pending;
      expect(err).toBeInstanceOf(SyncError);
      await blocker.query('ROLLBACK');
      expect(await snapshot()).toEqual(before);
      expect((await store.readKeyStates(['k'])).get('k')?.lastSuccessAt).toBe(1_000);
      // The broken connection was discarded: the next batch goes through.
      expect(await write([slot('09:00', 4, 55)], 3_000)).toEqual({ inserted: 0, updated: 2, unchanged: 1, deleted: 3 });
    } finally {
      blocker.release();
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('leadership moves when the leader’s session dies', async () => {
    const schema = randomSchema();
    const admin = newPool(1);
    const open = () => createPostgresStore({ client: newPool(), schema, tables: [itemsTable], autoMigrate: true });
    const [a, b] = [open(), open()];
    try {
      await a.init();
      await b.init();
      const lockA = a.capabilities!.leaderLock!;
      const lockB = b.capabilities!.leaderLock!;
      expect(await lockA.acquire()).toBe(true);
      expect(await lockB.acquire()).toBe(false);
      const key = BigInt.asUintN(64, BigInt(lockKey('leader', schema)));
      const { rows } = await admin.query(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::text::bigint = $1 AND objid::text::bigint = $2`,
        [String(key >> 32n), String(key & 0xffffffffn)],
      );
      expect(rows).toHaveLength(1);
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
      await waitFor(async () => ((await lockB.acquire()) ? true : undefined), 'B to take over');
      expect(await lockA.acquire()).toBe(false);
      await lockB.release();
      expect(await lockA.acquire()).toBe(true);
      await lockA.release();
    } finally {
      await a.close();
      await b.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('overlapping leadership checks (schedules firing at once) share one session and one answer', async () => {
    const schema = randomSchema();
    const admin = newPool(1);
    const pool = newPool();
    const store = createPostgresStore({ client: pool, schema, tables: [itemsTable], autoMigrate: true });
    const key = BigInt.asUintN(64, BigInt(lockKey('leader', schema)));
    const holders = async () =>
      (
        await admin.query(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::text::bigint = $1 AND objid::text::bigint = $2`,
          [String(key >> 32n), String(key & 0xffffffffn)],
        )
      ).rows as { pid: number }[];
    try {
      await store.init();
      const lock = store.capabilities!.leaderLock!;
      expect(await Promise.all([lock.acquire(), lock.acquire(), lock.acquire()])).toEqual([true, true, true]);
      const [holder, ...others] = await holders();
      expect(others).toEqual([]);
      expect(pool.totalCount - pool.idleCount).toBe(1);
      expect(await Promise.all([lock.acquire(), lock.acquire()])).toEqual([true, true]);
      // The leader's session dies: the overlapping checks find out together, hand its connection
      // back once, and take the lock again on one new session.
      await admin.query('SELECT pg_terminate_backend($1)', [holder!.pid]);
      expect(await Promise.all([lock.acquire(), lock.acquire(), lock.acquire()])).toEqual([true, true, true]);
      const after = await holders();
      expect(after).toHaveLength(1);
      expect(after[0]!.pid).not.toBe(holder!.pid);
      // A release that overlaps a check waits for it, then lets go.
      await Promise.all([lock.acquire(), lock.release()]);
      expect(await holders()).toEqual([]);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('a lone pg Client works too (transactions serialised on its one session)', async () => {
    const schema = randomSchema();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const store = createPostgresStore<Slot[]>({ client, schema, autoMigrate: true, ...inventoryMapping });
      const results = await Promise.all(
        ['p1:2026-11-28', 'p2:2026-11-28', 'p1:2026-11-28'].map((scope, i) => store.write({ scopes: [{ key: scope, scope, job: 'j', data: [slot('09:00', i)], fetchedAt: i }] })),
      );
      expect(results.map((r) => r.inserted + r.updated)).toEqual([3, 3, 1]);
      expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: '09:00', left_count: 2 }]);
      await store.close();
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });
});
