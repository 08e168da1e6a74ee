import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, addMonths, dateIn, weekdayOf } from '../src/calendar.js';
import type { Db } from '../src/database.js';
import { InventoryQueries } from '../src/inventory-queries.js';
import { inventoryKey } from '../src/inventory-store.js';
import { backends, boot, converged, coveredKeys, eventually, expectedSlots, testDatabase, type Harness, type TestDatabase } from './helpers.js';

const ADMIN = 'admin-secret-123';
const auth = { authorization: `Bearer ${ADMIN}` };

describe.each(backends)('HTTP API on %s', (backend) => {
  let h: Harness;
  let db: TestDatabase;

  beforeAll(async () => {
    db = await testDatabase(backend);
    h = await boot({ db, env: { SYNC_ADMIN_TOKEN: ADMIN } });
    await eventually(() => converged(h), 30_000);
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('serves every covered product and date exactly as the partner has it (shape, order, price rule)', async () => {
    await converged(h);
    const day14 = coveredKeys().find((k) => k.productId === 14)!;
    const { body } = await h.get(`/experience/14/slots?date=${day14.date}`);
    expect(body.length).toBe(4);
    expect(body.map((s: { startTime: string }) => s.startTime)).toEqual(['09:00', '11:00', '14:00', '16:30']);
    expect(Object.keys(body[0]).sort()).toEqual(['paxAvailability', 'price', 'remaining', 'startDate', 'startTime']);
    // The primary (Adult) price, not the lower Child price.
    expect(body[0].price.finalPrice).toBe(body[0].paxAvailability.find((p: { type: string }) => p.type.startsWith('ADULT')).price.finalPrice);
  });

  it('prices a slot without a primary passenger type at its lowest final price, as a decimal', async () => {
    const { productId, date } = coveredKeys().find((k) => k.productId === 16)!;
    h.sim.update(productId, date, (slots) =>
      slots.map((s) => ({ ...s, paxAvailability: s.paxAvailability.map((p, i) => ({ ...p, isPrimary: undefined, price: { ...p.price, finalPrice: i === 0 ? 99.95 : 12.345 } })) })),
    );
    await h.request('POST', '/sync/trigger', { job: 'month' }, auth);
    await h.request('POST', '/sync/trigger', { job: 'today' }, auth);
    await eventually(async () => {
      const { body } = await h.get(`/experience/${productId}/slots?date=${date}`);
      expect(body[0].price.finalPrice).toBe(12.345);
      expect(body).toEqual(expectedSlots(h.sim.truth(productId, date)));
    });
  });

  it('never serves a slot without passenger rows: it has no price (no invented zero price)', async () => {
    const today = dateIn(Date.now(), 'UTC');
    const path = `/experience/16/slots?date=${today}`;
    await eventually(() => converged(h, [{ productId: 16, date: today }]));
    const before = (await h.get(path)).body;
    expect(before.length).toBe(2);
    // Only a broken write or a hand edit can leave a slot without passenger rows; served, it had a
    // price of 0 in no currency.
    await h.service.db.query(`DELETE FROM ${db.env.DATABASE_SCHEMA}.slot_pax WHERE product_id = 16 AND date = $1::date AND start_time = $2`, [today, before[0].startTime]);
    try {
      expect(await h.get(path)).toEqual({ status: 200, body: before.slice(1) });
    } finally {
      // A refetch puts the rows back.
      await h.request('POST', '/sync/trigger', { job: 'today' }, auth);
      await eventually(() => converged(h, [{ productId: 16, date: today }]));
    }
  });

  it('reads a date\'s slots and their passenger rows in one statement (one snapshot)', async () => {
    const today = dateIn(Date.now(), 'UTC');
    const statements: string[] = [];
    const counting: Db = { ...h.service.db, query: (text, params) => (statements.push(text), h.service.db.query(text, params)) };
    const slots = await new InventoryQueries(counting, db.env.DATABASE_SCHEMA!).slotsOn(16, today);
    expect(statements).toHaveLength(1);
    expect(slots).toEqual(expectedSlots(h.sim.truth(16, today)));
  });

  it('serves no slots for a date gone by, though its rows are still there until the prune', async () => {
    const today = dateIn(Date.now(), 'UTC');
    const yesterday = addDays(today, -1);
    const schema = db.env.DATABASE_SCHEMA;
    // Today's rows copied to yesterday: what the hourly prune has not removed yet after midnight.
    await h.service.db.transaction(async (q) => {
      for (const table of ['slots', 'slot_pax']) {
        await q(`CREATE TEMP TABLE copy AS SELECT * FROM ${schema}.${table} WHERE product_id = 16 AND date = $1::date`, [today]);
        await q(`UPDATE copy SET date = $1::date`, [yesterday]);
        await q(`INSERT INTO ${schema}.${table} SELECT * FROM copy`);
        await q('DROP TABLE copy');
      }
    });
    try {
      const { rows } = await h.service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.slots WHERE product_id = 16 AND date = $1::date`, [yesterday]);
      expect(rows[0]!.n).toBe(2);
      expect(await h.get(`/experience/16/slots?date=${yesterday}`)).toEqual({ status: 200, body: [] });
      expect(await h.get(`/experience/16/slots?date=2020-01-01`)).toEqual({ status: 200, body: [] });
      expect((await h.get(`/experience/999/slots?date=${yesterday}`)).status).toBe(404);
      expect((await h.get(`/experience/16/slots?date=${today}`)).body).toEqual(expectedSlots(h.sim.truth(16, today)));
    } finally {
      await h.service.runtime.products.pruneBefore(today);
    }
  });

  it('serves nothing beyond the synced range, though rows kept from a longer SYNC_MONTH_DAYS are still there', async () => {
    const today = dateIn(Date.now(), 'UTC');
    const beyond = addDays(today, 14); // SYNC_MONTH_DAYS is 10 here; the same weekday as today
    const schema = db.env.DATABASE_SCHEMA;
    await h.service.db.transaction(async (q) => {
      for (const table of ['slots', 'slot_pax']) {
        await q(`CREATE TEMP TABLE copy AS SELECT * FROM ${schema}.${table} WHERE product_id = 16 AND date = $1::date`, [today]);
        await q(`UPDATE copy SET date = $1::date, remaining = 5`, [beyond]);
        await q(`INSERT INTO ${schema}.${table} SELECT * FROM copy`);
        await q('DROP TABLE copy');
      }
    });
    try {
      const { rows } = await h.service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.slots WHERE product_id = 16 AND date = $1::date`, [beyond]);
      expect(rows[0]!.n).toBe(2);
      expect(await h.get(`/experience/16/slots?date=${beyond}`)).toEqual({ status: 200, body: [] });
      const { body } = await h.get('/experience/16/dates');
      expect(body.dates.map((d: { date: string }) => d.date)).not.toContain(beyond);
      expect(body.dates.every((d: { date: string }) => d.date <= addDays(today, 10))).toBe(true);
    } finally {
      await h.service.db.query(`DELETE FROM ${schema}.slot_pax WHERE product_id = 16 AND date = $1::date`, [beyond]);
      await h.service.db.query(`DELETE FROM ${schema}.slots WHERE product_id = 16 AND date = $1::date`, [beyond]);
    }
  });

  it('lists available dates for two months with the lowest available slot price', async () => {
    const { status, body } = await h.get('/experience/14/dates');
    expect(status).toBe(200);
    const today = dateIn(Date.now(), 'UTC');
    const expected = coveredKeys()
      .filter((k) => k.productId === 14)
      .flatMap(({ date }) => {
        const open = expectedSlots(h.sim.truth(14, date)).filter((s) => s.remaining > 0);
        if (open.length === 0) return [];
        const cheapest = open.reduce((a, b) => (b.price.finalPrice < a.price.finalPrice ? b : a));
        return [{ date, price: cheapest.price }];
      });
    expect(body.dates).toEqual(expected);
    for (const d of body.dates) expect(d.date >= today && d.date <= addMonths(today, 2)).toBe(true);
  });

  it('answers [] for a known product on a day it has no slots, 404 for an unknown product', async () => {
    let date = dateIn(Date.now(), 'UTC');
    while (weekdayOf(date) !== 'Fri') date = addDays(date, 1);
    expect(await h.get(`/experience/14/slots?date=${date}`)).toEqual({ status: 200, body: [] });
    expect((await h.get(`/experience/999/slots?date=${date}`)).status).toBe(404);
  });

  it.each([
    ['an impossible date', '/experience/14/slots?date=2025-02-30'],
    ['a date without leading zeros', '/experience/14/slots?date=2025-3-5'],
    ['a date with a time', '/experience/14/slots?date=2025-03-05T00:00'],
    ['a missing date', '/experience/14/slots'],
    ['two dates', '/experience/14/slots?date=2025-03-05&date=2025-03-06'],
    ['a non-numeric id', '/experience/abc/slots?date=2025-03-05'],
    ['a negative id', '/experience/-4/slots?date=2025-03-05'],
    ['a non-numeric id on dates', '/experience/1e3/dates'],
  ])('rejects %s with 400 and a message', async (_what, path) => {
    const res = await h.get(path);
    expect(res.status).toBe(400);
    expect(typeof res.body.message).toBe('string');
  });

  it('names what is wrong with a date given twice or as a list; a real date of year 1 is just a day gone by', async () => {
    const twice = await h.get('/experience/14/slots?date=2025-03-05&date=2025-03-06');
    expect(twice).toMatchObject({ status: 400, body: { message: 'date: must be given once, as YYYY-MM-DD' } });
    // `date[]` is a parameter of another name, so `date` is missing.
    for (const query of ['', '?date[]=2025-03-05']) expect((await h.get(`/experience/14/slots${query}`)).body.message).toBe('date: is required (YYYY-MM-DD)');
    expect(await h.get('/experience/14/slots?date=0001-01-01')).toEqual({ status: 200, body: [] });
    expect((await h.get('/experience/14/slots?date=0099-02-29')).status).toBe(400);
  });

  it.each([
    ['a body that is not JSON', '{"productId": 17,', 400],
    ['a string product id', { productId: '17', days: ['Mon'] }, 400],
    ['an unknown weekday', { productId: 17, days: ['Monday'] }, 400],
    ['no days', { productId: 17, days: [] }, 400],
    ['an unknown field', { productId: 17, days: ['Mon'], price: 3 }, 400],
  ])('rejects a product with %s', async (_what, body, status) => {
    const res = await h.request('POST', '/products', body, auth);
    expect(res.status).toBe(status);
  });

  it('guards control and product-changing endpoints with the admin token, and never echoes it', async () => {
    for (const [method, path, body] of [
      ['PATCH', '/sync/pause', undefined],
      ['PATCH', '/sync/resume', undefined],
      ['POST', '/sync/trigger', {}],
      ['POST', '/products', { productId: 17, days: ['Mon'] }],
      ['PATCH', '/products/14', { days: ['Mon'] }],
      ['DELETE', '/products/14', undefined],
    ] as const) {
      const none = await h.request(method, path, body);
      const wrong = await h.request(method, path, body, { authorization: 'Bearer nope' });
      expect([none.status, wrong.status]).toEqual([401, 401]);
      expect(JSON.stringify(wrong.body)).not.toContain(ADMIN);
    }
    expect((await h.get('/products')).status).toBe(200);
    expect((await h.get('/sync/status')).status).toBe(200);
    expect((await h.request('PATCH', '/sync/resume', undefined, auth)).status).toBe(200);
  });

  it('adds a product and plans its keys at once; updates and deletes it', async () => {
    const before = h.sim.arrivals.length;
    const created = await h.request('POST', '/products', { productId: 14_000, days: ['Wed', 'Mon'] }, auth);
    // Product 14000 is unknown to the partner (404, permanent): the point is that it is requested now.
    expect(created).toEqual({ status: 201, body: { productId: 14_000, days: ['Mon', 'Wed'] } });
    await eventually(() => expect(h.sim.arrivals.slice(before).some((a) => a.productId === 14_000)).toBe(true), 10_000);
    expect((await h.request('POST', '/products', { productId: 14_000, days: ['Mon'] }, auth)).status).toBe(409);
    expect(await h.request('PATCH', '/products/14000', { days: ['Sun'] }, auth)).toEqual({ status: 200, body: { productId: 14_000, days: ['Sun'] } });
    expect((await h.get('/products/14000')).body.days).toEqual(['Sun']);
    expect((await h.request('DELETE', '/products/14000', undefined, auth)).status).toBe(204);
    expect((await h.get('/products/14000')).status).toBe(404);
    expect((await h.request('PATCH', '/products/abc', { days: ['Sun'] }, auth)).status).toBe(400);
    expect((await h.get('/products')).body.map((p: { productId: number }) => p.productId)).toEqual([14, 15, 16]);
  });

  it('fetches a product deleted and added back again at once, though its keys were fresh when it went', async () => {
    await converged(h);
    const keys16 = coveredKeys().filter((k) => k.productId === 16);
    expect((await h.request('DELETE', '/products/16', undefined, auth)).status).toBe(204);
    expect((await h.get(`/experience/16/slots?date=${keys16[0]!.date}`)).status).toBe(404);
    const schema = db.env.DATABASE_SCHEMA;
    const { rows } = await h.service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.slots WHERE product_id = 16`);
    expect(rows[0]!.n).toBe(0);
    expect(keys16.filter((k) => h.sim.truth(16, k.date).length > 0).length).toBeGreaterThan(5);
    expect((await h.request('POST', '/products', { productId: 16, days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] }, auth)).status).toBe(201);
    // Its rows went with it, so its keys are due again at once: every date is served as the
    // partner has it again (before, its keys stayed "fresh" and it served [] for up to a day).
    await eventually(() => converged(h, keys16), 15_000);
  });

  it('serves nothing for a weekday dropped from a product, and fetches it again when it is added back', async () => {
    await converged(h);
    const today = dateIn(Date.now(), 'UTC');
    const everyDay = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
    const target = coveredKeys().find((k) => k.productId === 16 && k.date !== today && h.sim.truth(16, k.date).some((s) => s.remaining > 0))!;
    const day = weekdayOf(target.date);
    expect((await h.get(`/experience/16/slots?date=${target.date}`)).body.length).toBeGreaterThan(0);
    expect((await h.get('/experience/16/dates')).body.dates.map((d: { date: string }) => d.date)).toContain(target.date);

    expect((await h.request('PATCH', '/products/16', { days: everyDay.filter((d) => d !== day) }, auth)).status).toBe(200);
    // Its rows are no longer refreshed, so they are not served, and they go with the weekday (or
    // they would be served stale the moment it is added back, until the refetch lands).
    expect((await h.get(`/experience/16/slots?date=${target.date}`)).body).toEqual([]);
    const schema = db.env.DATABASE_SCHEMA;
    const left = await h.service.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${schema}.slots WHERE product_id = 16 AND date = $1::date) + (SELECT count(*) FROM ${schema}.tidesync_key_state WHERE key = $2) AS n`,
      [target.date, inventoryKey(16, target.date)],
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
    // Only that weekday's.
    const other = coveredKeys().find((k) => k.productId === 16 && weekdayOf(k.date) !== day && h.sim.truth(16, k.date).length > 0)!;
    expect((await h.get(`/experience/16/slots?date=${other.date}`)).body.length).toBeGreaterThan(0);
    expect((await h.get('/experience/16/dates')).body.dates.map((d: { date: string }) => d.date)).not.toContain(target.date);

    // The partner changes meanwhile; added back, the day is fetched at once though it looked fresh.
    h.sim.update(16, target.date, (slots) => slots.map((s) => ({ ...s, remaining: s.remaining + 1 })));
    expect((await h.request('PATCH', '/products/16', { days: everyDay }, auth)).status).toBe(200);
    // Served as the partner has it now: only a new fetch can have brought the change.
    await eventually(() => converged(h, [target]), 15_000);
  });

  it('reports per-cadence status, health and the OpenAPI docs; the partner token appears nowhere', async () => {
    const { body } = await h.get('/sync/status');
    expect(body.cadences.map((c: { name: string }) => c.name)).toEqual(['today', 'week', 'month']);
    const today = body.cadences[0];
    for (const field of ['nextTickAt', 'lastTickAt', 'queued', 'inFlight', 'done', 'failed', 'deadLettered', 'budgetUsed', 'freshness', 'deadlineMisses']) {
      expect(today).toHaveProperty(field);
    }
    expect(today.freshForMs).toBe(15 * 60_000);
    expect(body.cadences[1].freshForMs).toBe(4 * 3_600_000);
    expect(body.cadences[2].freshForMs).toBe(86_400_000);
    const health = await h.get('/health');
    expect(health.status).toBe(200);
    expect(health.body.info.sync.store).toBe('up');
    const docs = await h.get('/docs');
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain('swagger');
    expect(JSON.stringify([body, health.body])).not.toContain(h.sim.token!);
  });

  it('trigger rejects an unknown cadence', async () => {
    expect((await h.request('POST', '/sync/trigger', { job: 'hourly' }, auth)).status).toBe(400);
  });

  it.each([
    ['text', 'today', 'text/plain'],
    ['a form', 'job=today', 'application/x-www-form-urlencoded'],
    ['JSON under another type', '{"job":"today"}', 'text/plain; charset=utf-8'],
  ])('answers 415 to a body sent as %s, which the JSON parser would skip (a trigger of every cadence)', async (_what, body, type) => {
    const triggered: string[] = [];
    const listener = (e: { job: string; tick: { manual: boolean } }) => void (e.tick.manual && triggered.push(e.job));
    h.service.engine.on('tick', listener);
    try {
      for (const [method, path] of [['POST', '/sync/trigger'], ['POST', '/products'], ['PUT', '/products/14']] as const) {
        const res = await h.request(method, path, body, { ...auth, 'content-type': type });
        expect(res.status, `${method} ${path}`).toBe(415);
        expect(res.body.message).toMatch(/application\/json/);
      }
      // No body, or an empty one, is still "no body": the trigger of every cadence it documents.
      expect((await h.request('POST', '/sync/trigger', '', { ...auth, 'content-type': type })).status).toBe(202);
      expect(triggered.sort()).toEqual(['month', 'today', 'week']);
    } finally {
      h.service.engine.off('tick', listener);
    }
  });
});
