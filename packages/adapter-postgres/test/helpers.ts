import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll } from 'vitest';
import type { TableMapping } from '../src/index.js';

/** Set by CI to the local server; when absent the real-PostgreSQL suites are skipped, PGlite still runs. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** Each test isolates itself in its own schema, dropped afterwards: no global truncation. */
export const randomSchema = () => `ts_test_${randomBytes(6).toString('hex')}`;

let pglite: Promise<PGlite> | undefined;
export const sharedPGlite = () => (pglite ??= PGlite.create());

const pools: pg.Pool[] = [];
/** A fresh pool on the test server; every pool made here is ended after the file. */
export function newPool(max = 5): pg.Pool {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max });
  pool.on('error', () => {}); // terminated sessions in the kill tests report here
  pools.push(pool);
  return pool;
}
afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
  if (pglite) await (await pglite).close();
});

/** Polls `probe` every 25 ms (up to 5 s) until it gives something. */
export const waitFor = async <T>(probe: () => Promise<T | undefined>, what: string): Promise<T> => {
  for (let i = 0; i < 200; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

export interface Backend {
  name: string;
  /** A client for a store; `fresh` = a separate connection pool (a competing instance). */
  client(fresh?: boolean): Promise<pg.Pool | PGlite>;
  /** Admin queries, on a connection of their own where the backend has several. */
  admin(): Promise<{ query(text: string, params?: unknown[]): Promise<{ rows: any[] }> }>;
}

let sharedPool: pg.Pool | undefined;
export const backends: Backend[] = [
  { name: 'PGlite', client: sharedPGlite, admin: sharedPGlite },
  ...(TEST_DATABASE_URL
    ? [
        {
          name: 'PostgreSQL',
          client: async (fresh = false) => (fresh ? newPool() : (sharedPool ??= newPool(10))),
          admin: async () => (sharedPool ??= newPool(10)),
        } satisfies Backend,
      ]
    : []),
];

/** The conformance row as a table: numeric price read back as a JS number. */
export const itemsTable: TableMapping = {
  name: 'items',
  columns: { id: 'text', name: 'text', price: { type: 'numeric', read: Number }, tags: 'text[]' },
  key: ['id'],
};

/** The inventory shape: slots and their per-passenger-type prices, scoped by product and date. */
export interface Slot {
  time: string;
  left: number;
  prices: Record<string, number>;
}
export const inventoryTables: TableMapping[] = [
  { name: 'slots', columns: { product_id: 'integer', date: 'date', time: 'text', left_count: 'integer' }, key: ['time'], scope: ['product_id', 'date'] },
  {
    name: 'slot_prices',
    columns: { product_id: 'integer', date: 'date', time: 'text', pax_type: 'text', price: { type: 'numeric(12,2)', read: Number } },
    key: ['time', 'pax_type'],
    scope: ['product_id', 'date'],
  },
];
export const inventoryMapping = {
  tables: inventoryTables,
  scopeValues: (scope: string) => {
    const [product, date] = scope.split(':');
    return { product_id: Number(product!.slice(1)), date };
  },
  rows: (slots: Slot[]) => ({
    slots: slots.map((s) => ({ time: s.time, left_count: s.left })),
    slot_prices: slots.flatMap((s) => Object.entries(s.prices).map(([pax_type, price]) => ({ time: s.time, pax_type, price }))),
  }),
};

export const slot = (time: string, left: number, adult = 49.9, child = 24.95): Slot => ({ time, left, prices: { adult, child } });
