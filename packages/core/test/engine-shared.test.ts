import { describe, expect, it } from 'vitest';
import { createMemoryQueue, type Queue, type Scheduler } from '../src/index.js';
import { keysPlan, MIN, setup } from './helpers.js';

/**
 * A queue other instances also use, as the engine sees it: the memory queue, flagged shared, with
 * `watch` listeners the test fires the way another instance's offer would.
 */
function sharedQueue() {
  const inner = createMemoryQueue<{ n: number }>();
  const listeners = new Set<() => void>();
  const queue: Queue<{ n: number }> = Object.assign(Object.create(inner) as Queue<{ n: number }>, {
    shared: true as const,
    watch(listener: () => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  });
  return { queue, inner, wakeAll: () => listeners.forEach((l) => l()) };
}

describe('engine on a shared queue', () => {
  it('takes work another instance offered, once told it may be there', async () => {
    const shared = sharedQueue();
    const { clock, arrivals, engine } = setup({ queue: shared.queue, jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: keysPlan('k', 1) }] });
    await engine.start();
    await clock.advance(MIN);
    expect(arrivals).toEqual([]);
    // Another instance's tick puts a key in the queue; this engine sleeps with nothing to do.
    const now = clock.now();
    await shared.inner.offer([{ key: 'k:0', scope: 'k:0', job: 'j', payload: { n: 0 }, priority: 0, deadline: now, attempt: 1, notBefore: now, enqueuedAt: now }]);
    await clock.advance(10 * MIN);
    expect(arrivals).toEqual([]); // nothing woke it: an in-process queue would have
    shared.wakeAll();
    await clock.advance(1_000);
    expect(arrivals.map((a) => a.key)).toEqual(['k:0']);
    await engine.stop();
  });

  it('re-reads freshness from the Store at every tick, so a key another instance fetched is not fetched again', async () => {
    for (const isShared of [true, false]) {
      const shared = sharedQueue();
      const { clock, arrivals, engine, store } = setup({
        ...(isShared ? { queue: shared.queue } : {}),
        // A 20-minute target on a 15-minute cadence: a key fetched just before a tick need not be fetched at it.
        jobs: [{ name: 'j', schedule: '*/15 * * * *', freshFor: 20 * MIN, plan: keysPlan('k', 3) }],
      });
      await engine.start();
      await engine.trigger('j', { force: false });
      await clock.advance(MIN);
      expect(arrivals).toHaveLength(3);
      // Just before the next tick another instance fetched k:1 and wrote it.
      await clock.advanceTo(Date.UTC(2026, 10, 28, 0, 14, 50));
      await store.write({ scopes: [{ key: 'k:1', scope: 'k:1', job: 'j', data: [{ id: 'k:1' }], fetchedAt: clock.now() }] });
      await clock.advanceTo(Date.UTC(2026, 10, 28, 0, 15, 30));
      const second = arrivals.slice(3).map((a) => a.key).sort();
      expect(second).toEqual(isShared ? ['k:0', 'k:2'] : ['k:0', 'k:1', 'k:2']);
      await engine.stop();
    }
  });

  it('reports a pause made through another instance', async () => {
    const shared = sharedQueue();
    const { engine } = setup({ queue: shared.queue, jobs: [{ name: 'j', schedule: '0 0 * * *', plan: keysPlan('k', 1) }] });
    await engine.start();
    expect((await engine.status()).paused).toBe(false);
    await shared.inner.pause('j'); // as another instance's engine.pause('j') does
    expect((await engine.status()).jobs[0]!.paused).toBe(true);
    await shared.inner.pause();
    expect((await engine.status()).paused).toBe(true);
    await engine.stop();
  });

  it("skips the start-up plan when the scheduler says the deployment already runs the job", async () => {
    const ticks: string[] = [];
    const scheduler: Scheduler = {
      add: () => {},
      remove: () => {},
      start: async () => {},
      stop: async () => {},
      nextTick: () => undefined,
      lastTick: () => undefined,
      shouldRunOnStart: (id) => id === 'first',
    };
    const { engine, clock } = setup({
      scheduler,
      jobs: [
        { name: 'first', schedule: '0 0 * * *', runOnStart: true, plan: () => (ticks.push('first'), []) },
        { name: 'joined', schedule: '0 0 * * *', runOnStart: true, plan: () => (ticks.push('joined'), []) },
      ],
    });
    await engine.start();
    await clock.advance(1_000);
    expect(ticks).toEqual(['first']);
    await engine.stop();
  });
});
