import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, dateIn } from '../src/calendar.js';
import { inventoryKey } from '../src/inventory-store.js';
import { createPartnerSimulator, type PartnerSimulator } from '../src/simulator/partner-simulator.js';
import { backends, boot, converged, eventually, TEST_CATALOG, TEST_WINDOW_MS, testDatabase, type Harness, type TestDatabase } from './helpers.js';

describe.each(backends)('rows of dates gone by on %s', (backend) => {
  let db: TestDatabase;
  let sim: PartnerSimulator;
  let h: Harness | undefined;
  const today = dateIn(Date.now(), 'UTC');
  const tomorrow = addDays(today, 1);
  const count = async (where: string) => {
    const schema = db.env.DATABASE_SCHEMA;
    const { rows } = await h!.service.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${schema}.slots WHERE ${where}) + (SELECT count(*) FROM ${schema}.slot_pax WHERE ${where}) AS n`,
    );
    return Number(rows[0]!.n);
  };
  const keyStates = async (keys: string[]) => {
    const { rows } = await h!.service.db.query<{ key: string }>(`SELECT key FROM ${db.env.DATABASE_SCHEMA}.tidesync_key_state WHERE key = ANY($1::text[]) ORDER BY key`, [keys]);
    return rows.map((r) => r.key);
  };

  beforeAll(async () => {
    db = await testDatabase(backend);
    sim = createPartnerSimulator({ token: 'sim-secret-token', products: TEST_CATALOG, limit: 30, windowMs: TEST_WINDOW_MS });
    await sim.start();
    h = await boot({ db, sim });
    await eventually(() => converged(h!), 30_000);
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
    await db?.drop();
  });

  it('pruneBefore removes the rows and key freshness of earlier dates only', async () => {
    // Product 16 operates every day: it has rows today and tomorrow.
    expect(await count(`product_id = 16 AND date = '${today}'`)).toBeGreaterThan(0);
    expect(await keyStates([inventoryKey(16, today), inventoryKey(16, tomorrow)])).toEqual([inventoryKey(16, today), inventoryKey(16, tomorrow)].sort());
    const tomorrowRows = await count(`date = '${tomorrow}'`);

    const removed = await h!.service.runtime.products.pruneBefore(tomorrow);
    expect(removed).toBeGreaterThan(0);
    expect(await count(`date < '${tomorrow}'`)).toBe(0);
    expect(await count(`date = '${tomorrow}'`)).toBe(tomorrowRows);
    expect(await keyStates([inventoryKey(16, today), inventoryKey(16, tomorrow)])).toEqual([inventoryKey(16, tomorrow)]);
    expect((await h!.get(`/experience/16/slots?date=${today}`)).body).toEqual([]);
    expect((await h!.get(`/experience/16/slots?date=${tomorrow}`)).body.length).toBeGreaterThan(0);
    // Nothing left to remove: it is idempotent.
    expect(await h!.service.runtime.products.pruneBefore(tomorrow)).toBe(0);
  });

  it('dead letters go with their rows: a past date\'s at the prune, a deleted product\'s with it', async () => {
    const schema = db.env.DATABASE_SCHEMA;
    const past = addDays(today, -3);
    const letters = [inventoryKey(16, past), inventoryKey(16, addDays(today, 2)), inventoryKey(999, addDays(today, 2))];
    for (const key of letters) {
      await h!.service.db.query(
        `INSERT INTO ${schema}.tidesync_dead_letter (key, scope, job, payload, attempts, error, at) VALUES ($1, $1, 'month', NULL, 3, 'HTTP 404', 0)`,
        [key],
      );
    }
    const remaining = async () =>
      (await h!.service.db.query<{ key: string }>(`SELECT key FROM ${schema}.tidesync_dead_letter WHERE key = ANY($1::text[]) ORDER BY key`, [letters])).rows.map((r) => r.key);
    await h!.service.runtime.products.pruneBefore(today);
    expect(await remaining()).toEqual([inventoryKey(16, addDays(today, 2)), inventoryKey(999, addDays(today, 2))].sort());
    expect(await h!.service.runtime.products.create({ productId: 999, days: ['Mon'] })).toBe(true);
    expect(await h!.service.runtime.products.remove(999)).toBe(true);
    expect(await remaining()).toEqual([inventoryKey(16, addDays(today, 2))]);
    await h!.service.db.query(`DELETE FROM ${schema}.tidesync_dead_letter WHERE key = ANY($1::text[])`, [letters]);
  });

  it('a service starting up removes what dates gone by left behind', async () => {
    const schema = db.env.DATABASE_SCHEMA;
    // Make tomorrow's rows look a month old, as a service stopped for a month would find them.
    const old = addDays(today, -30);
    for (const table of ['slot_pax', 'slots']) await h!.service.db.query(`UPDATE ${schema}.${table} SET date = $1::date WHERE date = $2::date`, [old, tomorrow]);
    expect(await count(`date = '${old}'`)).toBeGreaterThan(0);
    await h!.close();
    h = await boot({ db, sim });
    expect(await count(`date < '${today}'`)).toBe(0);
  });
});
