import { storeConformance, type ConformanceRow } from '@tidesync/core/testing';
import { SyncError } from '@tidesync/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore, type StagingMethod, type TableMapping } from '../src/index.js';
import { TEST_DATABASE_URL, backends, inventoryMapping, itemsTable, newPool, randomSchema, sharedPGlite, slot, type Backend, type Slot } from './helpers.js';

storeConformance(
  'postgres (PGlite)',
  async () => {
    const db = await sharedPGlite();
    const schema = randomSchema();
    const open = () => createPostgresStore<ConformanceRow[]>({ client: db, schema, tables: [itemsTable], autoMigrate: true });
    const store = open();
    return {
      store,
      readScope: async (scope) => (await store.readScope(scope)) as unknown as ConformanceRow[],
      reopen: async () => open(),
      cleanup: async () => void (await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
    };
  },
  // PGlite is one embedded session: its leader lock always grants, so the exclusion test does not apply.
  { persistent: true, forgetKeys: true },
);

describe.skipIf(!TEST_DATABASE_URL)('on PostgreSQL (TEST_DATABASE_URL)', () => {
  storeConformance(
    'postgres (pg Pool)',
    async () => {
      const schema = randomSchema();
      const pool = newPool();
      // `reopen` gets its own pool, as a second process would: leadership is contested for real.
      const open = (client = newPool()) => createPostgresStore<ConformanceRow[]>({ client, schema, tables: [itemsTable], autoMigrate: true });
      const store = open(pool);
      return {
        store,
        readScope: async (scope) => (await store.readScope(scope)) as unknown as ConformanceRow[],
        reopen: async () => open(),
        cleanup: async () => void (await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
      };
    },
    { persistent: true, leaderLock: true, forgetKeys: true },
  );

  storeConformance(
    'postgres (connection string, unnest staging)',
    async () => {
      const schema = randomSchema();
      const open = () => createPostgresStore<ConformanceRow[]>({ client: TEST_DATABASE_URL!, schema, tables: [itemsTable], autoMigrate: true, staging: 'unnest' });
      const store = open();
      return {
        store,
        readScope: async (scope) => (await store.readScope(scope)) as unknown as ConformanceRow[],
        reopen: async () => open(),
        cleanup: async () => void (await newPool(1).query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
      };
    },
    { persistent: true, leaderLock: true, forgetKeys: true },
  );
});

const methods: StagingMethod[] = ['copy', 'unnest'];

describe.each(backends.flatMap((b) => methods.map((m) => [`${b.name}, ${m} staging`, b, m] as const)))('write path (%s)', (_label, backend: Backend, staging) => {
  const withStore = (fn: (store: PostgresStore<Slot[]>, schema: string, admin: Awaited<ReturnType<Backend['admin']>>) => Promise<void>) => async () => {
    const schema = randomSchema();
    const store = createPostgresStore<Slot[]>({ client: await backend.client(), schema, autoMigrate: true, staging, ...inventoryMapping });
    const admin = await backend.admin();
    try {
      await store.init();
      await fn(store, schema, admin);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  };
  const write = (store: PostgresStore<Slot[]>, scopes: Record<string, Slot[]>, fetchedAt = 1_000) =>
    store.write({ scopes: Object.entries(scopes).map(([scope, data]) => ({ key: `inv:${scope}`, scope, job: 'today', data, fetchedAt })) });
  /** xmin and ctid of every row: identical before and after ⇔ no row was rewritten. */
  const versions = async (admin: Awaited<ReturnType<Backend['admin']>>, schema: string) => {
    const { rows } = await admin.query(
      `SELECT 's' AS t, product_id, date::text, time, NULL AS pax, xmin::text, ctid::text FROM ${schema}.slots
       UNION ALL SELECT 'p', product_id, date::text, time, pax_type, xmin::text, ctid::text FROM ${schema}.slot_prices ORDER BY 1, 2, 3, 4, 5`,
    );
    return rows;
  };

  it('writes two tables per scope and reads decimals back exactly', withStore(async (store) => {
    expect(await write(store, { 'p14:2026-11-28': [slot('09:00', 5, 242.14, 0.1), slot('10:00', 3)] })).toEqual({ inserted: 6, updated: 0, unchanged: 0, deleted: 0 });
    const prices = await store.readScope('p14:2026-11-28', { table: 'slot_prices' });
    expect(prices.find((p) => p.time === '09:00' && p.pax_type === 'adult')?.price).toBe(242.14);
    expect(prices.find((p) => p.time === '09:00' && p.pax_type === 'child')?.price).toBe(0.1);
    expect(await store.readScope('p14:2026-11-28')).toHaveLength(2);
  }));

  it('a logger that throws changes no outcome: migrations apply and a committed write reports its counts', async () => {
    const schema = randomSchema();
    const throwing = () => {
      throw new Error('logger down');
    };
    const logger = { debug: throwing, info: throwing, warn: throwing, error: throwing };
    const store = createPostgresStore<Slot[]>({ client: await backend.client(), schema, autoMigrate: true, staging, logger, ...inventoryMapping });
    const admin = await backend.admin();
    try {
      await store.init(); // logs the migrations it applied
      expect(await write(store, { 'p14:2026-11-28': [slot('09:00', 5)] })).toEqual({ inserted: 3, updated: 0, unchanged: 0, deleted: 0 });
      expect(await store.readScope('p14:2026-11-28')).toHaveLength(1);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('an unchanged re-sync rewrites no row (same xmin and ctid everywhere)', withStore(async (store, schema, admin) => {
    const data = { 'p1:2026-11-28': [slot('09:00', 5), slot('10:00', 3)], 'p2:2026-11-28': [slot('09:00', 1)] };
    await write(store, data);
    const before = await versions(admin, schema);
    expect(await write(store, data, 2_000)).toEqual({ inserted: 0, updated: 0, unchanged: 9, deleted: 0 });
    expect(await versions(admin, schema)).toEqual(before);
    // …while a changed row does get a new version, and only it.
    const changed = { ...data, 'p1:2026-11-28': [slot('09:00', 4), slot('10:00', 3)] };
    expect(await write(store, changed, 3_000)).toEqual({ inserted: 0, updated: 1, unchanged: 8, deleted: 0 });
    const after = await versions(admin, schema);
    const moved = after.filter((r: { xmin: string }, i: number) => r.xmin !== before[i].xmin);
    expect(moved.map((r: { t: string; time: string }) => `${r.t}:${r.time}`)).toEqual(['s:09:00']);
  }));

  it('deletes rows missing from the fetched scopes only, in every mapped table', withStore(async (store) => {
    await write(store, { 'p1:2026-11-28': [slot('09:00', 5), slot('10:00', 3)], 'p1:2026-11-29': [slot('09:00', 5)] });
    const shrunk: Slot = { time: '09:00', left: 5, prices: { adult: 49.9 } };
    expect(await write(store, { 'p1:2026-11-28': [shrunk] })).toEqual({ inserted: 0, updated: 0, unchanged: 2, deleted: 4 });
    expect(await store.readScope('p1:2026-11-28', { table: 'slot_prices' })).toEqual([{ time: '09:00', pax_type: 'adult', price: 49.9 }]);
    expect(await store.readScope('p1:2026-11-29', { table: 'slot_prices' })).toHaveLength(2);
    expect(await store.readScope('p1:2026-11-29')).toHaveLength(1);
  }));

  it('loads a table that holds none of the batch\'s scopes directly while diffing one that does', withStore(async (store, schema, admin) => {
    // Slots without prices: the scope has rows in slots only.
    await write(store, { 'p1:2026-11-28': [{ time: '09:00', left: 5, prices: {} }] });
    const before = await versions(admin, schema);
    // Slots must be diffed (loading them straight in would hit the stored 09:00); prices go straight in.
    expect(await write(store, { 'p1:2026-11-28': [slot('09:00', 5, 12.5), slot('10:00', 3, 20)] }, 2_000)).toEqual({ inserted: 5, updated: 0, unchanged: 1, deleted: 0 });
    expect((await versions(admin, schema)).find((r: { t: string; time: string }) => r.t === 's' && r.time === '09:00')).toEqual(before[0]);
    expect(await store.readScope('p1:2026-11-28', { table: 'slot_prices' })).toEqual(
      expect.arrayContaining([{ time: '09:00', pax_type: 'adult', price: 12.5 }, { time: '10:00', pax_type: 'child', price: 24.95 }]),
    );
    // The other way round: prices stored, slots emptied by a fetch that returned none for a new scope.
    expect(await write(store, { 'p1:2026-11-28': [], 'p2:2026-11-28': [slot('09:00', 1)] }, 3_000)).toEqual({ inserted: 3, updated: 0, unchanged: 0, deleted: 6 });
    expect(await store.readScope('p1:2026-11-28')).toEqual([]);
    expect(await store.readScope('p2:2026-11-28', { table: 'slot_prices' })).toHaveLength(2);
  }));

  it('a failed fetch deletes nothing: failures touch sync state only', withStore(async (store) => {
    await write(store, { 'p1:2026-11-28': [slot('09:00', 5)] }, 1_000);
    await store.recordFailures([{ key: 'inv:p1:2026-11-28', job: 'today', at: 2_000, error: 'HTTP 503' }]);
    expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: '09:00', left_count: 5 }]);
    expect((await store.readKeyStates(['inv:p1:2026-11-28'])).get('inv:p1:2026-11-28')).toMatchObject({ lastSuccessAt: 1_000, lastAttemptAt: 2_000, consecutiveFailures: 1 });
  }));

  it('a scope whose data cannot be mapped rejects the whole batch before anything is written', withStore(async (store) => {
    await write(store, { 'p1:2026-11-28': [slot('09:00', 5)], 'p2:2026-11-28': [slot('09:00', 5)] });
    const bad = [{ time: '09:00', left: 1, prices: null }] as unknown as Slot[];
    const err = await write(store, { 'p1:2026-11-28': [], 'p2:2026-11-28': bad }, 2_000).catch((e: unknown) => e);
    // The data's fault, told apart from a store that is away: the engine charges it to the key.
    expect((err as SyncError).code).toBe('STORE_REJECTED');
    expect(await store.readScope('p1:2026-11-28')).toHaveLength(1);
    expect((await store.readKeyStates(['inv:p1:2026-11-28'])).get('inv:p1:2026-11-28')?.lastSuccessAt).toBe(1_000);
  }));

  it('a mapping that throws, whatever it throws (a SyncError of another code too), is a rejection of that data', withStore(async (_store, schema) => {
    const failing = new SyncError('PAYLOAD_INVALID', 'no price for a slot');
    for (const mapping of [
      { rows: () => { throw failing; } },
      { scopeValues: () => { throw failing; } },
      { rows: () => { throw new TypeError('cannot read properties of undefined'); } },
    ]) {
      const store = createPostgresStore<Slot[]>({ client: await backend.client(), schema, staging, ...inventoryMapping, ...mapping });
      try {
        const err = await write(store, { 'p1:2026-11-28': [slot('09:00', 5)] }).catch((e: unknown) => e);
        expect((err as SyncError).code).toBe('STORE_REJECTED');
        expect((err as Error).message).toMatch(/scope p1:2026-11-28: (rows|scopeValues)\(\) failed: /);
      } finally {
        await store.close();
      }
    }
  }));

  it('a value the database refuses in the second table rolls back the first table too', withStore(async (store, schema, admin) => {
    await write(store, { 'p1:2026-11-28': [slot('09:00', 5)] });
    const before = await versions(admin, schema);
    const bad: Slot = { time: '09:00', left: 2, prices: { adult: 'not a number' as unknown as number } };
    const err = await write(store, { 'p1:2026-11-28': [bad] }, 2_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).code).toBe('STORE_REJECTED');
    expect(await versions(admin, schema)).toEqual(before);
    expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: '09:00', left_count: 5 }]);
  }));

  it('a value only the database finds it cannot hold (an integer out of range, a NUL in text) is a rejection of the data, not a store failure', withStore(async (store, schema, admin) => {
    await write(store, { 'p1:2026-11-28': [slot('09:00', 5)] });
    const before = await versions(admin, schema);
    for (const bad of [slot('09:00', 3_000_000_000), slot('09:\u000030', 1)]) {
      const err = await write(store, { 'p1:2026-11-28': [slot('10:00', 1)], 'p2:2026-11-28': [bad] }, 2_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SyncError);
      expect((err as SyncError).code).toBe('STORE_REJECTED');
      expect(await versions(admin, schema)).toEqual(before);
    }
    expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: '09:00', left_count: 5 }]);
  }));

  it('a bad row thousands of rows into a batch rejects all of it, and the store keeps working', withStore(async (store, schema, admin) => {
    // Past the first COPY chunk, so the rows before it have already streamed into the database.
    const many = (n: number, left: number) => Array.from({ length: n }, (_, i) => slot(`t${String(i).padStart(5, '0')}`, left));
    await write(store, { 'p1:2026-11-28': many(10, 1) });
    const before = await versions(admin, schema);
    const bad = many(5_000, 2);
    bad[4_500] = { ...bad[4_500]!, left: Number.NaN };
    // Into a scope with rows (staged, then diffed) and into new scopes only (loaded straight into the tables).
    for (const batch of [{ 'p1:2026-11-28': many(5_000, 2), 'p2:2026-11-28': bad }, { 'p3:2026-11-28': many(3_000, 2), 'p4:2026-11-28': bad }]) {
      const err = await write(store, batch, 2_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SyncError);
      expect((err as SyncError).code).toBe('STORE_REJECTED');
      expect((err as Error).message).toMatch(/scope p[24]:2026-11-28: slots\.left_count: non-finite number/);
      expect(await versions(admin, schema)).toEqual(before);
    }
    // A duplicate key far into one scope is found although the scope spans several chunks.
    const duplicated = many(5_000, 2);
    duplicated[4_000] = duplicated[10]!;
    const conflict = await write(store, { 'p1:2026-11-28': duplicated }, 3_000).catch((e: unknown) => e);
    expect((conflict as SyncError).code).toBe('STORE_CONFLICT');
    expect((conflict as Error).message).toMatch(/t00010/);
    expect(await versions(admin, schema)).toEqual(before);
    expect((await store.readKeyStates(['inv:p1:2026-11-28'])).get('inv:p1:2026-11-28')?.lastSuccessAt).toBe(1_000);
    // Writes go on after the aborted COPYs (the pool hands out its most recently released connection).
    expect(await write(store, { 'p1:2026-11-28': many(5_000, 2), 'p2:2026-11-28': many(5_000, 2) }, 4_000)).toEqual({ inserted: 29_970, updated: 10, unchanged: 20, deleted: 0 });
  }));

  it('rejects two rows with one identity in a scope, and says which', withStore(async (store) => {
    const err = await write(store, { 'p1:2026-11-28': [slot('09:00', 5), slot('09:00', 6)] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).code).toBe('STORE_CONFLICT');
    expect((err as Error).message).toMatch(/09:00/);
    expect(await store.readScope('p1:2026-11-28')).toEqual([]);
    // Two scope keys that map to one scope (p1 and p01 are both product 1) would mix their rows.
    const twice = await write(store, { 'p1:2026-11-28': [slot('09:00', 5)], 'p01:2026-11-28': [slot('10:00', 6)] }).catch((e: unknown) => e);
    expect((twice as SyncError).code).toBe('STORE_CONFLICT');
    expect((twice as Error).message).toMatch(/scopes p1:2026-11-28 and p01:2026-11-28 both map to \(1, 2026-11-28\)/);
    expect(await store.readScope('p1:2026-11-28')).toEqual([]);
  }));

  it.each([
    // Integer keys: texts made canonical, so the batch's own check finds the pair.
    ['integer', [1, '01'], [2, ' +2'], /scope held: two rows of counts with key \(1\)|scope held: two rows of counts with key \(2\)/],
    // Other key types: the staging table's primary key does (1.0 and 1 are one numeric).
    ['numeric', [1, '1.0'], [2, '2.00'], /two rows of one scope share a key in counts: Key \(scope, id\)=\(held, [12](\.0+)?\) already exists/],
  ] as const)('rejects two rows the database sees as one %s key, whatever the scope holds', async (type, one, two, message) => {
    const schema = randomSchema();
    const table: TableMapping = { name: 'counts', columns: { id: type, v: 'text' }, key: ['id'] };
    const store = createPostgresStore<Record<string, unknown>[]>({ client: await backend.client(), schema, tables: [table], autoMigrate: true, staging });
    const admin = await backend.admin();
    const put = (scope: string, data: Record<string, unknown>[], fetchedAt: number) => store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data, fetchedAt }] });
    try {
      // A scope holding the key (staged, then diffed): both changed, one unchanged, or both new.
      await put('held', [{ id: one[0], v: 'a' }], 1_000);
      for (const pair of [
        [{ id: one[0], v: 'b' }, { id: one[1], v: 'c' }],
        [{ id: one[0], v: 'a' }, { id: one[1], v: 'c' }],
        [{ id: one[0], v: 'a' }, { id: two[0], v: 'x' }, { id: two[1], v: 'y' }],
      ]) {
        const err = await put('held', pair, 2_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SyncError);
        expect((err as SyncError).code).toBe('STORE_CONFLICT');
        expect((err as Error).message).toMatch(message);
      }
      expect((await store.readScope('held')).map((r) => ({ id: Number(r.id), v: r.v }))).toEqual([{ id: 1, v: 'a' }]);
      expect((await store.readKeyStates(['k:held'])).get('k:held')?.lastSuccessAt).toBe(1_000);
      // A scope with no rows yet (loaded straight into the table): the same verdict.
      const err = await put('empty', [{ id: one[0], v: 'b' }, { id: one[1], v: 'c' }], 3_000).catch((e: unknown) => e);
      expect((err as SyncError).code).toBe('STORE_CONFLICT');
      expect(await store.readScope('empty')).toEqual([]);
      // And the store writes on afterwards.
      expect(await put('held', [{ id: one[1], v: 'b' }], 4_000)).toEqual({ inserted: 0, updated: 1, unchanged: 0, deleted: 0 });
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('rejects a value longer than its character or bit column allows, on every path, and keeps what was stored', async () => {
    const schema = randomSchema();
    const table: TableMapping = {
      name: 'codes',
      columns: { shop: 'varchar(5)', id: 'integer', code: 'varchar(4)', flag: 'char(2)', tags: 'varchar(3)[]', mask: 'bit(4)', nat: 'national character varying (3)' },
      key: ['id'],
      scope: ['shop'],
    };
    const store = createPostgresStore<Record<string, unknown>[]>({ client: await backend.client(), schema, tables: [table], autoMigrate: true, staging });
    const admin = await backend.admin();
    const put = (scope: string, data: Record<string, unknown>[]) => store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data, fetchedAt: 1 }] });
    const good = { id: 1, code: 'abcd', flag: 'x ', tags: ['abc'], mask: '1010', nat: 'abc' };
    try {
      expect(await put('north', [good])).toMatchObject({ inserted: 1 });
      // An explicit cast (`'abcde'::varchar(4)`) would cut each of these to fit; they must fail instead.
      for (const bad of [{ code: 'abcde' }, { flag: 'xyz' }, { tags: ['abcd'] }, { mask: '10101' }, { nat: 'abcd' }]) {
        for (const scope of ['north', 'south']) {
          const err = await put(scope, [{ ...good, ...bad }]).catch((e: unknown) => e);
          expect(err, JSON.stringify(bad)).toBeInstanceOf(SyncError);
          expect((err as Error).message).toMatch(/too long for type|does not match type bit\(4\)/);
        }
      }
      // Trailing spaces beyond a char(n) are dropped, as PostgreSQL's input does.
      expect(await put('north', [{ ...good, flag: 'x   ' }])).toMatchObject({ unchanged: 1 });
      // A scope value too long for its column is rejected too, never cut to another scope's name —
      // an empty fetch of it least of all (it would empty scope 'north').
      expect(await put('north2', [good]).catch((e: unknown) => e)).toBeInstanceOf(SyncError);
      expect(await put('north2', []).catch((e: unknown) => e)).toBeInstanceOf(SyncError);
      expect(await store.readScope('north2')).toEqual([]);
      expect(await store.readScope('north')).toEqual([{ id: 1, code: 'abcd', flag: 'x ', tags: ['abc'], mask: '1010', nat: 'abc' }]);
      expect(await store.readScope('south')).toEqual([]);
      // Spaces past the limit are dropped when stored, so 'north  ' is scope 'north', read and written.
      expect(await store.readScope('north  ')).toHaveLength(1);
      expect(await put('north  ', [{ ...good, code: 'dcba' }])).toEqual({ inserted: 0, updated: 1, unchanged: 0, deleted: 0 });
      expect(await store.readScope('north')).toMatchObject([{ code: 'dcba' }]);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('a varchar key is compared as stored: "abc" and "abc " in a varchar(3) are one key', async () => {
    const schema = randomSchema();
    const table: TableMapping = { name: 'codes', columns: { id: 'varchar(3)', v: 'text' }, key: ['id'] };
    const store = createPostgresStore<Record<string, unknown>[]>({ client: await backend.client(), schema, tables: [table], autoMigrate: true, staging });
    const admin = await backend.admin();
    const put = (scope: string, data: Record<string, unknown>[]) => store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data, fetchedAt: 1 }] });
    try {
      await put('held', [{ id: 'abc', v: 'a' }]);
      for (const scope of ['held', 'empty']) {
        const err = await put(scope, [{ id: 'abc', v: 'b' }, { id: 'abc ', v: 'c' }]).catch((e: unknown) => e);
        expect((err as SyncError).code).toBe('STORE_CONFLICT');
        expect((err as Error).message).toMatch(/two rows of codes with key \(abc\)/);
      }
      expect(await put('held', [{ id: 'abc  ', v: 'd' }])).toEqual({ inserted: 0, updated: 1, unchanged: 0, deleted: 0 });
      expect(await store.readScope('held')).toEqual([{ id: 'abc', v: 'd' }]);
      expect(await store.readScope('empty')).toEqual([]);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('a domain over a length-limited type keeps its limit: too long fails, never cut', async () => {
    const schema = randomSchema();
    const domain = `ts_code3_${schema.slice(-8)}`;
    const nested = `ts_code3n_${schema.slice(-8)}`;
    const positive = `ts_pos_${schema.slice(-8)}`;
    const admin = await backend.admin();
    await admin.query(`CREATE DOMAIN public.${domain} AS varchar(3)`);
    // A domain over that domain: the limit is two levels down.
    await admin.query(`CREATE DOMAIN public.${nested} AS public.${domain}`);
    const table: TableMapping = { name: 'codes', columns: { shop: nested, id: 'integer', code: domain, alt: nested }, key: ['id'], scope: ['shop'] };
    const store = createPostgresStore<Record<string, unknown>[]>({ client: await backend.client(), schema, tables: [table], autoMigrate: true, staging });
    const put = (scope: string, data: Record<string, unknown>[]) => store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data, fetchedAt: 1 }] });
    try {
      expect(await put('abc', [{ id: 1, code: 'xyz', alt: 'xyz' }])).toMatchObject({ inserted: 1 });
      for (const scope of ['abc', 'new']) {
        for (const bad of [{ code: 'xyzw' }, { alt: 'xyzw' }]) {
          const err = await put(scope, [{ id: 1, code: 'xyz', alt: 'xyz', ...bad }]).catch((e: unknown) => e);
          expect((err as Error).message).toMatch(/too long for type character varying\(3\)/);
        }
      }
      // A scope value too long for the domain: refused, and it never reads or empties scope 'abc'.
      expect(await put('abcd', [{ id: 1, code: 'q' }]).catch((e: unknown) => e)).toBeInstanceOf(SyncError);
      expect(await put('abcd', []).catch((e: unknown) => e)).toBeInstanceOf(SyncError);
      expect(await store.readScope('abcd')).toEqual([]);
      expect(await store.readScope('abc')).toEqual([{ id: 1, code: 'xyz', alt: 'xyz' }]);
      // A scope value a domain's CHECK refuses names no stored scope: [], not a raw database error.
      await admin.query(`CREATE DOMAIN public.${positive} AS integer CHECK (VALUE > 0)`);
      const counted = createPostgresStore<Record<string, unknown>[]>({
        client: await backend.client(),
        schema,
        tables: [{ name: 'counted', columns: { n: positive, id: 'integer' }, key: ['id'], scope: ['n'] }],
        scopeValues: (scope) => ({ n: Number(scope) }),
        autoMigrate: true,
        staging,
      });
      expect(await counted.write({ scopes: [{ key: 'k:2', scope: '2', job: 'j', data: [{ id: 1 }], fetchedAt: 1 }] })).toMatchObject({ inserted: 1 });
      expect(await counted.readScope('-1')).toEqual([]);
      expect(await counted.readScope('2')).toEqual([{ id: 1 }]);
      await counted.close();
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`DROP DOMAIN IF EXISTS public.${nested}`);
      await admin.query(`DROP DOMAIN IF EXISTS public.${positive}`);
      await admin.query(`DROP DOMAIN IF EXISTS public.${domain}`);
    }
  });

  it('stores text with quotes, semicolons, tabs, newlines and backslashes verbatim', withStore(async (store) => {
    const nasty = `it's "quoted"; DROP TABLE x; --\ttab\nline\r\\N \\ {a,b} NULL é`;
    await write(store, { 'p1:2026-11-28': [{ time: nasty, left: 1, prices: { [nasty]: 1.5 } }] });
    expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: nasty, left_count: 1 }]);
    expect(await store.readScope('p1:2026-11-28', { table: 'slot_prices' })).toEqual([{ time: nasty, pax_type: nasty, price: 1.5 }]);
    expect(await write(store, { 'p1:2026-11-28': [{ time: nasty, left: 1, prices: { [nasty]: 1.5 } }] })).toMatchObject({ unchanged: 2 });
  }));

  it('two writers on overlapping scopes end with every scope whole, and never deadlock', withStore(async (store, schema) => {
    const other = createPostgresStore<Slot[]>({ client: await backend.client(true), schema, staging, ...inventoryMapping });
    try {
      await other.init();
      const times = (from: number, n: number, left: number) => Array.from({ length: n }, (_, i) => slot(`t${String(from + i).padStart(3, '0')}`, left));
      const scopesA = ['p1:2026-11-28', 'p2:2026-11-28', 'p3:2026-11-28'];
      const scopesB = ['p3:2026-11-28', 'p2:2026-11-28', 'p4:2026-11-28'];
      for (let round = 0; round < 8; round++) {
        await Promise.all([
          write(store, Object.fromEntries(scopesA.map((s) => [s, times(0, 40, 1)])), round),
          write(other, Object.fromEntries(scopesB.map((s) => [s, times(20, 40, 2)])), round),
        ]);
      }
      for (const scope of ['p1:2026-11-28', 'p2:2026-11-28', 'p3:2026-11-28', 'p4:2026-11-28']) {
        const rows = await store.readScope(scope);
        const lefts = new Set(rows.map((r) => r.left_count));
        expect(lefts.size).toBe(1); // one writer's whole truth, never a mix
        const first = lefts.has(1) ? 0 : 20;
        expect(rows.map((r) => r.time).sort()).toEqual(times(first, 40, 0).map((s) => s.time));
        expect(await store.readScope(scope, { table: 'slot_prices' })).toHaveLength(80);
      }
    } finally {
      await other.close();
    }
  }));
});

