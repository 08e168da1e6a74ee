import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '@tidesync/adapter-memory';
import { createSyncEngine, type FetchContext, type QueuedTask, type SyncEngine } from '@tidesync/core';
import { createBullMQQueue } from '../src/bullmq-queue.js';
import { backendKinds, testNamespace, uniqueName, type TestNamespace } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Engines in one process, each on its own connection: as separate instances see each other. */
for (const kind of backendKinds) {
  describe(`engines sharing a BullMQ queue on ${kind}`, () => {
    let ns: TestNamespace;
    const engines: SyncEngine[] = [];
    afterEach(async () => {
      for (const e of engines.splice(0)) await e.stop({ drainMs: 0 });
      await ns?.drop();
    });

    it('an abort on one instance stops the fetches of that job running on the others', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const store = createMemoryStore();
      const running = new Map<string, { instance: number; aborted: boolean }>();
      const make = (instance: number) => {
        const source = {
          // Hangs until aborted: the fetch stays in flight on whichever instance took it.
          fetch: (task: QueuedTask, ctx: FetchContext) =>
            new Promise((_, reject) => {
              running.set(task.key, { instance, aborted: false });
              ctx.signal.addEventListener('abort', () => {
                running.get(task.key)!.aborted = true;
                reject(ctx.signal.reason);
              });
            }),
        };
        const engine = createSyncEngine({
          source,
          store,
          queue: createBullMQQueue(ns.connect(), { name, pollMs: 100 }),
          concurrency: 4,
          jobs: [{ name: 'j', schedule: '0 0 1 1 *', plan: () => Array.from({ length: 8 }, (_, i) => ({ key: `k:${i}`, payload: i })) }],
        });
        engines.push(engine);
        return engine;
      };
      const [a, b] = [make(0), make(1)];
      await a.start();
      await b.start();
      await a.trigger('j');
      // Both instances take work (each has 4 slots for 8 keys).
      for (let i = 0; i < 50 && new Set([...running.values()].map((r) => r.instance)).size < 2; i++) await sleep(100);
      expect(new Set([...running.values()].map((r) => r.instance))).toEqual(new Set([0, 1]));
      await a.pause(undefined, { force: true });
      for (let i = 0; i < 30 && [...running.values()].some((r) => !r.aborted); i++) await sleep(100);
      const onB = [...running.values()].filter((r) => r.instance === 1);
      expect(onB.length).toBeGreaterThan(0);
      expect(onB.every((r) => r.aborted)).toBe(true);
      expect((await b.status()).paused).toBe(true);
    });
  });
}
