// Memory under cron storms: 450 products × 31 dates, 20 ticks of every cadence while paused —
// the queue must stay at distinct keys, and the heap must not grow with the number of ticks.
// Reproduce: pnpm build && node --expose-gc bench/memory-storm.mjs
import { createSyncEngine, createVirtualClock } from '../packages/core/dist/index.js';
import { createMemoryStore } from '../packages/adapter-memory/dist/index.js';
import { fmt, isMain, table } from './lib.mjs';

const PRODUCTS = 450;
const DATES = 31;
const TICKS = 20;

const heap = () => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};

export async function run() {
  const clock = createVirtualClock({ start: Date.UTC(2026, 11, 1) });
  const plan = (from, to) => () => {
    const out = [];
    for (let d = from; d <= to; d++) for (let p = 0; p < PRODUCTS; p++) out.push({ key: `inventory:${p}:${d}`, payload: { p, d } });
    return out;
  };
  const engine = createSyncEngine({
    clock,
    store: createMemoryStore(),
    source: { fetch: async () => [] },
    rateLimit: { limit: 30, windowMs: 60_000 },
    jobs: [
      { name: 'today', schedule: '*/15 * * * *', plan: plan(0, 0) },
      { name: 'week', schedule: '0 */4 * * *', plan: plan(1, 7) },
      { name: 'month', schedule: '0 0 * * *', plan: plan(1, 30) },
    ],
  });
  await engine.start();
  await engine.pause();
  const before = heap();
  const sizes = [];
  for (let tick = 0; tick < TICKS; tick++) {
    await engine.trigger(undefined, { force: true });
    const status = await engine.status();
    sizes.push(status.jobs.reduce((n, j) => n + j.queued, 0));
  }
  const afterStorm = heap();
  // And the same again: growth must not depend on how many ticks have fired.
  for (let tick = 0; tick < TICKS; tick++) await engine.trigger(undefined, { force: true });
  const afterTwice = heap();
  await engine.stop({ drainMs: 0 });
  const distinct = PRODUCTS * DATES;
  const maxQueue = Math.max(...sizes);
  const growth = afterStorm - before;
  const secondGrowth = afterTwice - afterStorm;
  const markdown =
    `${PRODUCTS} products × ${DATES} dates = ${fmt.int(distinct)} distinct keys; ${TICKS} ticks of each of the three cadences (${TICKS * 3} plans, ${fmt.int(TICKS * PRODUCTS * (1 + 7 + 30))} offers) while paused, then ${TICKS} × 3 more. Heap measured after a forced GC${globalThis.gc ? '' : ' (run without --expose-gc: figures include garbage)'}.\n\n` +
    table(
      ['measure', 'value', 'reference', 'ratio'],
      [
        ['largest queue size', fmt.int(maxQueue), `${fmt.int(distinct)} distinct keys`, fmt.ratio(maxQueue / distinct)],
        ['heap growth over the first storm', fmt.mb(growth), '50 MB target', fmt.ratio(growth / (50 * 1024 * 1024))],
        ['heap growth over a second storm', fmt.mb(secondGrowth), 'first storm', fmt.ratio(secondGrowth / Math.max(1, growth))],
      ],
    ) +
    `\n\nTargets — queue ≤ distinct keys and heap growth < 50 MB: **${maxQueue <= distinct && growth < 50 * 1024 * 1024 ? 'met' : 'missed'}**.`;
  return { id: 'memory', title: 'Memory under cron storms', command: 'pnpm build && node --expose-gc bench/memory-storm.mjs', markdown, results: { maxQueue, distinct, growth, secondGrowth } };
}

if (isMain(import.meta)) console.log((await run()).markdown);
