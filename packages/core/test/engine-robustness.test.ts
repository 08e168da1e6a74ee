import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '@tidesync/adapter-memory';
import { SyncConfigError, createCronScheduler, createMemoryQueue, createSlidingWindowLimiter, createSyncEngine, createVirtualClock, errorMessage, type QueuedTask } from '../src/index.js';
import { HOUR, MIN, SEC, keysPlan, setup } from './helpers.js';

const once = [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 1) }];

describe('engine robustness', () => {
  it("a source's own AbortError is a failure: retried with backoff, then dead-lettered, not put back forever", async () => {
    const { clock, arrivals, engine, record } = setup({
      jobs: once,
      rateLimit: { limit: 10, windowMs: MIN },
      behaviour: async () => {
        throw Object.assign(new Error('request timed out'), { name: 'AbortError' });
      },
    });
    const aborted = record('task:aborted');
    const failed = record('task:failed');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(HOUR);
    expect(aborted).toHaveLength(0);
    expect(arrivals.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(failed).toMatchObject([{ key: 'k:0', deadLettered: true }]);
    await engine.stop();
  });

  it('a thrown value no message can be made of (circular, BigInt) is still retried', async () => {
    const circular: Record<string, unknown> = { message: 'boom' };
    circular.self = circular;
    const { clock, arrivals, engine, record } = setup({
      jobs: once,
      behaviour: async (_task, ctx) => {
        throw ctx.attempt === 1 ? circular : 1n;
      },
    });
    const retried = record('task:retry');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(10 * MIN);
    expect(retried.length).toBeGreaterThanOrEqual(2);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(errorMessage(1n)).toBe('1');
    expect(errorMessage(circular)).toBe('[object Object]');
    await engine.stop();
  });

  it('a task of a job this instance does not have is handed back, not acked unfetched', async () => {
    const queue = createMemoryQueue<{ n: number }>();
    const { clock, engine, arrivals } = setup({ queue, jobs: once });
    const foreign: QueuedTask<{ n: number }> = { key: 'other:1', scope: 'other:1', job: 'newer', payload: { n: 1 }, priority: 0, deadline: clock.now(), attempt: 1, notBefore: 0, enqueuedAt: clock.now() };
    await queue.offer([foreign]);
    await engine.start();
    await clock.advance(5 * SEC);
    expect(arrivals).toHaveLength(0);
    // Still there for an instance that has the job, after a back-off.
    expect((await queue.size()) + (await queue.inFlight())).toBe(1);
    expect(await queue.nextAvailableAt()).toBeGreaterThan(clock.now());
    await engine.stop();
  });

  it('a second stop waits for the first to finish (its drain and flush)', async () => {
    const { clock, engine, store } = setup({
      jobs: once,
      behaviour: async (task, ctx, clock) => {
        await clock.sleep(5 * SEC, ctx.signal);
        return [{ id: task.key }];
      },
    });
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    const first = engine.stop({ drainMs: 30 * SEC });
    let secondDone = false;
    const second = engine.stop().then(() => void (secondDone = true));
    await clock.advance(2 * SEC);
    expect(secondDone).toBe(false);
    await clock.advance(3 * SEC);
    await Promise.all([first, second]);
    expect(store.readScope('k:0')).toEqual([{ id: 'k:0' }]);
  });

  it("releases the store's leader lock on stop, so a standby can lead at once", async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const calls: string[] = [];
    const store = Object.assign(createMemoryStore(), {
      capabilities: {
        leaderLock: {
          acquire: async () => (calls.push('acquire'), true),
          release: async () => void calls.push('release'),
        },
      },
    });
    const engine = createSyncEngine({ source: { fetch: async () => [] }, store, clock, jobs: [{ name: 'j', schedule: '* * * * *', plan: keysPlan('k', 1) }] });
    await engine.start();
    await clock.advance(MIN);
    expect(calls).toContain('acquire');
    await engine.stop();
    expect(calls.at(-1)).toBe('release');
  });

  it('a penalty of NaN does not lift a freeze', async () => {
    const clock = createVirtualClock({ start: 0 });
    const limiter = createSlidingWindowLimiter({ limit: 10, windowMs: MIN, clock });
    limiter.penalize(30 * SEC);
    limiter.penalize(Number.NaN);
    let granted = false;
    void limiter.acquire(1).then(() => (granted = true));
    await clock.advance(29 * SEC);
    expect(granted).toBe(false);
    await clock.advance(2 * SEC);
    expect(granted).toBe(true);
  });

  it('lists every store and queue method the engine calls but the given ones lack, with the other problems', () => {
    const { readPaused: _r, listDeadLetters: _l, ...partialStore } = createMemoryStore();
    const { nextAvailableAt: _n, ...partialQueue } = createMemoryQueue();
    try {
      createSyncEngine({ source: { fetch: async () => [] }, store: partialStore as never, queue: partialQueue as never, concurrency: 0 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SyncConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/store: .*readPaused/);
      expect(message).toMatch(/store: .*listDeadLetters/);
      expect(message).toMatch(/queue: .*nextAvailableAt/);
      expect(message).toMatch(/concurrency/);
    }
  });
});

describe('plans of one job', () => {
  it('a trigger during a tick of the same job waits for it: the stale keys are planned, not swept away by both', async () => {
    const shared = Object.assign(Object.create(createMemoryQueue<{ n: number }>()), { shared: true });
    const { clock, arrivals, engine, store } = setup({ queue: shared, jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 4) }] });
    // A store that takes a second to read freshness (a busy database): the plans overlap.
    const read = store.readKeyStates.bind(store);
    store.readKeyStates = async (keys) => {
      await clock.sleep(SEC);
      return read(keys);
    };
    await engine.start();
    await clock.advance(16 * MIN); // the 00:15 tick fetched all four
    expect(arrivals).toHaveLength(4);
    await clock.advance(14 * MIN + 500); // 00:30:00.5 — the 00:30 tick is reading the store
    const triggered = engine.trigger('j');
    await clock.advance(2 * MIN);
    await triggered;
    // Stale at 00:30: fetched again, once each.
    expect(arrivals).toHaveLength(8);
    expect(new Set(arrivals.slice(4).map((a) => a.key)).size).toBe(4);
    await engine.stop();
  });
});

