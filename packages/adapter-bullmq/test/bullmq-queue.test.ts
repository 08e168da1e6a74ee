import { afterEach, describe, expect, it } from 'vitest';
import type { QueuedTask } from '@tidesync/core';
import { queueConformance } from '@tidesync/core/testing';
import { createBullMQQueue, jobIdOf } from '../src/bullmq-queue.js';
import { backendKinds, testNamespace, uniqueName, type TestNamespace } from './helpers.js';

for (const kind of backendKinds) {
  describe(`BullMQ queue on ${kind}`, () => {
    queueConformance(
      `BullMQ on ${kind}`,
      async () => {
        const ns = testNamespace(kind);
        const queue = createBullMQQueue<{ n: number }>(ns.connect(), { name: uniqueName('q') });
        return { queue, cleanup: () => ns.drop() };
      },
      { realClock: true, deadlineResolutionMs: 1_000 },
    );
  });
}

const task = (key: string, fields: Partial<QueuedTask<{ n: number }>> = {}): QueuedTask<{ n: number }> => ({
  key,
  scope: key,
  job: 'job',
  payload: { n: 0 },
  priority: 0,
  deadline: Date.now(),
  attempt: 1,
  notBefore: 0,
  enqueuedAt: Date.now(),
  ...fields,
});

