import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { createSyncEngine, type JobDefinition } from '../src/index.js';
import { DAY, HOUR, MIN } from './helpers.js';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const isoDay = (at: number) => new Date(at).toISOString().slice(0, 10);

/** The inventory service's three cadences; `days` lists a product's operating weekdays. */
function inventoryJobs(products: Array<{ id: number; days?: string[] }>): JobDefinition<{ id: number; date: string }>[] {
  const horizon = (first: number, last: number) => ({ scheduledAt }: { scheduledAt: number }) => {
    const out = [];
    for (let d = first; d <= last; d++) {
      const at = scheduledAt + d * DAY;
      const date = isoDay(at);
      for (const p of products) {
        if (p.days && !p.days.includes(WEEKDAYS[new Date(at).getUTCDay()]!)) continue;
        out.push({ key: `inventory:${p.id}:${date}`, payload: { id: p.id, date } });
      }
    }
    return out;
  };
  return [
    { name: 'today', schedule: '*/15 * * * *', plan: horizon(0, 0) },
    { name: 'week', schedule: '0 */4 * * *', plan: horizon(0, 6) },
    { name: 'month', schedule: '0 0 * * *', plan: horizon(0, 29) },
  ];
}

const engineFor = (products: Array<{ id: number; days?: string[] }>) =>
  createSyncEngine({
    source: { fetch: async () => [] },
    store: createMemoryStore(),
    rateLimit: { limit: 30, windowMs: MIN },
    jobs: inventoryJobs(products),
  });

const range = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1 }));
const from = Date.UTC(2026, 10, 30); // a Monday

describe('engine.capacity()', () => {
  it('all-days products under 15 min / 4 h / 24 h need 155 requests per product per day; 30/min gives 43,200', async () => {
    const report = await engineFor(range(10)).capacity({ from });
    expect(report.budgetPerDay).toBe(43_200);
    expect(report.neededPerDay).toBe(1_550);
    expect(report.utilization).toBeCloseTo(1_550 / 43_200, 10);
    expect(report.feasible).toBe(true);
    expect(report.classes.map((c) => [c.jobs, c.freshForMs, c.neededPerDay, c.feasible])).toEqual([
      [['today'], 15 * MIN, 960, true],
      [['week'], 4 * HOUR, 360, true],
      [['month'], DAY, 230, true],
    ]);
    expect(report.distinctKeys).toBe(10 * 36);
  });

  it('counts only operating weekdays: Mon/Tue/Wed products need 3 × 155 per week', async () => {
    const report = await engineFor([{ id: 14, days: ['Mon', 'Tue', 'Wed'] }]).capacity({ from, days: 7 });
    expect(report.neededPerDay).toBeCloseTo((3 * 155) / 7, 10);
  });

  it('says which horizon misses, and by how much, when the budget is short', async () => {
    // 300 products need 46,500 a day: today and the week fit, the month gets 3,600 of its 6,900.
    const report = await engineFor(range(300)).capacity({ from, days: 2 });
    expect(report.feasible).toBe(false);
    expect(report.neededPerDay).toBe(46_500);
    const [today, week, month] = report.classes;
    expect(today).toMatchObject({ neededPerDay: 28_800, feasible: true, missByMs: 0 });
    expect(week).toMatchObject({ neededPerDay: 10_800, availablePerDay: 14_400, feasible: true });
    expect(month).toMatchObject({ neededPerDay: 6_900, availablePerDay: 3_600, feasible: false });
    expect(month!.expectedStalenessMs).toBeCloseTo((DAY * 6_900) / 3_600, 3);
    expect(month!.missByMs).toBeCloseTo(DAY * (6_900 / 3_600 - 1), 3);
  });

  it('reports a class with nothing left as starved', async () => {
    const report = await engineFor(range(450)).capacity({ from, days: 1 });
    expect(report.neededPerDay).toBe(450 * 155);
    expect(report.classes[0]).toMatchObject({ jobs: ['today'], neededPerDay: 43_200, feasible: true });
    expect(report.classes[1]).toMatchObject({ jobs: ['week'], availablePerDay: 0, feasible: false, expectedStalenessMs: Number.POSITIVE_INFINITY });
  });

  it('has no budget limit without a rate limiter', async () => {
    const engine = createSyncEngine({ source: { fetch: async () => [] }, store: createMemoryStore(), jobs: inventoryJobs(range(2)) });
    const report = await engine.capacity({ from, days: 1 });
    expect(report).toMatchObject({ budgetPerDay: Number.POSITIVE_INFINITY, feasible: true, utilization: 0, neededPerDay: 310 });
  });
});
