import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MIN, keysPlan, setup } from './helpers.js';

/** The example's three cadences (15 min, 4 h, daily), planning this many keys each. */
const threeCadences = (today: number, week: number, month: number) => [
  { name: 'today', schedule: '*/15 * * * *', plan: keysPlan('t', today) },
  { name: 'week', schedule: '0 */4 * * *', plan: keysPlan('w', week) },
  { name: 'month', schedule: '0 0 * * *', plan: keysPlan('m', month) },
];

describe('engine cadence semantics', () => {
  it('refreshes a key on every tick of its cadence, not every other one', async () => {
    // The trap: skipping on "age < period" at tick time halves the rate, because the previous
    // fetch always lands a little after the previous tick.
    const { clock, arrivals, engine } = setup({
      rateLimit: { limit: 30, windowMs: MIN },
      jobs: [{ name: 'today', schedule: '*/15 * * * *', plan: keysPlan('today', 3) }],
    });
    await engine.start();
    await clock.advance(DAY);
    await engine.stop();
    const forKey = arrivals.filter((a) => a.key === 'today:0').map((a) => a.at);
    expect(forKey).toHaveLength(96);
    const gaps = forKey.slice(1).map((at, i) => at - forKey[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(15 * MIN + 10_000);
  });

  it('lets a faster cadence satisfy a slower one covering the same key', async () => {
    const { clock, arrivals, engine, record } = setup({
      jobs: [
        { name: 'fast', schedule: '0 * * * *', plan: keysPlan('k', 5) },
        { name: 'slow', schedule: '0 */4 * * *', plan: keysPlan('k', 5) },
      ],
    });
    const ticks = record('tick');
    await engine.start();
    await clock.advance(DAY);
    await engine.stop();
    // 24 hourly refreshes per key; the 4-hourly ticks coincide and add nothing.
    expect(arrivals.filter((a) => a.key === 'k:0')).toHaveLength(24);
    const slowTicks = ticks.filter((t) => t.job === 'slow');
    expect(slowTicks).toHaveLength(6);
    expect(slowTicks.every((t) => t.enqueued + t.merged + t.fresh + t.inFlight === 5)).toBe(true);
  });

  it('skips a key that will still be fresh at its next covering tick', async () => {
    const { clock, arrivals, engine, record } = setup({
      jobs: [{ name: 'hourly', schedule: '0 * * * *', freshFor: 3 * HOUR, plan: keysPlan('k', 1) }],
    });
    const ticks = record('tick');
    await engine.start();
    await clock.advance(12 * HOUR);
    await engine.stop();
    // Target 3 h, ticks hourly. Fetched at 01:00; at 02:00 and 03:00 it will still be within
    // 3 h at the next tick, so those skip; at 04:00 waiting for 05:00 would make it 4 h old.
    expect(arrivals.map((a) => (a.at - Date.UTC(2026, 10, 28)) / HOUR)).toEqual([1, 4, 7, 10]);
    expect(ticks).toHaveLength(12);
    expect(ticks.filter((t) => t.fresh === 1)).toHaveLength(8);
  });

  it('plans the three cadences right across a DST change, nothing duplicated or missed', async () => {
    for (const [startUtc, expected] of [
      // Europe/Berlin, 2026-03-29: 23 hours; 02:00-02:59 does not exist.
      [Date.UTC(2026, 2, 28, 23, 0, 0), { today: 92, week: 6, month: 1 }],
      // Europe/Berlin, 2026-10-25: 25 hours; 02:00-02:59 happens twice.
      [Date.UTC(2026, 9, 24, 22, 0, 0), { today: 100, week: 6, month: 1 }],
    ] as const) {
      const dayLength = expected.today * 15 * MIN;
      const { clock, engine, record } = setup({
        start: startUtc - 1,
        timezone: 'Europe/Berlin',
        jobs: threeCadences(1, 1, 1),
      });
      const ticks = record('tick');
      await engine.start();
      await clock.advanceTo(startUtc + dayLength - 1);
      await engine.stop();
      const of = (job: string) => ticks.filter((t) => t.job === job).map((t) => t.tick.scheduledAt);
      expect({ today: of('today').length, week: of('week').length, month: of('month').length }).toEqual(expected);
      const today = of('today');
      expect(new Set(today).size).toBe(today.length);
      expect(today.slice(1).every((at, i) => at - today[i]! === 15 * MIN)).toBe(true);
      const localHours = of('week').map((at) =>
        new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', hourCycle: 'h23' }).format(at),
      );
      expect(localHours).toEqual(['00', '04', '08', '12', '16', '20']);
    }
  });

  it('a cadence that keeps its wall-clock hours across a fall-back is not late on the 25-hour day', async () => {
    // Europe/Berlin, 2026-10-25 03:00 CEST becomes 02:00 CET. Two days before to two days after.
    const start = Date.UTC(2026, 9, 22, 22, 0, 0) - 1;
    const { clock, engine, record, arrivals } = setup({
      start,
      timezone: 'Europe/Berlin',
      jobs: threeCadences(1, 2, 3),
    });
    const done = record('task:done');
    await engine.start();
    await clock.advanceTo(start + 4 * DAY);
    const status = await engine.status();
    await engine.stop();
    // Every occurrence fetched its keys (the daily one 4 times, the 4-hourly one 24 times)…
    const fetches = (prefix: string) => arrivals.filter((a) => a.key.startsWith(prefix)).length;
    expect({ month: fetches('m:'), week: fetches('w:') }).toEqual({ month: 4 * 3, week: 24 * 2 });
    // …none of them after its key's deadline, though the day had 25 hours and the 00:00→04:00 gap 5.
    expect(done.filter((d) => d.late)).toEqual([]);
    expect(status.jobs.map((j) => [j.name, j.deadlineMisses, j.freshness.stale])).toEqual([
      ['today', 0, 0],
      ['week', 0, 0],
      ['month', 0, 0],
    ]);
    // "today" (every 15 min) fires on through the repeated hour: its key is fetched every 15 min.
    const today = arrivals.filter((a) => a.key === 't:0').map((a) => a.at);
    expect(today.slice(1).every((at, i) => at - today[i]! === 15 * MIN)).toBe(true);
  });
});
