import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn } from '../src/calendar.js';
import { createPartnerSimulator, type PartnerSimulator } from '../src/simulator/partner-simulator.js';
import { backends, boot, eventually, expectedSlots, sleep, TEST_CATALOG, testDatabase, type Harness, type TestDatabase } from './helpers.js';

// A budget of 3 requests per 1.5 s, so most of the ~18 keys planned at start are still queued when
// product 16 is deleted; its "today" fetch (the most urgent key) hangs, so it is in flight then.
// The hang is armed before the service starts: the start-up run fetches "today" first, and a fault
// injected after boot could arrive too late for it (that raced on a fast database).
describe.each(backends)('deleting a product while its fetches are queued or in flight on %s', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let sim: PartnerSimulator;
  const today = dateIn(Date.now(), 'UTC');
  const rowsOf16 = async () => {
    const schema = db.env.DATABASE_SCHEMA;
    const { rows } = await h.service.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${schema}.slots WHERE product_id = 16)::int + (SELECT count(*) FROM ${schema}.slot_pax WHERE product_id = 16)::int AS n`,
    );
    return rows[0]!.n;
  };

  beforeAll(async () => {
    db = await testDatabase(backend);
    sim = createPartnerSimulator({ token: 'sim-secret-token', products: TEST_CATALOG, limit: 3, windowMs: 1_500 });
    await sim.start();
    sim.inject({ kind: 'hang', productId: 16, date: today, ms: 3_000 });
    h = await boot({ db, sim, env: { RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
    await db?.drop();
  });

  it('writes none of its rows back and sends no further request for it', async () => {
    const hung = await eventually(() => {
      const arrival = h.sim.arrivals.find((a) => a.productId === 16 && a.fault === 'hang');
      expect(arrival).toBeDefined();
      return arrival!;
    }, 10_000);
    const queued = (await h.get('/sync/status')).body.cadences.reduce((n: number, c: { queued: number }) => n + c.queued, 0);
    expect(queued).toBeGreaterThan(5);

    expect((await h.request('DELETE', '/products/16')).status).toBe(204);
    const deletedAt = Date.now();
    expect(deletedAt).toBeLessThan(hung.at + 3_000); // the delete really overtook the fetch in flight
    expect(await rowsOf16()).toBe(0);
    // The hung fetch answers after the delete; other products' keys go on being fetched.
    await sleep(4_000);
    expect(h.sim.arrivals.filter((a) => a.productId === 16 && a.at > deletedAt)).toEqual([]);
    expect(h.sim.arrivals.filter((a) => a.productId !== 16 && a.at > deletedAt).length).toBeGreaterThan(0);
    expect(await rowsOf16()).toBe(0);
    expect((await h.get(`/experience/16/slots?date=${today}`)).status).toBe(404);
    expect((await h.request('DELETE', '/products/16')).status).toBe(404);
    // And the product can come back: added again, it is planned and fetched at once — "today"
    // too, though the fetch that hung through the delete counted as a success (its write was dropped).
    const readdedAt = Date.now();
    expect((await h.request('POST', '/products', { productId: 16, days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] })).status).toBe(201);
    await eventually(async () => expect(await rowsOf16()).toBeGreaterThan(0), 10_000);
    await eventually(() => expect(h.sim.arrivals.some((a) => a.productId === 16 && a.date === today && a.at >= readdedAt && a.status === 200)).toBe(true), 10_000);
    await eventually(async () => expect((await h.get(`/experience/16/slots?date=${today}`)).body).toEqual(expectedSlots(h.sim.truth(16, today))), 5_000);
  });
});
