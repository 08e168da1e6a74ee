import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresStore, type StagingMethod, type TableMapping } from '../src/index.js';
import { TEST_DATABASE_URL, backends, newPool, randomSchema, sharedPGlite, waitFor, type Backend } from './helpers.js';

const idsTable: TableMapping = { name: 'p', columns: { pid: 'integer', id: 'integer', v: 'text' }, key: ['id'], scope: ['pid'] };
const ids = (...list: number[]) => list.map((id) => ({ id, v: `v${id}` }));

describe.skipIf(!TEST_DATABASE_URL)('writers under a default isolation above READ COMMITTED (PostgreSQL)', () => {
  it('a writer that waited for the scope lock sees what the previous one committed', async () => {
    const schema = randomSchema();
    // A role or database whose default is REPEATABLE READ: the store's transactions must not inherit it.
    const repeatable = () => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, options: '-c default_transaction_isolation=repeatable\\ read', max: 3 });
      pool.on('error', () => {});
      return pool;
    };
    const pools = [repeatable(), repeatable()];
    const open = (client: pg.Pool) => createPostgresStore<{ id: number; v: string }[]>({ client, schema, autoMigrate: true, tables: [idsTable], scopeValues: (scope) => ({ pid: Number(scope) }) });
    const [a, b] = pools.map(open) as [ReturnType<typeof open>, ReturnType<typeof open>];
    const admin = newPool(2);
    const blocker = await admin.connect();
    try {
      await a.write({ scopes: [{ key: 'kA', scope: '14', job: 'j', data: ids(1, 2, 3), fetchedAt: 1_000 }] });
      await b.init();
      // Hold A's freshness row, so A stops after its rows while holding the scope's lock.
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM ${schema}.tidesync_key_state WHERE key = 'kA' FOR UPDATE`);
      const first = a.write({ scopes: [{ key: 'kA', scope: '14', job: 'j', data: ids(1, 2, 3, 4), fetchedAt: 2_000 }] });
      await waitFor(async () => {
        const { rows } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%tidesync_key_state%' AND pid <> pg_backend_pid()`);
        return rows[0];
      }, 'A to block');
      const second = b.write({ scopes: [{ key: 'kB', scope: '14', job: 'j', data: ids(1, 2, 5), fetchedAt: 3_000 }] });
      await waitFor(async () => {
        const { rows } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'`);
        return rows[0];
      }, 'B to wait for the scope lock');
      await blocker.query('COMMIT');
      await first;
      await second;
      // B came after A: its truth, whole (row 4 of A's is gone).
      const { rows } = await admin.query(`SELECT id FROM ${schema}.p ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual([1, 2, 5]);
    } finally {
      blocker.release();
      await a.close();
      await b.close();
      await Promise.all(pools.map((p) => p.end()));
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});

const methods: StagingMethod[] = ['copy', 'unnest'];
describe.each(backends.flatMap((b) => methods.map((m) => [`${b.name}, ${m} staging`, b, m] as const)))('column types (%s)', (_label, backend: Backend, staging) => {
  it('jsonb[] elements stay JSON values of their own type, bytea[] elements given as bytes are bytes', async () => {
    const schema = randomSchema();
    const table: TableMapping = { name: 'docs', columns: { id: 'text', docs: 'jsonb[]', blobs: 'bytea[]' }, key: ['id'] };
    const store = createPostgresStore({ client: await backend.client(), schema, autoMigrate: true, staging, tables: [table] });
    const admin = await backend.admin();
    try {
      const row = { id: 'a', docs: ['123', 'true', 'abc', { x: 1 }, [1, 2], 7], blobs: [Uint8Array.from([1, 2]), Buffer.from([255])] };
      const write = (at: number) => store.write({ scopes: [{ key: 'k', scope: 'k', job: 'j', data: [row], fetchedAt: at }] });
      expect(await write(1_000)).toMatchObject({ inserted: 1 });
      const { rows } = await admin.query(
        `SELECT array(SELECT jsonb_typeof(d) FROM unnest(docs) d) AS types, docs[3] #>> '{}' AS abc, array(SELECT encode(b, 'hex') FROM unnest(blobs) b) AS hex FROM ${schema}.docs`,
      );
      expect(rows[0].types).toEqual(['string', 'string', 'string', 'object', 'array', 'number']);
      expect(rows[0].abc).toBe('abc');
      expect(rows[0].hex).toEqual(['0102', 'ff']);
      expect(await write(2_000)).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});

