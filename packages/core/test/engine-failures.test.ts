import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  PermanentError,
  RateLimitedError,
  RetryableError,
  SyncConfigError,
  createMemoryQueue,
  createSyncEngine,
  createSlidingWindowLimiter,
  createVirtualClock,
  type SyncEngineOptions,
} from '../src/index.js';
import { maxInAnyWindow } from '../src/testing/index.js';
import { HOUR, MIN, SEC, keysPlan, recordingSource, setup } from './helpers.js';

/** Two keys written in one batch, straight away, through `store` and `queue`. */
const twoKeysThrough = (clock: ReturnType<typeof createVirtualClock>, store: SyncEngineOptions['store'], queue: SyncEngineOptions['queue']) =>
  createSyncEngine({
    clock,
    store,
    queue,
    flushMs: 0,
    batchSize: 10,
    retry: { attempts: 2, baseDelayMs: SEC, factor: 2, maxDelayMs: 10 * SEC, jitter: 0 },
    source: { fetch: async (task) => [{ id: task.key }] },
    jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
  });

describe('engine failures', () => {
  it.each([
    ['epoch ms', (at: number) => at],
    ['a Date', (at: number) => new Date(at)],
  ])('a 429 with a reset time (%s) freezes the whole budget until then', async (_form, given) => {
    let limited = false;
    const start = Date.UTC(2026, 10, 28);
    const reset = start + 45 * SEC;
    const { clock, arrivals, engine, record } = setup({
      rateLimit: { limit: 30, windowMs: MIN },
      behaviour: async (task, _ctx, clock) => {
        if (!limited && task.key === 'k:3') {
          limited = true;
          throw new RateLimitedError('429', given(reset));
        }
        return [{ id: task.key, at: clock.now() }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 10) }],
    });
    const penalties = record('ratelimit:penalty');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    expect(penalties).toEqual([{ key: 'k:3', until: reset }]);
    // Fetches already sent at the same instant may land; nothing is sent after the 429 until reset.
    const limitedAt = arrivals.find((a) => a.key === 'k:3')!.at;
    const later = arrivals.filter((a) => a.at > limitedAt);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((a) => a.at >= reset)).toBe(true);
    expect(arrivals.filter((a) => a.key === 'k:3')).toHaveLength(2);
    expect(new Set(arrivals.map((a) => a.key)).size).toBe(10);
    await engine.stop();
  });

  it('a reset past maxRateLimitPenaltyMs, or no number at all, freezes the budget only until the cap', async () => {
    const start = Date.UTC(2026, 10, 28);
    let limited = 0;
    const { clock, arrivals, engine, record } = setup({
      rateLimit: { limit: 30, windowMs: MIN },
      maxRateLimitPenaltyMs: 10 * MIN,
      behaviour: async (task, _ctx, clock) => {
        // Milliseconds read as seconds and worse: 30 days, no date at all, not a number, missing.
        const resets = [start + 30 * 24 * HOUR, 1e20, Number.NaN, undefined as unknown as number];
        if (task.key === 'k:1' && limited < resets.length) throw new RateLimitedError('429', resets[limited++]!);
        return [{ id: task.key, at: clock.now() }];
      },
      jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 3) }],
    });
    const penalties = record('ratelimit:penalty');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(41 * MIN);
    // Each answer freezes for 10 minutes from when it came: k:1 is asked again at each thaw.
    const k1 = arrivals.filter((a) => a.key === 'k:1').map((a) => a.at);
    expect(k1).toHaveLength(5);
    expect(penalties.map((p) => p.until)).toEqual(k1.slice(0, 4).map((at) => at + 10 * MIN));
    // The remote's reset is reported where it was a number.
    expect(penalties.map((p) => p.requested)).toEqual([start + 30 * 24 * HOUR, 1e20, undefined, undefined]);
    for (let i = 1; i < 5; i++) expect(k1[i]! - k1[i - 1]!).toBeGreaterThanOrEqual(10 * MIN);
    expect(k1[4]! - start).toBeLessThan(41 * MIN);
    expect(new Set(arrivals.map((a) => a.key))).toEqual(new Set(['k:0', 'k:1', 'k:2']));
    await engine.stop();
  });

  it('a rate limiter that cannot store the freeze does not strand the refused task', async () => {
    const start = Date.UTC(2026, 10, 28);
    const clock = createVirtualClock({ start });
    // A shared limiter whose backend is down: penalize rejects.
    const limiter = { ...createSlidingWindowLimiter({ limit: 30, windowMs: MIN, clock }), penalize: async () => Promise.reject(new Error('redis down')) };
    let limited = false;
    const { arrivals, source } = recordingSource(clock, async (task, _ctx, clock) => {
      if (!limited) {
        limited = true;
        throw new RateLimitedError('429', start + 20 * SEC);
      }
      return [{ id: task.key, at: clock.now() }];
    });
    const engine = createSyncEngine({ source, store: createMemoryStore(), clock, rateLimit: limiter, flushMs: 0, jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 1) }] });
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.where));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    expect(arrivals.map((a) => a.at)).toEqual([start, start + 20 * SEC]);
    expect(errors).toContain('rate-limit penalty');
    await engine.stop();
  });

  it('a reset already past freezes for a second, so the refused task does not go straight back', async () => {
    const start = Date.UTC(2026, 10, 28);
    let limited = 0;
    const { clock, arrivals, engine, record } = setup({
      behaviour: async (task, _ctx, clock) => {
        // Seconds read as milliseconds (1970), then a reset at this very instant.
        if (limited < 2) throw new RateLimitedError('429', limited++ === 0 ? 1_764_288_000 : clock.now());
        return [{ id: task.key, at: clock.now() }];
      },
      jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 1) }],
    });
    const penalties = record('ratelimit:penalty');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    expect(arrivals.map((a) => a.at)).toEqual([start, start + SEC, start + 2 * SEC]);
    expect(penalties).toEqual([
      { key: 'k:0', until: start + SEC, requested: 1_764_288_000 },
      { key: 'k:0', until: start + 2 * SEC, requested: start + SEC },
    ]);
    await engine.stop();
  });

  it('a reset within maxRateLimitPenaltyMs is kept as it is (the default allows an hour)', async () => {
    const start = Date.UTC(2026, 10, 28);
    let limited = false;
    const { clock, arrivals, engine, record } = setup({
      rateLimit: { limit: 30, windowMs: MIN },
      behaviour: async (task, _ctx, clock) => {
        if (!limited) {
          limited = true;
          throw new RateLimitedError('429', start + 50 * MIN);
        }
        return [{ id: task.key, at: clock.now() }];
      },
      jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 1) }],
    });
    const penalties = record('ratelimit:penalty');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(HOUR);
    expect(penalties).toEqual([{ key: 'k:0', until: start + 50 * MIN }]);
    expect(arrivals.map((a) => a.at)).toEqual([start, start + 50 * MIN]);
    await engine.stop();
  });

  it('retries 5xx and timeouts with exponential backoff, through the same budget', async () => {
    const failures = new Map<string, number>();
    const { clock, arrivals, engine, store, record } = setup({
      rateLimit: { limit: 5, windowMs: MIN },
      retry: { attempts: 5, baseDelayMs: 10 * SEC, factor: 2, maxDelayMs: 5 * MIN, jitter: 0 },
      behaviour: async (task) => {
        const n = failures.get(task.key) ?? 0;
        if (task.key === 'k:0' && n < 2) {
          failures.set(task.key, n + 1);
          throw new RetryableError(n === 0 ? 'GET /x answered 503' : 'GET /x timed out after 10000 ms');
        }
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 3) }],
    });
    const retries = record('task:retry');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(5 * MIN);
    const k0 = arrivals.filter((a) => a.key === 'k:0');
    expect(k0.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(k0[1]!.at - k0[0]!.at).toBeGreaterThanOrEqual(10 * SEC);
    expect(k0[2]!.at - k0[1]!.at).toBeGreaterThanOrEqual(20 * SEC);
    expect(retries.map((r) => r.code)).toEqual(['SOURCE_RETRYABLE', 'SOURCE_RETRYABLE']);
    expect(maxInAnyWindow(arrivals.map((a) => ({ at: a.at, cost: 1 })), MIN)).toBeLessThanOrEqual(5);
    expect((await store.readKeyStates(['k:0'])).get('k:0')).toMatchObject({ consecutiveFailures: 0 });
    expect(store.readScope('k:0')).toEqual([{ id: 'k:0' }]);
    await engine.stop();
  });

  it('dead-letters a task that exhausts its retries, and a permanent error at once', async () => {
    const { clock, engine, store, record } = setup({
      retry: { attempts: 3, baseDelayMs: SEC, factor: 2, maxDelayMs: MIN, jitter: 0 },
      behaviour: async (task) => {
        if (task.key === 'k:0') throw new RetryableError('GET /k0 answered 502');
        if (task.key === 'k:1') throw new PermanentError('GET /k1 answered 404', { status: 404 });
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 3) }],
    });
    const failed = record('task:failed');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    expect(failed.map((f) => [f.key, f.attempt, f.code])).toEqual([
      ['k:1', 1, 'SOURCE_PERMANENT'],
      ['k:0', 3, 'SOURCE_RETRYABLE'],
    ]);
    const letters = await store.listDeadLetters();
    expect(letters.map((l) => l.key).sort()).toEqual(['k:0', 'k:1']);
    const status = await engine.status();
    expect(status.deadLetters).toBe(2);
    expect(status.jobs[0]).toMatchObject({ failed: 2, deadLettered: 2, retried: 2, done: 1 });
    expect((await store.readKeyStates(['k:0'])).get('k:0')).toMatchObject({ consecutiveFailures: 3, lastError: 'GET /k0 answered 502' });
    await engine.stop();
  });

  it('never writes an invalid payload, keeps the stored data, and retries it', async () => {
    let bad = true;
    const slot = z.object({ id: z.string(), remaining: z.number().int().nonnegative() });
    const { clock, engine, store, record } = setup({
      validate: z.array(slot),
      retry: { attempts: 5, baseDelayMs: SEC, factor: 2, maxDelayMs: MIN, jitter: 0 },
      behaviour: async () => (bad ? [{ id: 'a', remaining: 3 }, { id: 'b', remaining: 'lots' }] : [{ id: 'a', remaining: 2 }]),
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 1) }],
    });
    await store.write({ scopes: [{ key: 'k:0', scope: 'k:0', job: 'j', data: [{ id: 'a', remaining: 9 }, { id: 'z', remaining: 1 }], fetchedAt: 0 }] });
    const retries = record('task:retry');
    const written = record('batch:written');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(500);
    expect(retries[0]).toMatchObject({ key: 'k:0', code: 'PAYLOAD_INVALID' });
    expect(retries[0]!.error).toMatch(/1\.remaining/);
    expect(written).toHaveLength(0);
    expect(store.readScope('k:0')).toEqual([{ id: 'a', remaining: 9 }, { id: 'z', remaining: 1 }]);
    bad = false;
    await clock.advance(MIN);
    expect(store.readScope('k:0')).toEqual([{ id: 'a', remaining: 2 }]);
    await engine.stop();
  });

  it('keeps running when the store fails, and retries the batch once it is back', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const inner = createMemoryStore();
    let down = true;
    const store = { ...inner, write: (batch: Parameters<typeof inner.write>[0]) => (down ? Promise.reject(new Error('connection refused')) : inner.write(batch)) };
    const errors: string[] = [];
    const engine = createSyncEngine({
      clock,
      store,
      flushMs: 0,
      retry: { attempts: 2, baseDelayMs: SEC, factor: 2, maxDelayMs: 10 * SEC, jitter: 0 },
      source: { fetch: async (task) => [{ id: task.key }] },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
    });
    engine.on('error', (e) => errors.push(e.where));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(30 * SEC);
    expect(errors.length).toBeGreaterThan(2);
    expect(inner.scopes().size).toBe(0);
    down = false;
    await clock.advance(30 * SEC);
    expect(inner.scopes().size).toBe(2);
    expect((await engine.status()).deadLetters).toBe(0);
    await engine.stop();
  });

  it('a scope the store rejects for its data is charged to its key: the rest of its batch is stored, and it is retried, then dead-lettered', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = createMemoryStore();
    const batches: number[] = [];
    const fetched: string[] = [];
    const engine = createSyncEngine({
      clock,
      store,
      batchSize: 3,
      flushMs: SEC,
      retry: { attempts: 3, baseDelayMs: SEC, factor: 2, maxDelayMs: 10 * SEC, jitter: 0 },
      // k:1's partner data is no rows at all: the memory store refuses it (a value a column cannot
      // hold does the same on Postgres).
      source: {
        fetch: async (task) => {
          fetched.push(task.key);
          return task.key === 'k:1' ? { not: 'rows' } : [{ id: task.key }];
        },
      },
      jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 3) }],
    });
    const failed: Array<{ key: string; code?: string; deadLettered: boolean }> = [];
    engine.on('task:failed', (e) => failed.push({ key: e.key, code: e.code, deadLettered: e.deadLettered }));
    engine.on('batch:written', (e) => batches.push(e.scopes));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    // The batch of three failed whole; the two good scopes were then stored one by one.
    expect([...store.scopes().keys()].sort()).toEqual(['k:0', 'k:2']);
    expect(batches).toEqual([1, 1]);
    // k:1 spent its three attempts (not refetched for ever, as a store that is away would be).
    expect(fetched.filter((k) => k === 'k:1')).toHaveLength(3);
    expect(failed).toEqual([{ key: 'k:1', code: 'STORE_REJECTED', deadLettered: true }]);
    const status = await engine.status();
    expect(status.deadLetters).toBe(1);
    expect(status.jobs.find((j) => j.name === 'j')).toMatchObject({ failed: 1, done: 2, deadLettered: 1 });
    await engine.stop();
  });

  it('a queue that cannot take the ack of a written batch is reported, and the tasks still count as done', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const inner = createMemoryQueue();
    let acks = 0;
    // A shared queue whose backend drops the first ack.
    const queue = { ...inner, ack: (keys: readonly string[]) => (++acks === 1 ? Promise.reject(new Error('redis down')) : inner.ack(keys)) };
    const store = createMemoryStore();
    // k:0 gave up in an earlier run: its success now clears the dead letter.
    await store.addDeadLetter({ key: 'k:0', scope: 'k:0', job: 'j', payload: { n: 0 }, attempts: 3, error: 'earlier', at: 0 });
    const engine = twoKeysThrough(clock, store, queue);
    const errors: { where: string; error: string }[] = [];
    const done: string[] = [];
    const written: number[] = [];
    engine.on('error', (e) => errors.push(e));
    engine.on('task:done', (e) => done.push(e.key));
    engine.on('batch:written', (e) => written.push(e.scopes));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    expect(errors).toEqual([{ where: 'queue ack', error: 'redis down' }]);
    expect(done.sort()).toEqual(['k:0', 'k:1']);
    expect(written.reduce((a, b) => a + b, 0)).toBe(2);
    expect(store.scopes().size).toBe(2);
    expect(await store.listDeadLetters()).toEqual([]);
    expect((await engine.status()).jobs.find((j) => j.name === 'j')!.done).toBe(2);
    await engine.stop();
  });

  it('a task handed out while an abort was on its way never starts its fetch', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const inner = createMemoryQueue();
    // A slow take (a shared queue's round trips): the task is taken, then held until released.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    const queue = {
      ...inner,
      take: async (...args: Parameters<typeof inner.take>) => {
        const tasks = await inner.take(...args);
        if (tasks.length > 0 && !holding) {
          holding = true;
          await held;
        }
        return tasks;
      },
    };
    const fetched: string[] = [];
    const engine = createSyncEngine({
      clock,
      store: createMemoryStore(),
      queue,
      source: { fetch: async (task) => (fetched.push(task.key), [{ id: task.key }]) },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 1) }],
    });
    const aborted: string[] = [];
    engine.on('task:aborted', (e) => aborted.push(e.key));
    await engine.start();
    await engine.trigger('j');
    for (let i = 0; i < 100 && !holding; i++) await clock.advance(0);
    expect(holding).toBe(true);
    await engine.pause('j', { force: true });
    release();
    await clock.advance(MIN);
    // Back in the queue, where the pause keeps it until resumed.
    expect(fetched).toEqual([]);
    expect(aborted).toEqual(['k:0']);
    await engine.resume('j');
    await clock.advance(MIN);
    expect(fetched).toEqual(['k:0']);
    await engine.stop();
  });

  it('a queue that cannot take the ack of a dead-lettered task is reported, and the task still counts as failed', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const inner = createMemoryQueue();
    const queue = { ...inner, ack: () => Promise.reject(new Error('redis down')) };
    const store = createMemoryStore();
    const engine = createSyncEngine({
      clock,
      store,
      queue,
      source: { fetch: async () => Promise.reject(new PermanentError('GET /k0 answered 404', { status: 404 })) },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 1) }],
    });
    const errors: string[] = [];
    const failed: string[] = [];
    engine.on('error', (e) => errors.push(e.where));
    engine.on('task:failed', (e) => failed.push(e.key));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    expect(errors).toEqual(['queue ack']);
    expect(failed).toEqual(['k:0']);
    expect((await store.listDeadLetters()).map((l) => l.key)).toEqual(['k:0']);
    await engine.stop();
  });

  it('a queue that refuses to take back one task of a failed batch is reported, and the others are still requeued', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const inner = createMemoryQueue();
    let retries = 0;
    const queue = { ...inner, retry: (...args: Parameters<typeof inner.retry>) => (++retries === 1 ? Promise.reject(new Error('redis down')) : inner.retry(...args)) };
    const memory = createMemoryStore();
    let down = true;
    const store = { ...memory, write: (batch: Parameters<typeof memory.write>[0]) => (down ? Promise.reject(new Error('connection refused')) : memory.write(batch)) };
    const engine = twoKeysThrough(clock, store, queue);
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.where));
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC / 2);
    down = false;
    await clock.advance(30 * SEC);
    expect(errors).toContain('store write');
    expect(errors).toContain('queue retry');
    // The task the queue refused stays with the queue (in flight); the other one was written.
    expect(memory.scopes().size).toBe(1);
    await engine.stop();
  });

  it('reports a throwing planner and keeps ticking', async () => {
    let calls = 0;
    const { clock, arrivals, engine, record } = setup({
      jobs: [
        {
          name: 'j',
          schedule: '*/15 * * * *',
          plan: () => {
            if (++calls === 1) throw new Error('product list unavailable');
            return [{ key: 'k', payload: { n: 1 } }];
          },
        },
      ],
    });
    const errors = record('error');
    await engine.start();
    await clock.advance(30 * MIN);
    expect(errors).toEqual([{ where: 'plan:j', error: 'product list unavailable' }]);
    expect(arrivals).toHaveLength(1);
    await engine.stop();
  });

  it('survives a throwing event listener', async () => {
    const { clock, arrivals, engine } = setup({ jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }] });
    engine.on('task:start', () => {
      throw new Error('listener bug');
    });
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    expect(arrivals).toHaveLength(2);
    await engine.stop();
  });
});

