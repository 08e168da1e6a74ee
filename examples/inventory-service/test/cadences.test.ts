import { maxInAnyWindow } from '@tidesync/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn } from '../src/calendar.js';
import { backends, boot, converged, coveredKeys, eventually, sleep, testDatabase, type Harness, type TestDatabase } from './helpers.js';

// Accelerated cadences (seconds fields) under a partner limit the work cannot fit in at once:
// 10 requests per 2 s, against ~25 keys planned at start and "today" due every 2 s.
const LIMIT = 10;
const WINDOW_MS = 2_000;

describe.each(backends)('cadences on an accelerated schedule on %s', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let startedAt: number;

  beforeAll(async () => {
    db = await testDatabase(backend);
    h = await boot({
      db,
      sim: { limit: LIMIT, windowMs: WINDOW_MS },
      env: {
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
        SYNC_TODAY_CRON: '*/2 * * * * *',
        SYNC_WEEK_CRON: '*/6 * * * * *',
        SYNC_MONTH_CRON: '0 0 * * *',
      },
    });
    startedAt = Date.now();
    await eventually(() => converged(h), 30_000);
    await sleep(Math.max(0, startedAt + 9_000 - Date.now()));
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('never exceeds the partner limit in any sliding window (counted where requests arrive), and gets no 429', () => {
    expect(h.sim.arrivals.length).toBeGreaterThan(LIMIT * 2);
    expect(maxInAnyWindow(h.sim.arrivals, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
    expect(h.sim.arrivals.filter((a) => a.status === 429)).toEqual([]);
  });

  it('refreshes today every cron period (seconds field), the far dates only once', async () => {
    const today = dateIn(Date.now(), 'UTC');
    const fetches = (productId: number, date: string) => h.sim.arrivals.filter((a) => a.productId === productId && a.date === date && a.status === 200).length;
    // ~9 s of a 2 s cadence: well above the once that a slower cadence would give.
    expect(fetches(16, today)).toBeGreaterThanOrEqual(3);
    const monthOnly = coveredKeys().filter((k) => k.productId === 16 && k.date > coveredKeys().filter((x) => x.productId === 16)[3]!.date);
    for (const { date } of monthOnly) expect(fetches(16, date)).toBe(1);
    const { body } = await h.get('/sync/status');
    const [todayJob, weekJob] = body.cadences;
    expect(todayJob.freshForMs).toBe(2_000);
    expect(weekJob.freshForMs).toBe(6_000);
    expect(todayJob.done).toBeGreaterThanOrEqual(3);
  });

  it('converges to the partner after it changes: seats sold, a slot re-keyed, a slot and a passenger type gone', async () => {
    const today = dateIn(Date.now(), 'UTC');
    h.sim.update(16, today, (slots) => [
      { ...slots[0]!, remaining: 3, providerSlotId: 'rekeyed-1', paxAvailability: slots[0]!.paxAvailability.slice(0, 1).map((p) => ({ ...p, remaining: 3 })) },
    ]);
    await eventually(() => converged(h, [{ productId: 16, date: today }]), 10_000);
    const { body } = await h.get(`/experience/16/slots?date=${today}`);
    expect(body).toHaveLength(1);
    expect(body[0].paxAvailability).toHaveLength(1);
    const rows = await h.service.db.query<{ provider_slot_id: string }>(
      `SELECT provider_slot_id FROM ${h.service.runtime.config.databaseSchema}.slots WHERE product_id = 16 AND date = $1::date`,
      [today],
    );
    expect(rows.rows).toEqual([{ provider_slot_id: 'rekeyed-1' }]);
  });
});
