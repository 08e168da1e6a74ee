import type { PGlite } from '@electric-sql/pglite';
import { SyncError, type WriteResult } from '@tidesync/core';
import { describe, expect, it } from 'vitest';
import { binaryEncoder } from '../src/copy-binary.js';
import { CopyBuffer } from '../src/copy-buffer.js';
import { createDatabase } from '../src/database.js';
import { createPostgresStore, type StagingMethod, type TableMapping } from '../src/index.js';
import { binaryCopy, stageBatch } from '../src/stage.js';
import { planTable } from '../src/table-mapping.js';
import { TEST_DATABASE_URL, newPool, randomSchema, sharedPGlite } from './helpers.js';

type Row = Record<string, unknown>;

/** Every type with a binary encoder, in scope, key and value columns. */
const table: TableMapping = {
  name: 'everything',
  columns: {
    day: 'date',
    shop: 'smallint',
    id: 'integer',
    i2: 'smallint',
    i4: 'integer',
    i8: 'bigint',
    t: 'text',
    vc: 'varchar(40)',
    n: 'numeric',
    n2: 'numeric(12,2)',
    d: 'date',
    b: 'boolean',
    f: 'double precision',
  },
  key: ['id'],
  scope: ['day', 'shop'],
};
const scopeValues = (scope: string) => {
  const [day, shop] = scope.split('/');
  return { day, shop: Number(shop) };
};

/** Values whose binary form stores exactly what their text form stores. */
const exact: Row[] = [
  { id: 1, i2: -32768, i4: 2147483647, i8: '9223372036854775807', t: 'tab\there\nnew "q" \\ é 😀', vc: 'x', n: 0.05, n2: 242.14, d: '2026-11-28', b: true, f: 0.1 },
  { id: 2, i2: '+7', i4: '-007', i8: -(2 ** 53 - 1), t: 12.5, vc: '', n: '-0.00', n2: -1, d: '0001-01-01', b: false, f: -0 },
  { id: 3 },
  { id: '04', n: '12345678901234567890.123456789', n2: '1.50', d: '9999-12-31', f: 5e-324, t: 'lone \uD800 surrogate', i8: -(2n ** 63n) },
  { id: 5, n: 100_000_000, n2: 0.5, i4: 0, i8: 10n, t: true, f: 1e300 },
  { id: 6, n: '10000.0001', n2: -0.05, t: 123456789012345680000 },
  { id: 7, n: '0.00001', n2: '-12.3', t: '' },
  { id: 8, n: -1234567.89, n2: 9999999999.99, i2: 32767 },
];
/** Values PostgreSQL reads from text but that have no exact binary form here: the table goes as text. */
const textOnly: Row[] = [
  { id: 20, i4: ' 42 ' },
  { id: 21, n: '1e3' },
  { id: 22, n2: '.5' },
  { id: 23, d: new Date('2026-11-28T10:00:00Z') },
  { id: 24, b: 'yes' },
  { id: 25, n: 1e-7 },
];