describe('engine options', () => {
  const base = (): SyncEngineOptions => ({
    source: { fetch: async () => [] },
    store: createMemoryStore(),
    jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: () => [] }],
  });
  const issuesOf = (options: unknown): string[] => {
    try {
      createSyncEngine(options as SyncEngineOptions);
    } catch (err) {
      expect(err).toBeInstanceOf(SyncConfigError);
      expect((err as SyncConfigError).code).toBe('CONFIG_INVALID');
      return (err as SyncConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error('expected a SyncConfigError');
  };

  it('lists every problem at once, each naming its field', () => {
    const issues = issuesOf({ concurrency: 0, batchSize: 'ten', timezone: 'Mars/Olympus' });
    expect(issues.some((i) => i.startsWith('source:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('store:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('concurrency:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('batchSize:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('timezone:') && i.includes('time zone'))).toBe(true);
  });

  it('names a bad cron, a bad job time zone, a bad job name and duplicates', () => {
    const issues = issuesOf({
      ...base(),
      jobs: [
        { name: 'a', schedule: '61 * * * *', plan: () => [] },
        { name: 'b', schedule: '* * *', plan: () => [] },
        { name: 'c', schedule: '0 * * * *', timezone: 'Nowhere/Land', plan: () => [] },
        { name: 'has space', schedule: '0 * * * *', plan: () => [] },
        { name: 'a', schedule: '0 * * * *', plan: () => [] },
        { name: 'd', schedule: '0 * * * *' },
      ],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^jobs\.0\.schedule: invalid cron "61 \* \* \* \*"/),
        expect.stringMatching(/^jobs\.1\.schedule: invalid cron "\* \* \*" in UTC: expected 5 or 6 fields/),
        expect.stringMatching(/^jobs\.2\.timezone: unknown IANA time zone/),
        expect.stringMatching(/^jobs\.3\.name:/),
        expect.stringMatching(/^jobs\.4\.name: duplicate job name "a"/),
        expect.stringMatching(/^jobs\.5\.plan: expected a plan\(tick\) function/),
      ]),
    );
  });

  it('names bad retry, rate limit and leadership options', () => {
    const issues = issuesOf({ ...base(), retry: { attempts: 0, jitter: 2 }, rateLimit: { limit: -1, windowMs: 60_000 }, leadership: true });
    expect(issues.some((i) => i.startsWith('retry.attempts:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('retry.jitter:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('rateLimit'))).toBe(true);
    expect(issues.some((i) => i.startsWith('leadership'))).toBe(true);
  });

  it('names each bad field of the rate limit numbers, and a limiter missing its methods', () => {
    const numbers = issuesOf({ ...base(), rateLimit: { limit: 0, windowMs: 1.5, safetyMarginMs: -1 } });
    expect(numbers).toEqual([
      expect.stringMatching(/^rateLimit\.limit: /),
      expect.stringMatching(/^rateLimit\.windowMs: /),
      expect.stringMatching(/^rateLimit\.safetyMarginMs: /),
    ]);
    const limiter = issuesOf({ ...base(), rateLimit: { acquire: async () => {} } });
    expect(limiter).toEqual([expect.stringMatching(/^rateLimit: expected a RateLimiter with methods acquire, penalize, usage/)]);
  });

  it('rejects unknown keys (a misspelt option would otherwise run with its default)', () => {
    const issues = issuesOf({
      ...base(),
      concurency: 2,
      retry: { attempts: 3, basedelayMs: 10 },
      rateLimit: { limit: 30, windowMs: 60_000, margin: 5 },
      jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: () => [], freshfor: 60_000 }],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^: Unrecognized key.*"concurency"/),
        expect.stringMatching(/^retry: Unrecognized key.*"basedelayMs"/),
        expect.stringMatching(/^rateLimit: Unrecognized key.*"margin"/),
        expect.stringMatching(/^jobs\.0: Unrecognized key.*"freshfor"/),
      ]),
    );
    expect(issues).toHaveLength(4);
  });

  it('rejects a job added later with the same typed error, and an unknown job name on control calls', async () => {
    const engine = createSyncEngine(base());
    expect(() => engine.addJob({ name: 'x', schedule: 'every day', plan: () => [] })).toThrow(SyncConfigError);
    await expect(engine.pause('nope')).rejects.toThrow(/unknown job "nope"/);
    await expect(engine.trigger('nope')).rejects.toThrow(/unknown job/);
  });

  it('derives freshness and priority from the cron, tighter targets first', async () => {
    const engine = createSyncEngine({
      ...base(),
      jobs: [
        { name: 'today', schedule: '*/15 * * * *', plan: () => [] },
        { name: 'week', schedule: '0 */4 * * *', plan: () => [] },
        { name: 'seconds', schedule: '*/10 * * * * *', plan: () => [] },
        { name: 'custom', schedule: '0 0 * * *', freshFor: HOUR, priority: 5, plan: () => [] },
      ],
    });
    const jobs = (await engine.status()).jobs.map((j) => [j.name, j.freshForMs, j.priority]);
    expect(jobs).toEqual([
      ['today', 15 * MIN, -900],
      ['week', 4 * HOUR, -14_400],
      ['seconds', 10 * SEC, -10],
      ['custom', HOUR, 5],
    ]);
  });
});
