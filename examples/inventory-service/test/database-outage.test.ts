import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, dateIn } from '../src/calendar.js';
import { boot, converged, eventually, expectedSlots, sleep, tcpProxy, testDatabase, TEST_DATABASE_URL, type Harness, type TestDatabase } from './helpers.js';

// Only real PostgreSQL has a server that can go away; PGlite runs inside the process.
describe.skipIf(!TEST_DATABASE_URL)('the database going away and coming back (PostgreSQL only: PGlite is in-process, there is no server to lose)', () => {
  let h: Harness;
  let db: TestDatabase;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  let admin: pg.Client;
  const appName = `inv_outage_${randomBytes(4).toString('hex')}`;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const today = dateIn(Date.now(), 'UTC');
  const tomorrow = addDays(today, 1);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    db = await testDatabase('PostgreSQL');
    const real = new URL(TEST_DATABASE_URL!);
    proxy = await tcpProxy(real);
    const viaProxy = new URL(TEST_DATABASE_URL!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    viaProxy.searchParams.set('application_name', appName);
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    h = await boot({
      db,
      env: { DATABASE_URL: viaProxy.toString(), SYNC_TODAY_CRON: '*/2 * * * * *', SYNC_WEEK_CRON: '*/3 * * * * *' },
      service: { retry: { baseDelayMs: 100, maxDelayMs: 400, attempts: 5, jitter: 0 } },
    });
    await eventually(() => converged(h), 30_000);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    proxy?.up();
    await h?.close();
    await proxy?.close();
    await admin?.end();
    await db?.drop();
  });

  it('answers 503 while it is away, keeps syncing, retries the writes and converges once it is back', async () => {
    let failedBatches = 0;
    h.service.engine.on('batch:failed', () => void failedBatches++);
    const bump = (n: number) => (slots: ReturnType<typeof h.sim.truth>) =>
      slots.map((s) => ({ ...s, remaining: s.remaining + n, paxAvailability: s.paxAvailability.map((p) => ({ ...p, remaining: p.remaining + n })) }));

    // A fetch of today's changed data is in flight when the database goes away: its write fails
    // and is put back. (Ticks pause meanwhile: leadership is a session lock on that database.)
    h.sim.update(16, today, bump(5));
    h.sim.inject({ kind: 'hang', productId: 16, date: today, ms: 1_000 });
    const from = h.sim.arrivals.length;
    await h.request('POST', '/sync/trigger', { job: 'today' });
    await eventually(() => expect(h.sim.arrivals.slice(from).some((a) => a.fault === 'hang')).toBe(true), 5_000);

    // The server ends every session of the service, and the host stops taking connections.
    const { rows: killed } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [appName]);
    expect(killed.length).toBeGreaterThan(0);
    proxy.down();
    h.sim.update(16, tomorrow, bump(9)); // only a tick after the outage can pick this up
    const downAt = Date.now();
    const seen = { slots: new Set<number>(), dates: new Set<number>(), products: new Set<number>(), status: new Set<number>(), health: new Set<number>() };
    while (Date.now() - downAt < 4_000) {
      seen.slots.add((await h.get(`/experience/16/slots?date=${today}`)).status);
      seen.dates.add((await h.get('/experience/14/dates')).status);
      seen.products.add((await h.get('/products')).status);
      const status = await h.get('/sync/status');
      seen.status.add(status.status);
      seen.health.add((await h.get('/health')).status);
      await sleep(250);
    }
    expect(seen.slots).toEqual(new Set([503]));
    expect(seen.dates).toEqual(new Set([503]));
    expect(seen.products).toEqual(new Set([503]));
    expect(seen.status).toEqual(new Set([200]));
    expect([...seen.health].every((s) => s === 503)).toBe(true);
    // The fetch landed, its write failed and was put back (and fetched again) while the database was away.
    expect(failedBatches).toBeGreaterThan(0);
    expect(h.sim.arrivals.filter((a) => a.at > downAt && a.productId === 16 && a.date === today).length).toBeGreaterThan(0);

    proxy.up();
    const upAt = Date.now();
    await eventually(() => converged(h), 20_000);
    expect(await h.get(`/experience/16/slots?date=${today}`)).toEqual({ status: 200, body: expectedSlots(h.sim.truth(16, today)) });
    const status = (await h.get('/sync/status')).body;
    // Store failures do not spend attempts: nothing was dead-lettered by the outage.
    expect(status.deadLetters).toBe(0);
    expect(status.cadences.reduce((n: number, c: { deadLettered: number }) => n + c.deadLettered, 0)).toBe(0);
    // No partial scope: every slot has its passenger types, every passenger type its slot.
    const schema = db.env.DATABASE_SCHEMA;
    const { rows } = await admin.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${schema}.slots s WHERE NOT EXISTS (SELECT 1 FROM ${schema}.slot_pax p WHERE (p.product_id, p.date, p.start_time) = (s.product_id, s.date, s.start_time)))::int +
              (SELECT count(*) FROM ${schema}.slot_pax p WHERE NOT EXISTS (SELECT 1 FROM ${schema}.slots s WHERE (p.product_id, p.date, p.start_time) = (s.product_id, s.date, s.start_time)))::int AS n`,
    );
    expect(rows[0]!.n).toBe(0);
    expect(unhandled).toEqual([]);
    expect(Date.now() - upAt).toBeLessThan(20_000);
  });

  it('answers 503 to pause and resume while it is away (their state cannot be persisted), and nothing of the connection string', async () => {
    proxy.down();
    try {
      for (const path of ['/sync/pause', '/sync/pause?force=true']) {
        const res = await h.request('PATCH', path);
        expect(res.status).toBe(503);
        expect((res.body as { message: string }).message).toMatch(/^paused, but the database is unavailable: the pause is not saved/);
        // In effect all the same.
        expect((await h.request('GET', '/sync/status')).body).toMatchObject({ paused: true });
      }
      const res = await h.request('PATCH', '/sync/resume');
      expect(res.status).toBe(503);
      expect((res.body as { message: string }).message).toMatch(/^resumed, but the database is unavailable/);
      expect(JSON.stringify(res.body)).not.toMatch(/postgres:\/\//);
    } finally {
      proxy.up();
    }
    // Back, the same calls succeed and are persisted.
    expect((await h.request('PATCH', '/sync/pause')).body).toEqual({ paused: true, force: false });
    expect((await admin.query(`SELECT target FROM ${db.env.DATABASE_SCHEMA}.tidesync_paused`)).rows).toEqual([{ target: '*' }]);
    expect((await h.request('PATCH', '/sync/resume')).body).toEqual({ paused: false });
    expect((await admin.query(`SELECT target FROM ${db.env.DATABASE_SCHEMA}.tidesync_paused`)).rows).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});