/** A PGlite client that records the COPY statements the store sends. */
function recording(db: PGlite) {
  const copies: string[] = [];
  const client = new Proxy(db, {
    get(target, key) {
      if (key === 'transaction') {
        return (fn: (tx: unknown) => Promise<unknown>) =>
          target.transaction((tx) =>
            fn(
              new Proxy(tx, {
                get(t, k) {
                  if (k === 'query') {
                    return (text: string, ...rest: unknown[]) => {
                      if (text.startsWith('COPY')) copies.push(text);
                      return (t.query as (...a: unknown[]) => unknown)(text, ...rest);
                    };
                  }
                  const v = (t as unknown as Record<PropertyKey, unknown>)[k];
                  return typeof v === 'function' ? v.bind(t) : v;
                },
              }),
            ),
          );
      }
      const v = (target as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { client, copies };
}

async function pair() {
  const db = await sharedPGlite();
  const { client, copies } = recording(db);
  const schemas = { binary: randomSchema(), text: randomSchema() };
  const open = (schema: string, staging: StagingMethod) =>
    createPostgresStore<Row[]>({ client: schema === schemas.binary ? client : db, schema, tables: [table], scopeValues, autoMigrate: true, staging });
  const stores = { binary: open(schemas.binary, 'copy'), text: open(schemas.text, 'unnest') };
  let fetchedAt = 0;
  const write = async (data: Record<string, Row[]>): Promise<Record<'binary' | 'text', WriteResult | unknown>> => {
    fetchedAt++;
    const scopes = Object.entries(data).map(([scope, rows]) => ({ key: `k:${scope}`, scope, job: 'j', data: rows, fetchedAt }));
    const out: Record<string, unknown> = {};
    for (const kind of ['binary', 'text'] as const) out[kind] = await stores[kind].write({ scopes }).catch((err: unknown) => err);
    return out as Record<'binary' | 'text', unknown>;
  };
  // Every column as PostgreSQL prints it: equal texts mean equal stored values.
  const contents = async (schema: string) =>
    (await db.query<{ r: string }>(`SELECT t::text AS r FROM "${schema}".everything AS t ORDER BY day, shop, id`)).rows.map((x) => x.r);
  const cleanup = async () => {
    for (const s of Object.values(stores)) await s.close();
    for (const s of Object.values(schemas)) await db.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  };
  return { schemas, write, contents, copies, cleanup };
}

describe('binary COPY on PGlite', () => {
  it('stores exactly what the text path stores, loaded directly and staged, and is what the store sends', async () => {
    const p = await pair();
    try {
      const first = await p.write({ '2026-11-28/1': exact, '2026-11-29/2': exact.slice(0, 3) });
      expect(first.binary).toEqual(first.text);
      expect(first.binary).toMatchObject({ inserted: exact.length + 3 });
      expect(p.copies).toHaveLength(1);
      expect(p.copies[0]).toMatch(/FROM '\/dev\/blob' \(FORMAT binary\)$/);
      expect(await p.contents(p.schemas.binary)).toEqual(await p.contents(p.schemas.text));

      // Staged and diffed: every value changed once more, one row gone, one new.
      const changed = exact.slice(1).map((r) => ({ ...r, t: `${String(r.t ?? '')}!`, n: 7.25 }));
      const second = await p.write({ '2026-11-28/1': [...changed, { id: 9, d: '2024-02-29' }] });
      expect(second.binary).toEqual(second.text);
      expect(second.binary).toEqual({ inserted: 1, updated: exact.length - 1, unchanged: 0, deleted: 1 });
      expect(p.copies).toHaveLength(2);
      expect(p.copies[1]).toMatch(/^COPY pg_temp\..*\(FORMAT binary\)$/);
      expect(await p.contents(p.schemas.binary)).toEqual(await p.contents(p.schemas.text));

      // An unchanged re-sync in binary finds nothing to write: the binary values compare equal.
      const third = await p.write({ '2026-11-28/1': [...changed, { id: 9, d: '2024-02-29' }] });
      expect(third.binary).toEqual({ inserted: 0, updated: 0, unchanged: exact.length, deleted: 0 });
    } finally {
      await p.cleanup();
    }
  });

  it.each(textOnly.map((row) => [Object.keys(row).find((k) => k !== 'id')!, row] as const))(
    'a value without an exact binary form (%s) sends the table as text, with the text path result',
    async (_column, row) => {
      const p = await pair();
      try {
        const result = await p.write({ '2026-11-28/1': [exact[0]!, row, exact[1]!] });
        expect(result.binary).toEqual(result.text);
        expect(result.binary).toMatchObject({ inserted: 3 });
        expect(p.copies).toHaveLength(1);
        expect(p.copies[0]).not.toMatch(/binary/);
        expect(await p.contents(p.schemas.binary)).toEqual(await p.contents(p.schemas.text));
      } finally {
        await p.cleanup();
      }
    },
  );

  it.each([
    ['a numeric beyond its precision', { id: 30, n2: 12345678901.5 }, /numeric field overflow/],
    ['a varchar beyond its length', { id: 31, vc: 'x'.repeat(41) }, /too long for type character varying\(40\)/],
    ['an integer out of range', { id: 32, i4: 2 ** 31 }, /out of range for type integer/],
    ['a date not on the calendar', { id: 33, d: '2025-02-30' }, /date\/time field value out of range/],
  ])('%s fails the batch as on the text path, and what was stored stays', async (_what, bad, message) => {
    const p = await pair();
    try {
      await p.write({ '2026-11-28/1': exact });
      const before = await p.contents(p.schemas.binary);
      const result = await p.write({ '2026-11-28/1': [...exact.slice(1), bad] });
      for (const err of [result.binary, result.text]) {
        expect(err).toBeInstanceOf(SyncError);
        expect((err as SyncError).code).toBe('STORE_REJECTED');
        expect((err as Error).message).toMatch(message);
      }
      expect(await p.contents(p.schemas.binary)).toEqual(before);
    } finally {
      await p.cleanup();
    }
  });
});

describe('binary COPY on PGlite: declared and real column types', () => {
  it.each([
    ['double precision', 'bigint', 2],
    ['bigint', 'double precision', 1],
    ['integer', 'real', 1],
    ['numeric', 'double precision', '0.00'],
    ['integer', 'bigint', 5],
    ['bigint', 'integer', 6],
  ])('declared %s, created %s: the table goes as text and %j is stored as it is', async (declared, actual, value) => {
    const db = await sharedPGlite();
    const { client, copies } = recording(db);
    const schema = randomSchema();
    await db.exec(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".m (scope text NOT NULL, id integer NOT NULL, v ${actual}, PRIMARY KEY (scope, id))`);
    const store = createPostgresStore<Row[]>({ client, schema, tables: [{ name: 'm', columns: { id: 'integer', v: declared }, key: ['id'] }], autoMigrate: true, createTables: false });
    try {
      const put = (data: Row[], fetchedAt: number) => store.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data, fetchedAt }] });
      await put([{ id: 1, v: value }], 1);
      await put([{ id: 1, v: value }, { id: 2, v: value }], 2);
      expect(copies.some((c) => c.includes('binary'))).toBe(false);
      const { rows } = await db.query<{ v: string; expected: string }>(`SELECT v::text AS v, $1::${actual}::text AS expected FROM "${schema}".m ORDER BY id`, [String(value)]);
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r.v).toBe(r.expected);
    } finally {
      await store.close();
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });

  it('goes binary where the created types are the declared ones, spelt differently', async () => {
    const db = await sharedPGlite();
    const { client, copies } = recording(db);
    const schema = randomSchema();
    await db.exec(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".m (scope text NOT NULL, id int4 NOT NULL, v float8, c character varying(9), b bool, PRIMARY KEY (scope, id))`);
    const store = createPostgresStore<Row[]>({
      client,
      schema,
      tables: [{ name: 'm', columns: { id: 'INTEGER', v: 'double precision', c: 'VARCHAR (9)', b: 'boolean' }, key: ['id'] }],
      autoMigrate: true,
      createTables: false,
    });
    try {
      await store.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ id: 1, v: 0.5, c: 'x', b: true }], fetchedAt: 1 }] });
      expect(copies).toHaveLength(1);
      expect(copies[0]).toMatch(/\(FORMAT binary\)$/);
      expect(await store.readScope('s')).toEqual([{ id: 1, v: 0.5, c: 'x', b: true }]);
    } finally {
      await store.close();
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });
});

