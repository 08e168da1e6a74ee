// Scale-out cost and budget exactness on BullMQ. Reproduce:
//   pnpm build && node bench/bullmq-queue.mjs
// 1. Tasks/s and added latency per task through the engine with the BullMQ queue on Redis and on
//    PostgreSQL, against the in-process memory queue (the reference) in the same run.
// 2. BullMQ's built-in worker limiter (a fixed window) against tidesync's shared sliding-window
//    limiter: the most granted in any window, as a multiple of the limit (the reference is 1.00×).
// Needs Redis and PostgreSQL (TEST_REDIS_URL / TEST_DATABASE_URL, defaults to the local servers);
// a row whose server does not answer says so instead of failing the run.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createMemoryQueue, maxInAnyWindow } from '../packages/core/dist/index.js';
import { connect, createBullMQQueue, createSharedRateLimiter } from '../packages/adapter-bullmq/dist/index.js';
import { timeEngine } from './engine-overhead.mjs';
import { fmt, isMain, table } from './lib.mjs';

const require = createRequire(new URL('../packages/adapter-bullmq/package.json', import.meta.url));
const { Queue, Worker } = require('bullmq');
const { Redis } = require('ioredis');
const pg = require('pg');

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const THROUGHPUT_TASKS = 2_000;
const SERIAL_TASKS = 200;
const CONCURRENCY = 16;


/** A fresh namespace on a backend, and how to remove it afterwards. */
function namespace(kind) {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const backends = [];
  return {
    open() {
      const b = kind === 'redis' ? connect({ redis: REDIS_URL, prefix: ns }) : connect({ postgres: DATABASE_URL, schema: ns });
      backends.push(b);
      return b;
    },
    async drop() {
      for (const b of backends) await b.close();
      if (kind === 'redis') {
        const redis = new Redis(REDIS_URL);
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
        await redis.quit();
      } else {
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${ns}" CASCADE`);
        await client.end();
      }
    },
  };
}

/** Time for `tasks` keys planned by one trigger to be fetched and written, on a queue from `makeQueue`. */
const throughput = (makeQueue, tasks, concurrency) => timeEngine({ queue: makeQueue(), tasks, concurrency });

