import { describe, expect, it } from 'vitest';
import { DAY, MIN, keysPlan, setup } from './helpers.js';

const threeCadences = (products: number) => {
  const dayPlan = (from: number, to: number) => () =>
    Array.from({ length: products }, (_, p) => Array.from({ length: to - from + 1 }, (_, d) => ({ key: `p${p}:d${from + d}`, payload: { n: p } }))).flat();
  return [
    { name: 'today', schedule: '*/15 * * * *', plan: dayPlan(0, 0) },
    { name: 'week', schedule: '0 */4 * * *', plan: dayPlan(1, 7) },
    { name: 'month', schedule: '0 0 * * *', plan: dayPlan(1, 30) },
  ];
};

describe('engine queueing', () => {
  it('never lets the 30-day burst delay a "today" task that is due', async () => {
    const { clock, arrivals, engine, record } = setup({
      rateLimit: { limit: 30, windowMs: MIN },
      concurrency: 2,
      jobs: threeCadences(20),
    });
    const ticks = record('tick');
    await engine.start();
    // The first midnight enqueues 600 far keys (20 minutes of budget) and 20 "today" keys.
    await engine.trigger(undefined, { force: false });
    await clock.advance(DAY);
    await engine.stop();
    const todayTicks = ticks.filter((t) => t.job === 'today' && !t.tick.manual);
    expect(todayTicks.length).toBe(96);
    for (const tick of todayTicks) {
      const due = arrivals.filter((a) => a.key.endsWith(':d0') && a.at >= tick.tick.scheduledAt && a.at < tick.tick.scheduledAt + 15 * MIN);
      // 20 keys at 30/min take 40 s; the far backlog must not push them later.
      expect(due.length).toBe(20);
      expect(Math.max(...due.map((a) => a.at)) - tick.tick.scheduledAt).toBeLessThanOrEqual(45_000);
    }
    // And the burst itself is worked through: every far key fetched at least once.
    const far = new Set(arrivals.filter((a) => !a.key.endsWith(':d0')).map((a) => a.key));
    expect(far.size).toBe(20 * 30);
  });

  it('coalesces keys planned by several jobs into one fetch', async () => {
    const { clock, arrivals, engine, record } = setup({ jobs: threeCadences(3) });
    const ticks = record('tick');
    await engine.start();
    await clock.advanceTo(Date.UTC(2026, 10, 29, 0, 0, 30));
    await engine.stop();
    const midnight = ticks.filter((t) => t.tick.scheduledAt === Date.UTC(2026, 10, 29));
    expect(midnight.map((t) => t.job).sort()).toEqual(['month', 'today', 'week']);
    const fetchedAfter = arrivals.filter((a) => a.at >= Date.UTC(2026, 10, 29));
    const byKey = new Map<string, number>();
    for (const a of fetchedAfter) byKey.set(a.key, (byKey.get(a.key) ?? 0) + 1);
    expect([...byKey.values()].every((n) => n === 1)).toBe(true);
    expect(byKey.size).toBe(3 * 31);
  });

  it('keeps the queue at distinct keys through a storm of ticks while paused', async () => {
    const { clock, arrivals, engine } = setup({
      jobs: [
        { name: 'fast', schedule: '*/10 * * * * *', plan: keysPlan('k', 300) },
        { name: 'slow', schedule: '*/30 * * * * *', plan: keysPlan('k', 300) },
      ],
    });
    await engine.start();
    await engine.pause();
    await clock.advance(10 * MIN);
    const status = await engine.status();
    expect(arrivals).toHaveLength(0);
    expect(status.jobs.reduce((n, j) => n + j.queued, 0)).toBe(300);
    await engine.resume();
    await clock.advance(MIN);
    expect(new Set(arrivals.map((a) => a.key)).size).toBe(300);
    await engine.stop();
  });

  it('writes results in batches of batchSize scopes', async () => {
    const { clock, engine, store, record } = setup({
      batchSize: 5,
      flushMs: 1_000,
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 12) }],
    });
    const batches = record('batch:written');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(5_000);
    await engine.stop();
    expect(batches.map((b) => b.scopes)).toEqual([5, 5, 2]);
    expect(batches.reduce((n, b) => n + b.result.inserted, 0)).toBe(12);
    expect(store.scopes().size).toBe(12);
  });
});
