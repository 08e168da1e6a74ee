import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEEKDAYS } from '../src/calendar.js';
import { openDb, type Db } from '../src/database.js';
import { createInventoryStore, inventoryKey } from '../src/inventory-store.js';
import type { PartnerSlot } from '../src/partner-payload.js';
import { ProductsRepository } from '../src/products-repository.js';
import { deletionGuardedStore } from '../src/write-guard.js';
import { eventually, TEST_DATABASE_URL } from './helpers.js';

const DATE = '2026-12-01';
const slot = (time: string): PartnerSlot => ({
  startDate: DATE,
  startTime: time,
  endTime: '23:00',
  providerSlotId: `slot-${time}`,
  remaining: 5,
  currencyCode: 'EUR',
  variantId: 1,
  paxAvailability: [
    { type: 'ADULT', name: undefined, description: undefined, min: undefined, max: undefined, isPrimary: undefined, remaining: 5, price: { finalPrice: 10.5, originalPrice: 12, discount: undefined, currencyCode: 'EUR' } },
  ],
});
const fetched = (productId: number) => ({ key: inventoryKey(productId, DATE), scope: inventoryKey(productId, DATE), job: 'today', data: [slot('09:00'), slot('10:00')], fetchedAt: Date.now() });

// Two instances of the service share one PostgreSQL database; each has its own products list.
describe.skipIf(!TEST_DATABASE_URL)('a product deleted on one instance while another writes it (PostgreSQL)', () => {
  const schema = `inv_guard_${randomBytes(5).toString('hex')}`;
  let dbA: Db;
  let dbB: Db;
  let productsA: ProductsRepository;
  let productsB: ProductsRepository;
  let storeB: ReturnType<typeof createInventoryStore>;
  const rowsOf = async (productId: number) => {
    const { rows } = await dbA.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${schema}.slots WHERE product_id = $1)::int + (SELECT count(*) FROM ${schema}.slot_pax WHERE product_id = $1)::int AS n`,
      [productId],
    );
    return rows[0]!.n;
  };
  const freshnessOf = async (productId: number) => {
    const { rows } = await dbA.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.tidesync_key_state WHERE key LIKE $1`, [`inventory:${productId}:%`]);
    return rows[0]!.n;
  };
  /** A product both instances know, as after B's last list refresh. */
  const known = async (productId: number) => {
    expect(await productsA.create({ productId, days: [...WEEKDAYS] })).toBe(true);
    await productsB.list();
    expect(productsB.isKnown(productId)).toBe(true);
  };

  beforeAll(async () => {
    dbA = await openDb({ databaseUrl: TEST_DATABASE_URL, dataDir: 'memory://' });
    dbB = await openDb({ databaseUrl: TEST_DATABASE_URL, dataDir: 'memory://' });
    productsA = new ProductsRepository(dbA, schema);
    productsB = new ProductsRepository(dbB, schema);
    await productsA.init();
    await productsB.init();
    storeB = createInventoryStore(dbB.client, schema);
    await storeB.init();
  });
  afterAll(async () => {
    await storeB?.close();
    await dbA?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await dbA?.close();
    await dbB?.close();
  });

  it('without the shared check, a stale list writes the deleted product back (the defect this guards)', async () => {
    await known(9);
    expect(await productsA.remove(9)).toBe(true);
    const processLocal = deletionGuardedStore(storeB, productsB, { shared: false });
    await processLocal.write({ scopes: [fetched(9)] });
    expect(await rowsOf(9)).toBe(4);
  });

  it('removes the rows again when the product was deleted before the write', async () => {
    await known(7);
    await known(8);
    expect(await productsA.remove(7)).toBe(true);
    expect(productsB.isKnown(7)).toBe(true); // B has not refreshed its list

    const guarded = deletionGuardedStore(storeB, productsB, { shared: true });
    const result = await guarded.write({ scopes: [fetched(7), fetched(8)] });
    expect(result.inserted).toBe(8); // both were written…
    expect(await rowsOf(7)).toBe(0); // …and product 7's rows removed again, with the freshness the write recorded
    expect(await freshnessOf(7)).toBe(0);
    expect(await rowsOf(8)).toBe(4);
    expect(await freshnessOf(8)).toBe(1);
    expect(productsB.isKnown(7)).toBe(false);
    expect(productsB.isKnown(8)).toBe(true);
  });

  it('waits for a deletion in progress, then removes what it wrote', async () => {
    await known(10);
    // Another instance's remove(), caught between its statements: the product row is deleted
    // and its inventory (none yet) too, but the transaction has not committed.
    const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`DELETE FROM ${schema}.products WHERE product_id = 10`);
      await other.query(`DELETE FROM ${schema}.slots WHERE product_id = 10`);

      const guarded = deletionGuardedStore(storeB, productsB, { shared: true });
      let settled = false;
      const writing = guarded.write({ scopes: [fetched(10)] }).finally(() => void (settled = true));
      // The write itself lands; then the check waits on the deletion's row lock.
      await eventually(async () => expect(await rowsOf(10)).toBe(4), 10_000);
      await eventually(async () => {
        const { rows } = await dbA.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR KEY SHARE%' AND query LIKE $1`,
          [`%${schema}%`],
        );
        expect(rows[0]!.n).toBe(1);
      }, 10_000);
      expect(settled).toBe(false);

      await other.query('COMMIT');
      await writing;
      expect(await rowsOf(10)).toBe(0);
      expect(productsB.isKnown(10)).toBe(false);
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end();
    }
  });

  it('leaves products that still exist alone, and a product re-created meanwhile keeps its rows', async () => {
    await known(11);
    await known(12);
    expect(await productsA.remove(11)).toBe(true);
    expect(await productsA.create({ productId: 11, days: [...WEEKDAYS] })).toBe(true);
    const guarded = deletionGuardedStore(storeB, productsB, { shared: true });
    await guarded.write({ scopes: [fetched(11), fetched(12)] });
    expect(await rowsOf(11)).toBe(4);
    expect(await rowsOf(12)).toBe(4);
  });

  it('removes rows a write left behind when its own check failed, once a later batch drops the product', async () => {
    await known(13);
    expect(await productsA.remove(13)).toBe(true);
    // As if B's write of 13 had landed and its check had then failed (the batch is retried).
    await storeB.write({ scopes: [fetched(13)] });
    expect(await rowsOf(13)).toBe(4);
    await productsB.list(); // by the retry, B knows 13 is gone and drops its scope
    const guarded = deletionGuardedStore(storeB, productsB, { shared: true });
    await guarded.write({ scopes: [fetched(13)] });
    expect(await rowsOf(13)).toBe(0);
    expect(await freshnessOf(13)).toBe(0);
  });
});