describe.each(backends.map((b) => [b.name, b] as const))('tables scoped by different columns (%s)', (_label, backend: Backend) => {
  // `days` is scoped by (product, date), `products` by product alone: the emptiness probe numbers
  // its parameters across tables with 2 and 1 scope columns.
  interface Fetch {
    seats: Record<string, number>;
    title?: string;
  }
  const tables: TableMapping[] = [
    { name: 'days', columns: { product_id: 'integer', date: 'date', time: 'text', seats: 'integer' }, key: ['time'], scope: ['product_id', 'date'] },
    { name: 'products', columns: { product_id: 'integer', field: 'text', value: 'text' }, key: ['field'], scope: ['product_id'] },
  ];
  const rows = (data: Fetch) => ({
    days: Object.entries(data.seats).map(([time, seats]) => ({ time, seats })),
    products: data.title === undefined ? [] : [{ field: 'title', value: data.title }],
  });
  const scopeValues = (scope: string) => {
    const [p, date] = scope.split(':');
    return { product_id: Number(p!.slice(1)), date };
  };

  it('each table is probed with its own scope values, loaded directly or diffed as it needs', async () => {
    const schema = randomSchema();
    const store = createPostgresStore<Fetch>({ client: await backend.client(), schema, autoMigrate: true, tables, rows, scopeValues });
    const admin = await backend.admin();
    const write = (scopes: Record<string, Fetch>, fetchedAt: number) =>
      store.write({ scopes: Object.entries(scopes).map(([scope, data]) => ({ key: `k:${scope}`, scope, job: 'j', data, fetchedAt })) });
    try {
      // First: `products` gets no rows, so on the next write `days` is diffed while `products` is loaded directly.
      expect(await write({ 'p1:2026-11-28': { seats: { '09:00': 5 } }, 'p2:2026-11-28': { seats: { '09:00': 1 } } }, 1)).toEqual({ inserted: 2, updated: 0, unchanged: 0, deleted: 0 });
      expect(await write({ 'p1:2026-11-28': { seats: { '09:00': 4 }, title: 'Harbour cruise' }, 'p2:2026-11-28': { seats: { '09:00': 1 }, title: 'Night safari' } }, 2)).toEqual({
        inserted: 2,
        updated: 1,
        unchanged: 1,
        deleted: 0,
      });
      // Then a new product (nothing stored in either table) next to a stored one.
      expect(await write({ 'p3:2026-11-29': { seats: { '10:00': 9 }, title: 'Zoo' }, 'p1:2026-11-29': { seats: { '10:00': 2 }, title: 'Harbour cruise' } }, 3)).toEqual({
        inserted: 3,
        updated: 0,
        unchanged: 1,
        deleted: 0,
      });
      expect(await store.readScope('p1:2026-11-28', { table: 'products' })).toEqual([{ field: 'title', value: 'Harbour cruise' }]);
      expect(await store.readScope('p3:2026-11-29', { table: 'products' })).toEqual([{ field: 'title', value: 'Zoo' }]);
      expect(await store.readScope('p1:2026-11-28')).toEqual([{ time: '09:00', seats: 4 }]);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)('in a SQL_ASCII database (TEST_DATABASE_URL), where lengths count bytes', () => {
  it.each(methods)('a scope value too long in bytes never names another scope (%s staging)', async (staging) => {
    const name = `ts_ascii_${randomSchema().slice(-12)}`;
    const admin = newPool(1);
    await admin.query(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    const url = new URL(TEST_DATABASE_URL!);
    url.pathname = `/${name}`;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    const table: TableMapping = { name: 'codes', columns: { shop: 'varchar(4)', id: 'integer' }, key: ['id'], scope: ['shop'] };
    const store = createPostgresStore<Record<string, unknown>[]>({ client: pool, schema: 'ts', tables: [table], autoMigrate: true, staging });
    const put = (scope: string, data: Record<string, unknown>[]) => store.write({ scopes: [{ key: `k:${scope}`, scope, job: 'j', data, fetchedAt: 1 }] });
    try {
      // 'aéb' is three characters and four bytes: it fits. 'aébc' is four characters, five bytes.
      expect(await put('aéb', [{ id: 1 }])).toMatchObject({ inserted: 1 });
      expect(await store.readScope('aébc')).toEqual([]);
      // An empty fetch of it must not empty 'aéb' (a cast to varchar(4) would cut it to that).
      expect(await put('aébc', [])).toMatchObject({ deleted: 0 });
      expect(await store.readScope('aéb')).toEqual([{ id: 1 }]);
    } finally {
      await store.close();
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
