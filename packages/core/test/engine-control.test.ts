import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { AbortedError, createCronScheduler, createMemoryQueue, createSyncEngine, createVirtualClock } from '../src/index.js';
import { maxInAnyWindow } from '../src/testing/index.js';
import { HOUR, MIN, SEC, keysPlan, recordingSource, setup } from './helpers.js';

/** A fetch that takes `ms` on the virtual clock and honours its signal. */
const slow = (ms: number) => async (_task: unknown, ctx: { signal: AbortSignal }, clock: { sleep(ms: number, s?: AbortSignal): Promise<void> }) => {
  await clock.sleep(ms, ctx.signal);
  return [];
};

describe('engine control', () => {
  it('pause stops handing out work, resume really restarts it', async () => {
    const { clock, arrivals, engine, store } = setup({
      jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 4) }],
    });
    await engine.start();
    await clock.advance(15 * MIN);
    expect(arrivals).toHaveLength(4);
    await engine.pause();
    expect(await store.readPaused()).toEqual(['*']);
    await clock.advance(HOUR);
    expect(arrivals).toHaveLength(4);
    expect((await engine.status()).paused).toBe(true);
    await engine.resume();
    await clock.advance(SEC);
    expect(arrivals).toHaveLength(8);
    await clock.advance(15 * MIN);
    expect(arrivals).toHaveLength(12);
    await engine.stop();
  });

  it('pauses one job while the others go on', async () => {
    const { clock, arrivals, engine } = setup({
      jobs: [
        { name: 'a', schedule: '*/15 * * * *', plan: keysPlan('a', 2) },
        { name: 'b', schedule: '*/15 * * * *', plan: keysPlan('b', 2) },
      ],
    });
    await engine.start();
    await engine.pause('a');
    await clock.advance(30 * MIN);
    expect(arrivals.every((a) => a.key.startsWith('b'))).toBe(true);
    expect(arrivals).toHaveLength(4);
    const status = await engine.status();
    expect(status.jobs.find((j) => j.name === 'a')).toMatchObject({ paused: true, queued: 2 });
    await engine.resume('a');
    await clock.advance(SEC);
    expect(arrivals.filter((a) => a.key.startsWith('a'))).toHaveLength(2);
    await engine.stop();
  });

  it('a restart follows the store: resumed elsewhere while stopped, it is not paused any more', async () => {
    const { clock, arrivals, engine, store } = setup({ jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }] });
    await engine.start();
    await engine.pause();
    await engine.stop();
    // Another instance on the same store resumed meanwhile.
    await store.writePaused('*', false);
    await engine.start();
    expect((await engine.status()).paused).toBe(false);
    await engine.trigger('j');
    await clock.advance(MIN);
    expect(arrivals).toHaveLength(2);
    await engine.stop();
  });

  it('a paused engine stays paused after a restart', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = createMemoryStore();
    const { arrivals, source } = recordingSource(clock);
    const jobs = [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 1) }];
    const first = createSyncEngine({ source, store, clock, jobs });
    await first.start();
    await first.pause();
    await first.stop();
    const second = createSyncEngine({ source, store, clock, jobs });
    await second.start();
    await clock.advance(HOUR);
    expect(arrivals).toHaveLength(0);
    expect((await second.status()).paused).toBe(true);
    await second.resume();
    await clock.advance(SEC);
    expect(arrivals).toHaveLength(1);
    await second.stop();
  });

  it('forced pause aborts in-flight fetches through their signal; they run again on resume', async () => {
    const signals: AbortSignal[] = [];
    const { clock, arrivals, engine, record } = setup({
      behaviour: async (task, ctx, clock) => {
        signals.push(ctx.signal);
        await clock.sleep(10 * MIN, ctx.signal);
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
    });
    const aborted = record('task:aborted');
    const done = record('task:done');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    expect((await engine.status()).jobs[0]!.inFlight).toBe(2);
    await engine.pause(undefined, { force: true });
    await clock.flush();
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(aborted).toHaveLength(2);
    await clock.advance(HOUR - 2 * SEC);
    expect(arrivals).toHaveLength(2);
    await engine.resume();
    await clock.advance(11 * MIN);
    expect(done.map((d) => d.key).sort()).toEqual(['k:0', 'k:1']);
    await engine.stop();
  });

  it('two starts at once start it once, and a stop during a start stops what the start began', async () => {
    const { clock, arrivals, engine, record } = setup({
      jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 2), runOnStart: true }],
    });
    const started = record('started');
    const stoppedEvents = record('stopped');
    await Promise.all([engine.start(), engine.start()]);
    expect(started).toHaveLength(1);
    await engine.stop();
    // Stop asked while the start still reads the store: the start stops there, the engine stays down.
    const starting = engine.start();
    const stopping = engine.stop();
    await Promise.all([starting, stopping]);
    expect(started).toHaveLength(1);
    expect(stoppedEvents).toHaveLength(1);
    expect((await engine.status()).state).not.toBe('running');
    const before = arrivals.length;
    await clock.advance(HOUR);
    expect(arrivals).toHaveLength(before);
  });

  it('a stop during a start hung on its store returns after drainMs, and the start, once it moves on, leaves the engine down', async () => {
    const { clock, arrivals, engine, store } = setup({
      drainMs: 5 * SEC,
      jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 2), runOnStart: true }],
    });
    let release!: () => void;
    const listDeadLetters = store.listDeadLetters.bind(store);
    store.listDeadLetters = () => new Promise((resolve) => (release = () => resolve(listDeadLetters())));
    const starting = engine.start();
    await clock.flush();
    let stopDone = false;
    const stopping = engine.stop().then(() => void (stopDone = true));
    await clock.advance(4 * SEC);
    expect(stopDone).toBe(false);
    await clock.advance(2 * SEC);
    await stopping;
    expect(stopDone).toBe(true);
    release(); // the store answers at last
    await starting;
    expect((await engine.status()).state).not.toBe('running');
    await clock.advance(HOUR);
    expect(arrivals).toHaveLength(0);
  });

  it('a pause the store cannot save still takes effect whole, and says it is not stored', async () => {
    const { clock, arrivals, engine, store, record } = setup({
      behaviour: slow(10 * MIN),
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
    });
    const paused = record('paused');
    const aborted = record('task:aborted');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    const writePaused = store.writePaused.bind(store);
    store.writePaused = async () => {
      throw new Error('database unavailable');
    };
    await expect(engine.pause(undefined, { force: true })).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: expect.stringMatching(/^paused every job on this instance, but the store could not save it: database unavailable/),
    });
    await clock.flush();
    // In effect all the same: paused, in-flight fetches aborted, the event out.
    expect((await engine.status()).paused).toBe(true);
    expect(aborted).toHaveLength(2);
    expect(paused).toHaveLength(1);
    await clock.advance(HOUR);
    expect(arrivals).toHaveLength(2);
    await expect(engine.resume()).rejects.toMatchObject({ code: 'STORE_FAILED', message: expect.stringMatching(/^resumed every job on this instance/) });
    expect((await engine.status()).paused).toBe(false);
    await clock.advance(11 * MIN);
    expect(arrivals.length).toBeGreaterThan(2); // the resume woke the dispatcher
    store.writePaused = writePaused;
    await engine.stop();
  });

  it('abort() cancels in-flight fetches of one job and re-queues them', async () => {
    const { clock, arrivals, engine } = setup({
      behaviour: slow(5 * MIN),
      jobs: [
        { name: 'a', schedule: '0 * * * *', plan: keysPlan('a', 1) },
        { name: 'b', schedule: '0 * * * *', plan: keysPlan('b', 1) },
      ],
    });
    await engine.start();
    await engine.trigger();
    await clock.advance(SEC);
    expect(await engine.abort('a')).toBe(1);
    await clock.advance(SEC);
    // a:0 was re-queued and fetched again at once; b:0 was never interrupted.
    expect(arrivals.map((a) => a.key).sort()).toEqual(['a:0', 'a:0', 'b:0']);
    const stopping = engine.stop({ drainMs: 10 * MIN });
    await clock.advance(5 * MIN);
    await stopping;
    expect(arrivals).toHaveLength(3);
  });

  it('stop drains: in-flight fetches finish within drainMs and are written; slower ones are aborted', async () => {
    const { clock, engine, store, record } = setup({
      behaviour: async (task, ctx, clock) => {
        await clock.sleep(task.key === 'k:0' ? 5 * SEC : 5 * MIN, ctx.signal);
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
    });
    const stopped = record('stopped');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    const stopping = engine.stop({ drainMs: 30 * SEC });
    await clock.advance(30 * SEC);
    await stopping;
    expect(store.readScope('k:0')).toEqual([{ id: 'k:0' }]);
    expect(store.readScope('k:1')).toEqual([]);
    expect(stopped).toEqual([{ at: Date.UTC(2026, 10, 28) + 31 * SEC, aborted: 1 }]);
    expect((await engine.status()).state).toBe('stopped');
  });

  it('stop returns within drainMs + stopTimeoutMs when the queue and scheduler stop answering, naming what it gave up on', async () => {
    // A shared queue whose server went away: every call from now on waits for good.
    const queue = createMemoryQueue<{ n: number }>();
    const scheduler = createCronScheduler();
    const { clock, engine, store, record } = setup({
      queue,
      scheduler,
      drainMs: 5 * SEC,
      stopTimeoutMs: 3 * SEC,
      behaviour: async (task, ctx, clock) => {
        await clock.sleep(MIN, ctx.signal);
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 2) }],
    });
    const stopped = record('stopped');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    const never = () => new Promise<never>(() => {});
    for (const method of ['ack', 'retry', 'take', 'nextAvailableAt', 'offer'] as const) queue[method] = never;
    scheduler.stop = never;
    let stopDone = false;
    const stopping = engine.stop().then(() => void (stopDone = true));
    await clock.advance(7 * SEC);
    expect(stopDone).toBe(false);
    await clock.advance(SEC + 1);
    await stopping;
    // Both fetches aborted; their retry and the scheduler never answered. The dispatcher ended.
    expect(stopped).toEqual([{ at: expect.any(Number), aborted: 2, unfinished: ['scheduler stop', 'aborted fetches'] }]);
    expect(stopped[0]!.at).toBeLessThanOrEqual(Date.UTC(2026, 10, 28) + 9 * SEC + 1);
    expect((await engine.status()).state).toBe('stopped');
    expect(store.readScope('k:0')).toEqual([]);
  });

  it('stopped and started again, it fetches under the same rate limit', async () => {
    const { clock, arrivals, engine } = setup({
      rateLimit: { limit: 2, windowMs: SEC },
      jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 10) }],
    });
    await engine.start();
    await engine.trigger('j');
    await clock.advance(10);
    // Stopped while fetches wait for the budget (the engine closes the limiter it built)…
    await engine.stop({ drainMs: 0 });
    expect(arrivals).toHaveLength(2);
    await engine.start();
    await engine.trigger('j');
    await clock.advance(MIN);
    // …and after the restart the rest are fetched, two a second as before.
    expect(new Set(arrivals.map((a) => a.key)).size).toBe(10);
    expect((await engine.status()).jobs[0]!.queued).toBe(0);
    expect(maxInAnyWindow(arrivals.map((a) => ({ at: a.at, cost: 1 })), SEC)).toBeLessThanOrEqual(2);
    await engine.stop();
  });

  it('restarted on the same store, it does not refetch what is still fresh', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = createMemoryStore();
    const { arrivals, source } = recordingSource(clock);
    const jobs = [{ name: 'j', schedule: '0 */4 * * *', runOnStart: true, plan: keysPlan('k', 50) }];
    const first = createSyncEngine({ source, store, clock, jobs, flushMs: 0 });
    await first.start();
    await clock.advance(MIN);
    await first.stop();
    expect(arrivals).toHaveLength(50);
    await clock.advance(HOUR);
    const second = createSyncEngine({ source, store, clock, jobs, flushMs: 0 });
    await second.start();
    await clock.advance(MIN);
    expect(arrivals).toHaveLength(50);
    // At the 04:00 tick they are due again.
    await clock.advanceTo(Date.UTC(2026, 10, 28, 4, 1));
    expect(arrivals).toHaveLength(100);
    await second.stop();
  });

  it('two keys of one scope written in one batch: both keep their freshness across a restart', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = createMemoryStore();
    const { arrivals, source } = recordingSource(clock);
    const jobs = [{ name: 'j', schedule: '0 0 * * *', plan: () => [{ key: 'a', scope: 'S', payload: 1 }, { key: 'b', scope: 'S', payload: 2 }] }];
    const first = createSyncEngine({ source, store, clock, jobs, flushMs: 0, batchSize: 10 });
    await first.start();
    await first.trigger('j');
    await clock.advance(SEC);
    await first.stop();
    expect(arrivals.map((a) => a.key).sort()).toEqual(['a', 'b']);
    expect([...(await store.readKeyStates(['a', 'b'])).keys()].sort()).toEqual(['a', 'b']);
    const second = createSyncEngine({ source, store, clock, jobs, flushMs: 0, batchSize: 10 });
    await second.start();
    await second.trigger('j', { force: false });
    await clock.advance(SEC);
    expect(arrivals).toHaveLength(2);
    await second.stop();
  });

  it('trigger({ forget }) refetches the keys it picks as never fetched: due at once, never late', async () => {
    // Two requests a minute: what is fetched first shows what the queue put first.
    const { clock, arrivals, engine } = setup({
      rateLimit: { limit: 2, windowMs: MIN },
      jobs: [{ name: 'j', schedule: '0 0 * * *', runOnStart: true, plan: keysPlan('k', 10) }],
    });
    await engine.start();
    await clock.advance(6 * MIN);
    expect(arrivals).toHaveLength(10);

    // Fresh keys are left alone unless picked…
    await engine.trigger('j', { force: false, forget: (key) => key === 'k:3' || key === 'k:7' });
    await clock.advance(2 * MIN);
    expect(arrivals.slice(10).map((a) => a.key).sort()).toEqual(['k:3', 'k:7']);
    // …and a forgotten key goes ahead of forced ones, which keep their deadlines (a day away).
    await engine.trigger('j', { force: true, forget: (key) => key === 'k:9' });
    await clock.advance(MIN);
    expect(arrivals[12]!.key).toBe('k:9');
    await clock.advance(10 * MIN);
    expect(arrivals).toHaveLength(22);
    expect((await engine.status()).jobs[0]!.deadlineMisses).toBe(0);
    await engine.stop();
  });

  it('trigger({ forget }) of a key being fetched fetches it again once that fetch is written (it may predate the data going)', async () => {
    // k:0's first fetch answers what the source knew before the record was added back ([]), and
    // its write waits for the batch; the record is added back meanwhile and the key forgotten.
    let addedBack = false;
    const { clock, arrivals, engine, store } = setup({
      flushMs: 5 * SEC,
      batchSize: 10,
      behaviour: async (task, _ctx, c) => (task.key === 'k:0' && !addedBack ? [] : [{ id: task.key, value: c.now() }]),
      jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 2) }],
    });
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    expect(arrivals.map((a) => a.key).sort()).toEqual(['k:0', 'k:1']);
    addedBack = true;
    await engine.trigger('j', { force: false, forget: (key) => key === 'k:0' });
    await clock.advance(10 * SEC);
    // Fetched once more, after the first write: the stale [] is replaced by what is there now.
    expect(arrivals.map((a) => a.key).sort()).toEqual(['k:0', 'k:0', 'k:1']);
    expect(store.readScope('k:0')).toHaveLength(1);
    // A key not being fetched when forgotten is fetched once, as before.
    await engine.trigger('j', { force: false, forget: (key) => key === 'k:1' });
    await clock.advance(10 * SEC);
    expect(arrivals.filter((a) => a.key === 'k:1')).toHaveLength(2);
    await engine.stop();
  });

  it('trigger({ forget }) forgets a key once, however many jobs cover it', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const { arrivals, source } = recordingSource(clock);
    const engine = createSyncEngine({
      source,
      store: createMemoryStore(),
      clock,
      flushMs: 0,
      jobs: [
        { name: 'week', schedule: '0 0 * * *', plan: keysPlan('k', 3) },
        // Plans slowly (longer than the dispatcher waits for planning): the refetch the first job caused lands meanwhile.
        { name: 'month', schedule: '0 0 * * *', plan: async () => (await clock.sleep(3 * SEC), keysPlan('k', 3)({} as never)) },
      ],
    });
    await engine.start();
    // A trigger returns once every job has planned, and "month" plans on the virtual clock.
    const first = engine.trigger(undefined, { force: false });
    await clock.advance(10 * SEC);
    await first;
    expect(arrivals).toHaveLength(3);
    const second = engine.trigger(undefined, { force: false, forget: (key) => key === 'k:1' });
    await clock.advance(10 * SEC);
    await second;
    expect(arrivals.slice(3).map((a) => a.key)).toEqual(['k:1']);
    await engine.stop();
  });

  it('trigger({ forget }) persists the forgetting: a restart before the refetch still finds the keys due', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const store = createMemoryStore();
    const { arrivals, source } = recordingSource(clock);
    const jobs = [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 3) }];
    const first = createSyncEngine({ source, store, clock, jobs, flushMs: 0 });
    await first.start();
    await first.trigger('j');
    await clock.advance(SEC);
    expect(arrivals).toHaveLength(3);
    // Paused: the forgotten key is planned but not fetched before the process goes away.
    await first.pause();
    await first.trigger('j', { force: false, forget: (key) => key === 'k:1' });
    await first.stop();
    expect((await store.readKeyStates(['k:0', 'k:1'])).get('k:1')?.lastSuccessAt).toBeUndefined();
    expect((await store.readKeyStates(['k:0'])).get('k:0')?.lastSuccessAt).toBeDefined();
    await store.writePaused('*', false);
    const second = createSyncEngine({ source, store, clock, jobs, flushMs: 0 });
    await second.start();
    await second.trigger('j', { force: false });
    await clock.advance(SEC);
    expect(arrivals.slice(3).map((a) => a.key)).toEqual(['k:1']);
    await second.stop();
  });

  it('reports status per job', async () => {
    const { clock, engine } = setup({
      rateLimit: { limit: 10, windowMs: MIN },
      jobs: [{ name: 'today', schedule: '*/15 * * * *', plan: keysPlan('k', 15) }],
    });
    await engine.start();
    await clock.advance(15 * MIN + 10 * SEC);
    const status = await engine.status();
    expect(status.state).toBe('running');
    expect(status.budget).toMatchObject({ limit: 10, windowMs: MIN, used: 10, waiting: 1 });
    expect(status.jobs).toEqual([
      expect.objectContaining({
        name: 'today',
        schedule: '*/15 * * * *',
        timezone: 'UTC',
        freshForMs: 15 * MIN,
        paused: false,
        nextTickAt: Date.UTC(2026, 10, 28, 0, 30),
        lastTickAt: Date.UTC(2026, 10, 28, 0, 15),
        queued: 5,
        done: 10,
        failed: 0,
        deadLettered: 0,
        freshness: { keys: 15, stale: 5, lagMs: 10 * SEC },
      }),
    ]);
    await engine.stop();
  });

  it('rejects the aborted acquire of a stopped engine without leaking a fetch', async () => {
    const { clock, arrivals, engine } = setup({
      rateLimit: { limit: 1, windowMs: HOUR },
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 3) }],
    });
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    await engine.stop();
    await clock.advance(2 * HOUR);
    expect(arrivals).toHaveLength(1);
    expect(new AbortedError()).toBeInstanceOf(Error);
  });
  it('stop({ drainMs: 0 }) aborts in-flight fetches at once, even on a virtual clock nobody advances', async () => {
    const { clock, engine, record } = setup({
      behaviour: slow(HOUR),
      jobs: [{ name: 'j', schedule: '0 * * * *', plan: keysPlan('k', 3) }],
    });
    const aborted = record('task:aborted');
    await engine.start();
    await engine.trigger('j');
    await clock.advance(SEC);
    await engine.stop({ drainMs: 0 });
    expect(aborted).toHaveLength(3);
    expect((await engine.status()).state).toBe('stopped');
  });

  it('counts fetches that land after their freshness deadline, and when the last one did', async () => {
    let calls = 0;
    const { clock, engine } = setup({
      behaviour: async (task, ctx, clock) => {
        await clock.sleep(++calls * MIN, ctx.signal);
        return [{ id: task.key }];
      },
      jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 1) }],
    });
    await engine.start();
    await clock.advance(35 * MIN);
    // 00:15 → written 00:16 (due again 00:31); 00:30 → written 00:32: one minute late.
    expect((await engine.status()).jobs[0]).toMatchObject({ deadlineMisses: 1, lastMissAt: Date.UTC(2026, 10, 28, 0, 32) });
    await engine.stop({ drainMs: 0 });
  });
});