describe('binary COPY on PGlite: boolean and double precision keys and scopes', () => {
  it('go binary (their texts are exact) and store what the text path stores', async () => {
    const db = await sharedPGlite();
    const { client, copies } = recording(db);
    const schemas = [randomSchema(), randomSchema()];
    const table: TableMapping = { name: 'flags', columns: { x: 'double precision', on: 'boolean', v: 'integer' }, key: ['on'], scope: ['x'] };
    const open = (schema: string, staging: StagingMethod) =>
      createPostgresStore<Row[]>({ client: staging === 'copy' ? client : db, schema, tables: [table], scopeValues: (scope) => ({ x: Number(scope) }), autoMigrate: true, staging });
    const stores = [open(schemas[0]!, 'copy'), open(schemas[1]!, 'unnest')];
    try {
      for (const store of stores) {
        for (const [scope, fetchedAt] of [['0.5', 1], ['-2.25', 1], ['0.5', 2]] as const) {
          await store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data: [{ on: true, v: fetchedAt }, { on: false, v: 7 }], fetchedAt }] });
        }
      }
      expect(copies.length).toBeGreaterThan(0);
      expect(copies.every((c) => c.endsWith('(FORMAT binary)'))).toBe(true);
      const contents = async (schema: string) => (await db.query<{ r: string }>(`SELECT t::text AS r FROM "${schema}".flags AS t ORDER BY x, "on"`)).rows.map((r) => r.r);
      expect(await contents(schemas[0]!)).toEqual(await contents(schemas[1]!));
      expect(await contents(schemas[0]!)).toHaveLength(4);
    } finally {
      for (const store of stores) await store.close();
      for (const schema of schemas) await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });
});