async function row(label, kind) {
  if (kind === 'memory') {
    await throughput(() => createMemoryQueue(), 20_000, CONCURRENCY); // warm-up
    const parallelMs = await throughput(() => createMemoryQueue(), 20_000, CONCURRENCY);
    const serialMs = await throughput(() => createMemoryQueue(), SERIAL_TASKS, 1);
    return { label, rate: (20_000 / parallelMs) * 1000, perTask: serialMs / SERIAL_TASKS };
  }
  const ns = namespace(kind);
  try {
    const probe = ns.open();
    const queue = () => createBullMQQueue(probe, { name: `q${randomBytes(3).toString('hex')}` });
    await throughput(queue, 200, CONCURRENCY); // warm-up: connections, migrations
    const parallelMs = await throughput(queue, THROUGHPUT_TASKS, CONCURRENCY);
    const serialMs = await throughput(queue, SERIAL_TASKS, 1);
    return { label, rate: (THROUGHPUT_TASKS / parallelMs) * 1000, perTask: serialMs / SERIAL_TASKS };
  } catch (err) {
    return { label, error: `not measured: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    await ns.drop().catch(() => {});
  }
}

/** Start times of a backlog processed under BullMQ's worker limiter (fixed windows). */
async function builtInLimiter(limit, windowMs, jobs) {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const redisOptions = (() => {
    const u = new URL(REDIS_URL);
    return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
  })();
  const queue = new Queue('limited', { connection: redisOptions, prefix: ns });
  await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'j', data: { i }, opts: { removeOnComplete: true } })));
  const starts = [];
  let resolve;
  const finished = new Promise((r) => (resolve = r));
  const worker = new Worker(
    'limited',
    async () => {
      starts.push(Date.now());
      if (starts.length === jobs) resolve();
    },
    { connection: redisOptions, prefix: ns, concurrency: limit, limiter: { max: limit, duration: windowMs } },
  );
  await finished;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return starts.map((at) => ({ at, cost: 1 }));
}

/** Grant times of the same backlog through the shared sliding-window limiter. */
async function sharedLimiter(limit, windowMs, acquires) {
  const ns = namespace('redis');
  try {
    // The default 250 ms margin, as the engine runs it: grants are recorded at Redis' clock and
    // reach the host a little unevenly, which the margin absorbs (the partner sees host timing).
    const limiter = createSharedRateLimiter(ns.open(), { name: 'bench', limit, windowMs });
    const grants = [];
    await Promise.all(Array.from({ length: acquires }, () => limiter.acquire(1).then(() => grants.push({ at: Date.now(), cost: 1 }))));
    await limiter.close();
    return grants;
  } finally {
    await ns.drop().catch(() => {});
  }
}

export async function run() {
  const rows = [];
  for (const [label, kind] of [
    ['in-process memory queue (reference)', 'memory'],
    ['BullMQ on Redis', 'redis'],
    ['BullMQ on PostgreSQL', 'postgres'],
  ]) {
    rows.push(await row(label, kind));
  }
  const ref = rows[0];
  const throughputTable = table(
    ['queue', 'tasks/s (concurrency 16)', 'vs reference', 'time per task, one at a time', 'added per task'],
    rows.map((r) =>
      r.error
        ? [r.label, r.error, '', '', '']
        : [r.label, fmt.int(r.rate), fmt.ratio(r.rate / ref.rate), fmt.ms(r.perTask, 2), r === ref ? '—' : fmt.ms(r.perTask - ref.perTask, 2)],
    ),
  );

  const LIMIT = 10;
  const WINDOW = 1_000;
  const BACKLOG = 60;
  let limiterTable;
  try {
    const fixed = await builtInLimiter(LIMIT, WINDOW, BACKLOG);
    const exact = await sharedLimiter(LIMIT, WINDOW, BACKLOG);
    const span = (g) => (g.at(-1).at - g[0].at) / 1000;
    limiterTable = table(
      ['limiter', 'most granted in any 1 s window', 'vs limit (reference 1.00×)', 'granted per second over the run'],
      [
        ["BullMQ worker limiter { max: 10, duration: 1000 } (fixed window)", String(maxInAnyWindow(fixed, WINDOW)), fmt.ratio(maxInAnyWindow(fixed, WINDOW) / LIMIT, 2), (BACKLOG / span(fixed)).toFixed(1)],
        ['tidesync shared limiter (sliding window, default 250 ms margin)', String(maxInAnyWindow(exact, WINDOW)), fmt.ratio(maxInAnyWindow(exact, WINDOW) / LIMIT, 2), (BACKLOG / span(exact)).toFixed(1)],
      ],
    );
  } catch (err) {
    limiterTable = `Not measured: ${err instanceof Error ? err.message : String(err)}`;
  }

  const markdown =
    `Throughput: ${fmt.int(THROUGHPUT_TASKS)} tasks on BullMQ (20,000 in-process), planned by one trigger, instant source, memory store, no rate limit. ` +
    `"Time per task, one at a time" runs ${SERIAL_TASKS} tasks at concurrency 1; "added per task" is its difference from the in-process queue — what one task pays for the shared queue (offer, take under a lock, ack).\n\n` +
    `${throughputTable}\n\n` +
    `Budget exactness: a backlog of ${BACKLOG} jobs, limit ${LIMIT} per ${WINDOW} ms, start/grant times checked over every sliding ${WINDOW} ms window.\n\n${limiterTable}\n\n` +
    'A partner that counts a sliding window answers 429 to anything above 1.00×: that is why tidesync does not use BullMQ\'s limiter for the budget.';
  return { id: 'bullmq', title: 'Scale-out on BullMQ', command: 'pnpm build && node bench/bullmq-queue.mjs', markdown, results: { rows } };
}

if (isMain(import.meta)) {
  console.log((await run()).markdown);
  process.exit(0);
}