describe('stop and planning', () => {
  it('stop waits for a tick still planning: nothing touches the store after stopped', async () => {
    const order: string[] = [];
    const { clock, engine } = setup({
      jobs: [
        {
          name: 'j',
          schedule: '0 * * * *',
          plan: async () => {
            await clock.sleep(5 * SEC);
            order.push('planned');
            return keysPlan('k', 1)();
          },
        },
      ],
    });
    engine.on('stopped', () => void order.push('stopped'));
    await engine.start();
    const triggered = engine.trigger('j').catch(() => {});
    await clock.advance(SEC);
    const stopping = engine.stop({ drainMs: 0 });
    await clock.advance(5 * SEC);
    await stopping;
    await triggered;
    expect(order).toEqual(['planned', 'stopped']);
  });
});

describe('review round 2', () => {
  it('tasks of an unknown job back off more each time: a known job still gets the budget', async () => {
    const queue = createMemoryQueue<{ n: number }>();
    const { clock, engine, arrivals } = setup({ queue, rateLimit: { limit: 10, windowMs: MIN }, jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 10) }] });
    const now = clock.now();
    await queue.offer(
      Array.from({ length: 20 }, (_, i): QueuedTask<{ n: number }> => ({ key: `gone:${i}`, scope: `gone:${i}`, job: 'removed', payload: { n: i }, priority: -60, deadline: now, attempt: 1, notBefore: 0, enqueuedAt: now })),
    );
    await engine.start();
    await engine.trigger('j');
    await clock.advance(60 * MIN);
    expect(arrivals).toHaveLength(10);
    await engine.stop();
  });

  it('a stop step that fails is logged; the stop completes and a start can follow', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = Object.assign(createMemoryStore(), {
      capabilities: { leaderLock: { acquire: async () => true, release: async () => Promise.reject(new Error('lock backend away')) } },
    });
    const engine = createSyncEngine({ source: { fetch: async () => [] }, store, clock, jobs: [{ name: 'j', schedule: '* * * * *', plan: keysPlan('k', 1) }] });
    await engine.start();
    await clock.advance(MIN);
    await engine.stop();
    expect((await engine.status()).state).toBe('stopped');
    await engine.start();
    expect((await engine.status()).state).toBe('running');
    await engine.stop();
  });

  it('a dispatch loop a stop gave up on, when its hung call finally fails, leaves the pause to interrupt the loop started after it', async () => {
    const queue = createMemoryQueue<{ n: number }>();
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const limiter = createSlidingWindowLimiter({ limit: 1, windowMs: HOUR, safetyMarginMs: 0, clock });
    // The signal of every acquire, so the test can see whether a pause reaches the waiting one.
    const signals: AbortSignal[] = [];
    const acquire = limiter.acquire.bind(limiter);
    limiter.acquire = (cost, signal) => {
      signals.push(signal!);
      return acquire(cost, signal);
    };
    const { engine } = setup({ clock, queue, rateLimit: limiter, stopTimeoutMs: SEC, drainMs: 0, jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 3) }] });
    await engine.start();
    // The first take hangs (its backend away) and later fails with an abort, as a client torn
    // down under it does.
    const take = queue.take.bind(queue);
    let failHungTake!: () => void;
    queue.take = () => new Promise((_, reject) => (failHungTake = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
    await engine.trigger('j');
    await clock.advance(10);
    expect(failHungTake).toBeTypeOf('function');
    const stopping = engine.stop();
    await clock.advance(2 * SEC);
    await stopping;
    queue.take = take;
    await engine.start();
    await clock.advance(10);
    // The new loop took k:0 with the only grant of the hour and now waits for the next one.
    const waiting = signals[signals.length - 1]!;
    expect(waiting.aborted).toBe(false);
    failHungTake();
    await clock.advance(10);
    await engine.pause();
    expect(waiting.aborted).toBe(true);
    await engine.stop({ drainMs: 0 });
  });

  it('a stop during a start that hangs returns within drainMs + stopTimeoutMs of the call', async () => {
    const scheduler = createCronScheduler();
    const never = () => new Promise<never>(() => {});
    scheduler.start = never;
    scheduler.stop = never;
    const { clock, engine } = setup({ scheduler, drainMs: 10 * SEC, stopTimeoutMs: 10 * SEC, jobs: once });
    void engine.start();
    await clock.flush();
    let done = false;
    const stopping = engine.stop().then(() => void (done = true));
    await clock.advance(19 * SEC);
    expect(done).toBe(false);
    await clock.advance(SEC + 10);
    await stopping;
    expect(done).toBe(true);
  });
});