for (const kind of backendKinds) {
  describe(`BullMQ queue shared by instances on ${kind}`, () => {
    let ns: TestNamespace;
    afterEach(async () => ns?.drop());

    it('queues a key once across instances and hands it to one of them', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const [a, b, c] = [0, 1, 2].map(() => createBullMQQueue<{ n: number }>(ns.connect(), { name }));
      const results = await Promise.all([a!, b!, c!].map((q, i) => q.offer([task('shared:key', { payload: { n: i } }), task(`own:${i}`)])));
      expect(results.flat().filter((r) => r === 'added').length).toBeGreaterThanOrEqual(4);
      expect(await a!.size()).toBe(4);
      const taken = (await Promise.all([a!, b!, c!].map((q) => q.take(10, Date.now())))).flat();
      expect(taken.map((t) => t.key).sort()).toEqual(['own:0', 'own:1', 'own:2', 'shared:key']);
      // In flight on one instance: the others' offers are dropped.
      expect(await b!.offer([task('shared:key')])).toEqual(['inflight']);
      for (const q of [a!, b!, c!]) await q.close();
    });

    it('drops an offer planned before the key finished on another instance, keeps one planned after', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const [a, b] = [0, 1].map(() => createBullMQQueue<{ n: number }>(ns.connect(), { name }));
      const plannedEarly = Date.now();
      await a!.offer([task('k')]);
      const [t] = await a!.take(1, Date.now());
      await a!.ack([t!.key]);
      expect(await b!.offer([task('k', { enqueuedAt: plannedEarly })])).toEqual(['inflight']);
      expect(await b!.size()).toBe(0);
      expect(await b!.offer([task('k', { enqueuedAt: Date.now() })])).toEqual(['added']);
      expect(await b!.size()).toBe(1);
      for (const q of [a!, b!]) await q.close();
    });

    it('takes an offer made in the millisecond its key finished (the engine\'s re-offer right after its ack) as new', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const backend = ns.connect();
      const a = createBullMQQueue<{ n: number }>(backend, { name });
      await a.offer([task('k')]);
      await a.take(1, Date.now());
      await a.ack(['k']);
      const records = backend.newQueue(name);
      const finishedOn = (await records.getJob(jobIdOf('k')))!.finishedOn!;
      await records.close();
      expect(await a.offer([task('k', { enqueuedAt: finishedOn - 1 })])).toEqual(['inflight']);
      expect(await a.offer([task('k', { enqueuedAt: finishedOn })])).toEqual(['added']);
      await a.close();
    });

    it('drops an offer planned before the key finished even when it finishes while the offer looks the key up', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const a = createBullMQQueue<{ n: number }>(ns.connect(), { name });
      // Instance b's lookups of k land just before a's ack: b reads the job while it is active,
      // and a finishes it before b asks for its state.
      const backend = ns.connect();
      const newQueue = backend.newQueue.bind(backend);
      let acked = false;
      backend.newQueue = (queueName, options) => {
        const q = newQueue(queueName, options);
        if (queueName !== name) return q;
        const getJob = q.getJob.bind(q);
        q.getJob = async (id) => {
          const job = await getJob(id);
          if (!acked && job && (await job.getState()) === 'active') {
            acked = true;
            await a.ack(['k']);
          }
          return job;
        };
        return q;
      };
      const b = createBullMQQueue<{ n: number }>(backend, { name });
      await a.offer([task('k')]);
      const plannedWhileInFlight = Date.now();
      expect((await a.take(1, Date.now())).map((t) => t.key)).toEqual(['k']);
      expect(await b.offer([task('k', { enqueuedAt: plannedWhileInFlight })])).toEqual(['inflight']);
      expect(acked).toBe(true);
      expect(await b.size()).toBe(0);
      for (const q of [a, b]) await q.close();
    });

    it('gives a task held by an instance that died to another one once its lock lapses', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const options = { name, lockDurationMs: 1_000, stalledIntervalMs: 500 };
      const dyingBackend = ns.connect();
      const dying = createBullMQQueue<{ n: number }>(dyingBackend, options);
      const survivor = createBullMQQueue<{ n: number }>(ns.connect(), options);
      await dying.offer([task('k')]);
      expect((await dying.take(1, Date.now())).map((t) => t.key)).toEqual(['k']);
      // Dies without a word: its connection goes, its lock is never renewed or released.
      await ns.crash(dyingBackend);
      expect(await survivor.take(1, Date.now())).toEqual([]);
      let again: QueuedTask[] = [];
      for (let i = 0; i < 40 && again.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        again = await survivor.take(1, Date.now());
      }
      expect(again.map((t) => t.key)).toEqual(['k']);
      await survivor.close();
    });

    it('pauses and resumes a job whose name holds ":" for every instance', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const [a, b] = [0, 1].map(() => createBullMQQueue<{ n: number }>(ns.connect(), { name }));
      await a!.offer([task('k1', { job: 'inventory:eu' }), task('other', { job: 'inventory:us' })]);
      await a!.pause('inventory:eu');
      expect(await b!.isPaused('inventory:eu')).toBe(true);
      expect(await b!.isPaused('inventory:us')).toBe(false);
      expect(await b!.offer([task('k2', { job: 'inventory:eu' })])).toEqual(['added']);
      expect((await b!.take(5, Date.now())).map((t) => t.key)).toEqual(['other']);
      await b!.resume('inventory:eu');
      expect(await a!.isPaused('inventory:eu')).toBe(false);
      expect((await a!.take(5, Date.now())).map((t) => t.key).sort()).toEqual(['k1', 'k2']);
      for (const q of [a!, b!]) await q.close();
    });

    it('never hands out a task of a job paused elsewhere a moment ago, and parks it where remove and offer find it', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const [a, b] = [0, 1].map(() => createBullMQQueue<{ n: number }>(ns.connect(), { name }));
      await a!.offer([task('k', { job: 'J' }), task('x', { job: 'other' })]);
      const [held] = await a!.take(1, Date.now()); // reads the paused set: none
      expect(held!.key).toBe('k');
      await b!.pause('J'); // k is in flight on a: not moved
      await a!.retry(held!, Date.now()); // its fetch was aborted: back in the queue at once
      expect((await a!.take(5, Date.now())).map((t) => t.key)).toEqual(['x']);
      expect(await b!.size('J')).toBe(1);
      // Parked, not hidden behind a finished record of the same key.
      expect(await b!.offer([task('k', { job: 'J', deadline: Date.now() - 60_000 })])).toEqual(['merged']);
      expect(await a!.remove('k')).toBe(true);
      expect(await b!.size('J')).toBe(0);
      for (const q of [a!, b!]) await q.close();
    });

    it('puts back a task parked for a job that a resume on another instance released meanwhile', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const a = createBullMQQueue<{ n: number }>(ns.connect(), { name, pollMs: 100 });
      const b = createBullMQQueue<{ n: number }>(ns.connect(), { name, pollMs: 100 });
      await a.pause('J');
      await a.offer([task('k', { job: 'J' })]); // parked
      // Another instance's resume removed the marker after its scan of the parked tasks: the
      // resume moved nothing, and k would stay parked.
      const meta = ns.connect().newQueue(`${name}.meta`);
      for (const j of await meta.getJobs(['wait'])) if (j?.id?.startsWith('paused~')) await j.remove();
      await meta.close();
      const stop = b.watch(() => {});
      let taken: QueuedTask[] = [];
      for (let i = 0; i < 30 && taken.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        taken = await b.take(1, Date.now());
      }
      stop();
      expect(taken.map((t) => t.key)).toEqual(['k']);
      for (const q of [a, b]) await q.close();
    });

    it('passes on an abort sent right after it started watching', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const [a, b] = [0, 1].map(() => createBullMQQueue<{ n: number }>(ns.connect(), { name }));
      await Promise.all([a!.size(), b!.size()]); // connected
      const signals: unknown[] = [];
      const stop = a!.watch((signal) => signal && signals.push(signal));
      await b!.broadcastAbort('J');
      for (let i = 0; i < 20 && signals.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      stop();
      expect(signals).toEqual([{ abort: 'J' }]);
      for (const q of [a!, b!]) await q.close();
    });

    it('passes on an abort whose marker bears an earlier time than its poll (another host\'s clock)', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const a = createBullMQQueue<{ n: number }>(ns.connect(), { name, pollMs: 100 });
      const signals: unknown[] = [];
      const stop = a.watch((signal) => signal && signals.push(signal));
      await new Promise((r) => setTimeout(r, 300));
      // Sent by an instance whose clock is 10 s behind this one's.
      const meta = ns.connect().newQueue(`${name}.meta`);
      await meta.add('abort', { job: 'J', at: Date.now() - 10_000, from: 'elsewhere' }, { jobId: 'abort~skewed' });
      await meta.close();
      for (let i = 0; i < 20 && signals.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 300));
      stop();
      expect(signals).toEqual([{ abort: 'J' }]); // once, however many polls saw it
      await a.close();
    });

    it('refuses a logger without the four levels', () => {
      ns = testNamespace(kind);
      expect(() => createBullMQQueue(ns.connect(), { name: uniqueName('q'), logger: {} as never })).toThrow(/logger/);
    });

    it('orders by priority band, then deadline, and re-bases an old origin so far deadlines keep their order', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('q');
      const now = Date.now();
      // 1 ms steps: the range is ~524 s. An origin 200 s old is still in use; far deadlines clamp.
      const meta = ns.connect().newQueue(`${name}.meta`);
      await meta.add('origin', { origin: now - 200_000 }, { jobId: 'origin' });
      const a = createBullMQQueue<{ n: number }>(ns.connect(), { name, deadlineResolutionMs: 1 });
      await a.offer([task('far1', { deadline: now + 400_000 }), task('far2', { deadline: now + 350_000 })]);
      expect(await a.priorityOf({ priority: 0, deadline: now + 400_000 })).toBe(await a.priorityOf({ priority: 0, deadline: now + 350_000 }));
      expect(await a.priorityOf({ priority: 0, deadline: now })).toBeLessThan(await a.priorityOf({ priority: -14_400, deadline: now - 5_000 }));
      // The origin is now 300 s old, past half the range: the next offer (from any instance) re-bases.
      await (await meta.getJob('origin'))!.updateData({ origin: now - 300_000 });
      const b = createBullMQQueue<{ n: number }>(ns.connect(), { name, deadlineResolutionMs: 1 });
      await b.offer([task('week', { deadline: now - 5_000, priority: -14_400 }), task('now', { deadline: now })]);
      expect((await b.take(4, Date.now())).map((t) => t.key)).toEqual(['now', 'far2', 'far1', 'week']);
      await meta.close();
      for (const q of [a, b]) await q.close();
    });
  });
}