describe('binary encoders', () => {
  const encodes = (type: string, value: unknown) => binaryEncoder(type)!(new CopyBuffer(), value);

  it.each([
    ['integer', 1.5],
    ['integer', 2 ** 31],
    ['integer', '1.0'],
    ['integer', ' 1'],
    ['smallint', 32768],
    ['bigint', 2 ** 63],
    ['bigint', '9223372036854775808'],
    ['numeric', '1e3'],
    ['numeric', '.5'],
    ['numeric', 'NaN'],
    ['numeric', Number.POSITIVE_INFINITY],
    ['numeric', 1e-7],
    ['numeric', { value: 1 }],
    ['date', '2025-02-30'],
    ['date', '0000-01-01'],
    ['date', '2026-1-1'],
    ['date', new Date()],
    ['boolean', 'yes'],
    ['boolean', 't'],
    ['boolean', 1],
    ['double precision', Number.NaN],
    ['double precision', '0.10'],
    ['double precision', '1e400'],
    ['text', { a: 1 }],
    ['text', new Date()],
    ['text', Number.NaN],
  ])('%s: %j has no exact binary form', (type, value) => {
    expect(encodes(type, value)).toBe(false);
  });

  it.each(['jsonb', 'text[]', 'bytea', 'timestamptz', 'uuid', 'real', 'char(3)'])('%s has no binary encoder: such a table goes as text', (type) => {
    expect(binaryEncoder(type)).toBeUndefined();
    expect(planTable('s', { name: 't', columns: { k: 'text', v: type }, key: ['k'] }).binaryCopy).toBe(false);
  });
});

describe.skipIf(!TEST_DATABASE_URL)('binary COPY through a pg connection (TEST_DATABASE_URL)', () => {
  it('loads the same rows as text', async () => {
    const pool = newPool(2);
    const schema = randomSchema();
    const plan = planTable(schema, table);
    const db = createDatabase(pool, () => {});
    const [staged] = stageBatch([plan], { toRows: (data) => data as Row[], scopeValues }, [{ key: 'k', scope: '2026-11-28/1', job: 'j', data: exact, fetchedAt: 1 }]);
    const columns = plan.all.map((c) => c.q).join(', ');
    try {
      await pool.query(`CREATE SCHEMA "${schema}"`);
      await pool.query(`CREATE TABLE "${schema}".everything (${plan.all.map((c) => `${c.q} ${c.type}`).join(', ')})`);
      await db.transaction(async (tx) => tx.copyIn!(plan.target, columns, binaryCopy(staged!)!, 'binary'));
      const { rows } = await pool.query<{ r: string }>(`SELECT t::text AS r FROM "${schema}".everything AS t ORDER BY id`);
      // The text path's result for the same rows, on PGlite.
      const p = await pair();
      try {
        await p.write({ '2026-11-28/1': exact });
        expect(rows.map((x) => x.r)).toEqual(await p.contents(p.schemas.text));
      } finally {
        await p.cleanup();
      }
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});