describe('one stored scope spelled two ways', () => {
  it("is one scope: '14' and '014' in one batch are refused, not written mixed", async () => {
    const db = await sharedPGlite();
    const schema = randomSchema();
    const store = createPostgresStore<{ id: number; v: string }[]>({ client: db, schema, autoMigrate: true, tables: [idsTable], scopeValues: (scope) => ({ pid: scope }) });
    try {
      await store.write({ scopes: [{ key: 'k14', scope: '14', job: 'j', data: ids(1, 2, 3), fetchedAt: 1 }] });
      const mixed = store.write({
        scopes: [
          { key: 'k14', scope: '14', job: 'j', data: ids(1), fetchedAt: 2 },
          { key: 'k014', scope: '014', job: 'j', data: ids(2), fetchedAt: 2 },
        ],
      });
      await expect(mixed).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      const { rows } = await db.query<{ id: number }>(`SELECT id FROM ${schema}.p ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    } finally {
      await store.close();
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});

describe('scope values spelled as the database would not store them', () => {
  it('a uuid in capitals or braces, a boolean as yes, a Date in a date column: one scope each with its stored form', async () => {
    const db = await sharedPGlite();
    const schema = randomSchema();
    const table: TableMapping = { name: 'x', columns: { u: 'uuid', b: 'boolean', d: 'date', id: 'integer' }, key: ['id'], scope: ['u', 'b', 'd'] };
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const values: Record<string, Record<string, unknown>> = {
      plain: { u: id, b: 'true', d: '2026-11-28' },
      other: { u: `{${id.toUpperCase()}}`, b: 'yes', d: new Date(Date.UTC(2026, 10, 28)) },
    };
    const store = createPostgresStore<{ id: number }[]>({ client: db, schema, autoMigrate: true, tables: [table], scopeValues: (scope) => values[scope]! });
    try {
      await store.write({ scopes: [{ key: 'k1', scope: 'plain', job: 'j', data: [{ id: 1 }], fetchedAt: 1 }] });
      const both = store.write({
        scopes: [
          { key: 'k1', scope: 'plain', job: 'j', data: [{ id: 1 }], fetchedAt: 2 },
          { key: 'k2', scope: 'other', job: 'j', data: [{ id: 2 }], fetchedAt: 2 },
        ],
      });
      await expect(both).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      // Alone, the other spelling replaces the same stored scope.
      expect(await store.write({ scopes: [{ key: 'k2', scope: 'other', job: 'j', data: [{ id: 2 }], fetchedAt: 3 }] })).toMatchObject({ inserted: 1, deleted: 1 });
    } finally {
      await store.close();
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('json and json[] columns are refused (json has no equality): use jsonb', () => {
    expect(() => createPostgresStore({ client: 'postgres://x', tables: [{ name: 't', columns: { id: 'text', a: 'json', b: 'json[]' }, key: ['id'] }] })).toThrow(
      /columns\.a: use jsonb instead of json[\s\S]*columns\.b: use jsonb\[\] instead of json\[\]/,
    );
  });
});

describe('two stores on one session', () => {
  it('mappings with the same columns but different keys do not share a staging primary key', async () => {
    const db = await sharedPGlite();
    const [s1, s2] = [randomSchema(), randomSchema()];
    const columns = { a: 'numeric', b: 'text' };
    const one = createPostgresStore({ client: db, schema: s1, autoMigrate: true, tables: [{ name: 't', columns, key: ['a'] }] });
    const two = createPostgresStore({ client: db, schema: s2, autoMigrate: true, tables: [{ name: 't', columns, key: ['a', 'b'] }] });
    try {
      // Both through the staging path (their scopes hold rows already).
      await one.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ a: 1, b: 'x' }], fetchedAt: 1 }] });
      await one.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ a: 1, b: 'y' }], fetchedAt: 2 }] });
      await two.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ a: 1, b: 'x' }], fetchedAt: 1 }] });
      expect(await two.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ a: 1, b: 'x' }, { a: 1, b: 'y' }], fetchedAt: 2 }] })).toMatchObject({
        inserted: 1,
        unchanged: 1,
      });
    } finally {
      await one.close();
      await two.close();
      for (const s of [s1, s2]) await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    }
  });
});
