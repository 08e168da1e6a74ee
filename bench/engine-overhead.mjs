// Engine overhead: tasks per second through the whole engine (memory store, instant source, no
// rate limit) against a bare p-queue loop making the same calls. Reproduce:
//   pnpm build && node bench/engine-overhead.mjs
import PQueue from '../packages/core/node_modules/p-queue/dist/index.js';
import { createSyncEngine } from '../packages/core/dist/index.js';
import { createMemoryStore } from '../packages/adapter-memory/dist/index.js';
import { fmt, isMain, table } from './lib.mjs';

const TASKS = 100_000;
const CONCURRENCY = 16;
const BATCH = 100;

const source = { fetch: async (task) => [{ id: task.key, n: task.payload }] };
const plan = () => Array.from({ length: TASKS }, (_, i) => ({ key: `k${i}`, payload: i }));

/** The same calls without the engine: plan, fetch with bounded concurrency, write in batches. */
async function bare() {
  const store = createMemoryStore();
  const queue = new PQueue({ concurrency: CONCURRENCY });
  let buffer = [];
  const started = performance.now();
  const flush = () => {
    const scopes = buffer;
    buffer = [];
    return store.write({ scopes });
  };
  for (const spec of plan()) {
    void queue.add(async () => {
      const data = await source.fetch({ key: spec.key, payload: spec.payload });
      buffer.push({ key: spec.key, scope: spec.key, job: 'j', data, fetchedAt: Date.now() });
      if (buffer.length >= BATCH) await flush();
    });
  }
  await queue.onIdle();
  await flush();
  return performance.now() - started;
}

/**
 * Milliseconds for `tasks` keys planned by one trigger to be fetched and written through the
 * engine (memory store, instant source, no rate limit). `queue` swaps the in-process queue for
 * another (the BullMQ benchmark reuses this).
 */
export async function timeEngine({ tasks = TASKS, concurrency = CONCURRENCY, queue } = {}) {
  const engine = createSyncEngine({
    source,
    store: createMemoryStore(),
    ...(queue ? { queue } : {}),
    concurrency,
    batchSize: BATCH,
    flushMs: 5,
    jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: () => Array.from({ length: tasks }, (_, i) => ({ key: `k${i}`, payload: i })) }],
  });
  let done = 0;
  let resolve;
  const finished = new Promise((r) => (resolve = r));
  engine.on('task:done', () => {
    if (++done === tasks) resolve();
  });
  await engine.start();
  const started = performance.now();
  await engine.trigger('j');
  await finished;
  const ms = performance.now() - started;
  await engine.stop();
  return ms;
}

const engine = () => timeEngine();

export async function run() {
  // Warm both paths up once so the JIT is not what is measured.
  await bare();
  await engine();
  const bareMs = await bare();
  const engineMs = await engine();
  const engineRate = (TASKS / engineMs) * 1000;
  const bareRate = (TASKS / bareMs) * 1000;
  const markdown =
    `${fmt.int(TASKS)} tasks planned by one trigger, instant source, memory store, concurrency ${CONCURRENCY}, batches of ${BATCH}, no rate limit.\n\n` +
    table(
      ['path', 'tasks/s', 'time', 'ratio to bare p-queue'],
      [
        ['bare p-queue loop (reference)', fmt.int(bareRate), fmt.ms(bareMs, 0), fmt.ratio(1)],
        ['tidesync engine', fmt.int(engineRate), fmt.ms(engineMs, 0), fmt.ratio(engineRate / bareRate)],
      ],
    ) +
    `\n\nTarget ≥ 50,000 tasks/s through the engine: **${engineRate >= 50_000 ? 'met' : 'missed'}**. The engine does per task what the bare loop does not: freshness bookkeeping, coalescing queue, deadline ordering, events and per-task state.`;
  return { id: 'overhead', title: 'Engine overhead', command: 'pnpm build && node bench/engine-overhead.mjs', markdown, results: { engineRate, bareRate } };
}

if (isMain(import.meta)) console.log((await run()).markdown);
