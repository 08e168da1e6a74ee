import { afterEach, describe, expect, it } from 'vitest';
import { parseCron, type ScheduleSpec, type Scheduler, type Tick } from '@tidesync/core';
import { schedulerConformance } from '@tidesync/core/testing';
import { Redis } from 'ioredis';
import { createBullMQAdapter } from '../src/adapter.js';
import { createBullMQScheduler, cronRepeatStrategy } from '../src/bullmq-scheduler.js';
import type { Backend } from '../src/connection.js';
import { TEST_REDIS_URL, backendKinds, testNamespace, uniqueName, type TestNamespace } from './helpers.js';

const spec = (fields: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  id: 'job',
  cron: '* * * * * *',
  timezone: 'UTC',
  overlap: 'skip',
  jitterMs: 0,
  catchUp: true,
  ...fields,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reaches into every BullMQ queue opened on `backend` from now on (to make a call fail, or to watch it). */
const onEachQueue = (backend: Backend, adjust: (q: ReturnType<Backend['newQueue']>, name: string) => void) => {
  const newQueue = backend.newQueue.bind(backend);
  backend.newQueue = (queueName, options) => {
    const q = newQueue(queueName, options);
    adjust(q, queueName);
    return q;
  };
};

/** Every occurrence in [from, to) that `next` names, walking from `from`. */
const walk = (next: (after: number) => number | undefined, from: number, to: number) => {
  const out: number[] = [];
  for (let t = next(from); t !== undefined && t < to; t = next(t)) out.push(t);
  return out;
};

describe('the next occurrence BullMQ is given', () => {
  it.each([
    ['0,30 2 * * *', 'America/New_York', '2026-03-07T12:00Z', '2026-03-09T12:00Z'],
    ['0 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00Z', '2026-10-06T00:00Z'],
    ['0 0 * * *', 'America/Santiago', '2026-09-04T00:00Z', '2026-09-08T00:00Z'],
    ['*/15 * * * *', 'Europe/Rome', '2026-10-25T00:00Z', '2026-10-25T03:00Z'],
  ])('is core\'s for %s in %s across its DST change: every occurrence placed, none lost', (pattern, tz, from, to) => {
    const strategy = cronRepeatStrategy();
    const core = parseCron(pattern, tz);
    const ours = walk((t) => strategy(t, { pattern, tz }), Date.parse(from), Date.parse(to));
    expect(ours).toEqual(walk((t) => core.next(t), Date.parse(from), Date.parse(to)));
    // One occurrence per day at least, on the days the gap moved it.
    expect(ours.length).toBeGreaterThanOrEqual(2);
  });

  it('goes to the ticks queue and to the worker (BullMQ computes the next job on both)', async () => {
    const settings: unknown[] = [];
    const fake = {
      newQueue: (_name: string, options?: { settings?: unknown }) => {
        settings.push(options?.settings);
        throw new Error('stop here');
      },
    } as unknown as Backend;
    const s = createBullMQScheduler(fake, { name: 'x' });
    s.add(spec(), async () => {});
    await expect(s.start()).rejects.toThrow('stop here');
    expect(settings).toEqual([{ repeatStrategy: expect.any(Function) }]);
  });
});

// Real time (BullMQ schedules by the wall clock), so cadences here have a seconds field.
for (const kind of backendKinds) {
  schedulerConformance(
    `BullMQ on ${kind}`,
    async ({ persistence, onSkip }) => {
      const ns = testNamespace(kind);
      const scheduler = createBullMQScheduler(ns.connect(), { name: uniqueName('ticks'), lateAfterMs: 1_500, persistence, onSkip: (tick, reason) => onSkip(tick, reason) });
      return { scheduler, cleanup: () => ns.drop() };
    },
    { realClock: true },
  );

  // Beyond the contract: what only shows with several instances and whole-deployment outages.
  describe(`BullMQ scheduler on ${kind}`, () => {
    let ns: TestNamespace;
    const running: Scheduler[] = [];
    const make = (name: string, extra: Parameters<typeof createBullMQScheduler>[1] extends infer O ? Partial<O> : never = {}) => {
      const s = createBullMQScheduler(ns.connect(), { name, lateAfterMs: 1_500, ...extra });
      running.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of running.splice(0)) await s.stop();
      await ns?.drop();
    });

    it('fires each occurrence exactly once across three instances, with its occurrence time', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const ticks: Array<Tick & { instance: number }> = [];
      const instances = [0, 1, 2].map((i) => {
        const s = make(name);
        s.add(spec(), async (t) => void ticks.push({ ...t, instance: i }));
        return s;
      });
      await Promise.all(instances.map((s) => s.start()));
      await sleep(5_200);
      await Promise.all(instances.map((s) => s.stop()));
      const occurrences = ticks.map((t) => t.scheduledAt);
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      expect(new Set(occurrences).size).toBe(ticks.length); // no occurrence twice
      expect(occurrences.every((at) => at % 1_000 === 0)).toBe(true);
      expect(ticks.every((t) => t.firedAt >= t.scheduledAt && !t.catchUp && !t.manual)).toBe(true);
      const sorted = [...occurrences].sort((a, b) => a - b);
      expect(sorted.every((at, i) => i === 0 || at - sorted[i - 1]! === 1_000)).toBe(true);
      // Each instance knows the last occurrence it fired.
      for (const [i, s] of instances.entries()) {
        const mine = ticks.filter((t) => t.instance === i).map((t) => t.scheduledAt);
        expect(s.lastTick('job')).toBe(mine.length > 0 ? Math.max(...mine) : undefined);
      }
    });

    it('an instance without the schedule (a rolling deploy adding a job) leaves its ticks to those that have it', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const ticks: Tick[] = [];
      const having = make(name);
      having.add(spec(), async (t) => void ticks.push(t));
      // Two instances with another schedule only, on the same ticks name.
      const without = [make(name), make(name)];
      for (const s of without) s.add(spec({ id: 'other', cron: '0 0 1 1 *' }), async () => {});
      await having.start();
      await Promise.all(without.map((s) => s.start()));
      await sleep(5_200);
      await having.stop();
      const story = JSON.stringify(ticks.map((t) => t.scheduledAt % 100_000));
      expect(ticks.length, story).toBeGreaterThanOrEqual(4);
      // Every occurrence from the first on ran, once, on the instance that has the schedule.
      const sorted = ticks.map((t) => t.scheduledAt).sort((a, b) => a - b);
      expect(sorted.every((at, i) => i === 0 || at - sorted[i - 1]! === 1_000), story).toBe(true);
    });

    it('a tick waiting on an instance that stops goes back to the queue for the next one, not lost (overlap: bufferOne)', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const lateAfterMs = 20_000; // nothing here counts as a catch-up
      const ran: Array<{ at: number; on: string }> = [];
      const first = make(name, { lateAfterMs });
      first.add(spec({ overlap: 'bufferOne' }), async (t) => {
        ran.push({ at: t.scheduledAt, on: 'first' });
        await sleep(2_500);
      });
      await first.start();
      // Its first tick runs 2.5 s; the next occurrence waits behind it, on this instance.
      for (let i = 0; i < 40 && ran.length === 0; i++) await sleep(100);
      await sleep(1_300);
      await first.stop();
      const second = make(name, { lateAfterMs });
      second.add(spec({ overlap: 'bufferOne' }), async (t) => void ran.push({ at: t.scheduledAt, on: 'second' }));
      await second.start();
      await sleep(1_500);
      const story = JSON.stringify(ran.map((r) => [r.at % 100_000, r.on]));
      const firstRun = ran.find((r) => r.on === 'first')!;
      expect(ran.filter((r) => r.on === 'first'), story).toHaveLength(1);
      // The occurrence that was waiting when the first instance stopped ran on the second.
      expect(ran.some((r) => r.on === 'second' && r.at === firstRun.at + 1_000), story).toBe(true);
    });

    it('of two occurrences due at a start (one given back at the last shutdown), only the later fires', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const first = make(name);
      const ran: number[] = [];
      first.add(spec({ overlap: 'bufferOne' }), async (t) => {
        ran.push(t.scheduledAt);
        await sleep(2_500);
      });
      await first.start();
      for (let i = 0; i < 40 && ran.length === 0; i++) await sleep(100);
      await sleep(1_300); // the next occurrence waits behind the running tick
      await first.stop(); // gives the waiting one back; the one after it is already scheduled
      await sleep(3_000); // both are due, and late, when the next instance starts
      const skipped: Array<{ at: number; reason: string }> = [];
      const ticks: Tick[] = [];
      const second = make(name, { onSkip: (t, reason) => skipped.push({ at: t.scheduledAt, reason }) });
      second.add(spec({ overlap: 'bufferOne' }), async (t) => void ticks.push(t));
      await second.start();
      await sleep(1_500);
      const story = JSON.stringify({ ran: ran.map((at) => at % 100_000), ticks: ticks.map((t) => [t.scheduledAt % 100_000, t.catchUp]), skipped: skipped.map((k) => [k.at % 100_000, k.reason]) });
      const catchUps = ticks.filter((t) => t.catchUp);
      expect(catchUps, story).toHaveLength(1);
      expect(catchUps[0]!.scheduledAt, story).toBe(ran[0]! + 2_000);
      expect(skipped, story).toContainEqual({ at: ran[0]! + 1_000, reason: 'missed' });
    });

    it('skips an occurrence while the previous tick still runs on another instance (overlap: skip)', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const started: number[] = [];
      const skipped: string[] = [];
      const instances = [0, 1].map(() => {
        const s = make(name, { onSkip: (_t, reason) => skipped.push(reason) });
        s.add(spec(), async (t) => {
          started.push(t.scheduledAt);
          await sleep(2_300);
        });
        return s;
      });
      await Promise.all(instances.map((s) => s.start()));
      await sleep(4_200);
      for (const s of instances) await s.stop();
      expect(skipped.filter((r) => r === 'overlap').length).toBeGreaterThanOrEqual(2);
      // Runs never overlap: consecutive starts are at least the handler's duration apart.
      const sorted = [...started].sort((a, b) => a - b);
      expect(sorted.every((at, i) => i === 0 || at - sorted[i - 1]! >= 2_000)).toBe(true);
    });

    it('keeps one pending tick while busy, then runs it (overlap: bufferOne)', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const runs: Array<{ scheduledAt: number; start: number; end: number }> = [];
      const skipped: string[] = [];
      const instances = [0, 1].map(() => {
        const s = make(name, { onSkip: (_t, reason) => skipped.push(reason) });
        s.add(spec({ overlap: 'bufferOne' }), async (t) => {
          const start = Date.now();
          await sleep(1_500);
          runs.push({ scheduledAt: t.scheduledAt, start, end: Date.now() });
        });
        return s;
      });
      await Promise.all(instances.map((s) => s.start()));
      await sleep(6_500);
      for (const s of instances) await s.stop();
      runs.sort((a, b) => a.start - b.start);
      const story = JSON.stringify({ runs: runs.map((r) => ({ at: r.scheduledAt % 100_000, start: r.start % 100_000, end: r.end % 100_000 })), skipped });
      expect(runs.length, story).toBeGreaterThanOrEqual(3);
      // Never two at once, and a buffered tick ran once the previous one finished, not on its beat.
      expect(runs.every((r, i) => i === 0 || r.start >= runs[i - 1]!.end - 50), story).toBe(true);
      expect(runs.some((r) => r.start - r.scheduledAt > 300), story).toBe(true);
    });

    it('fires one catch-up for the occurrence missed while every instance was down', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const first = make(name);
      first.add(spec({ cron: '*/2 * * * * *' }), async () => {});
      await first.start();
      await sleep(300);
      await first.stop();
      await sleep(4_500); // two occurrences pass with no instance up
      const ticks: Tick[] = [];
      const again = [0, 1].map(() => {
        const s = make(name);
        s.add(spec({ cron: '*/2 * * * * *' }), async (t) => void ticks.push(t));
        return s;
      });
      await Promise.all(again.map((s) => s.start()));
      await sleep(2_500);
      const catchUps = ticks.filter((t) => t.catchUp);
      expect(catchUps).toHaveLength(1);
      expect(catchUps[0]!.firedAt - catchUps[0]!.scheduledAt).toBeGreaterThan(1_500);
      expect(ticks.filter((t) => !t.catchUp).length).toBeGreaterThanOrEqual(1);
    });

    it('catches up from the persisted last tick once, however many instances start', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const persistence = { readLastTick: async () => Date.now() - 3 * 86_400_000, writeLastTick: async () => {} };
      const ticks: Tick[] = [];
      const instances = [0, 1, 2].map(() => {
        const s = make(name, { persistence });
        s.add(spec({ cron: '0 0 * * *' }), async (t) => void ticks.push(t));
        return s;
      });
      await Promise.all(instances.map((s) => s.start()));
      await sleep(1_500);
      expect(ticks).toHaveLength(1);
      // It stands for the last midnight (UTC), the occurrence that was missed.
      const midnight = new Date();
      midnight.setUTCHours(0, 0, 0, 0);
      expect(ticks[0]).toMatchObject({ catchUp: true, scheduledAt: midnight.getTime() });
    });

    it('catches up a schedule whose id holds ":" (job names may; BullMQ ids may not)', async () => {
      ns = testNamespace(kind);
      const persistence = { readLastTick: async () => Date.now() - 3 * 86_400_000, writeLastTick: async () => {} };
      const ticks: Tick[] = [];
      const s = make(uniqueName('ticks'), { persistence });
      s.add(spec({ id: 'inventory:eu', cron: '0 0 * * *' }), async (t) => void ticks.push(t));
      await s.start();
      for (let i = 0; i < 30 && ticks.length === 0; i++) await sleep(100);
      expect(ticks).toMatchObject([{ schedule: 'inventory:eu', catchUp: true }]);
    });

    it('a tick whose overlap check fails (the backend away a moment) is tried again and fires, reported, not lost', async () => {
      ns = testNamespace(kind);
      const backend = ns.connect();
      let failures = 1;
      onEachQueue(backend, (q) => {
        const getActive = q.getActive.bind(q);
        q.getActive = async (...args) => {
          if (failures > 0) {
            failures--;
            throw new Error('connection reset');
          }
          return getActive(...args);
        };
      });
      const errors: string[] = [];
      const s = createBullMQScheduler(backend, { name: uniqueName('ticks'), lateAfterMs: 5_000, onError: (err) => errors.push(String(err)) });
      running.push(s);
      const fired: number[] = [];
      s.add(spec({ cron: '*/2 * * * * *' }), async (t) => void fired.push(t.scheduledAt));
      await s.start();
      await sleep(5_500);
      await s.stop();
      expect(errors).toEqual(['Error: connection reset']);
      // Every occurrence from the first fires, the one whose check failed included (a second late).
      expect(fired.length).toBeGreaterThanOrEqual(2);
      const first = Math.min(...fired);
      const expected = Array.from({ length: fired.length }, (_, i) => first + i * 2_000);
      expect([...fired].sort()).toEqual(expected);
    });

    it('a start that failed (its store unreadable) can be tried again, and the catch-up is not lost', async () => {
      ns = testNamespace(kind);
      let reads = 0;
      const persistence = {
        readLastTick: async () => {
          if (reads++ === 0) throw new Error('store away');
          return Date.now() - 3 * 86_400_000;
        },
        writeLastTick: async () => {},
      };
      const ticks: Tick[] = [];
      const s = make(uniqueName('ticks'), { persistence });
      s.add(spec({ cron: '0 0 * * *' }), async (t) => void ticks.push(t));
      await expect(s.start()).rejects.toThrow('store away');
      await s.start();
      for (let i = 0; i < 30 && ticks.length === 0; i++) await sleep(100);
      expect(ticks).toMatchObject([{ catchUp: true }]);
    });

    it('a start whose catch-up could not be added can be tried again, and the catch-up still fires', async () => {
      ns = testNamespace(kind);
      const backend = ns.connect();
      let failures = 1;
      onEachQueue(backend, (q) => {
        const add = q.add.bind(q);
        q.add = async (...args) => {
          if (failures > 0 && String(args[2]?.jobId ?? '').startsWith('catchup~')) {
            failures--;
            throw new Error('connection reset');
          }
          return add(...args);
        };
      });
      const persistence = { readLastTick: async () => Date.now() - 3 * 86_400_000, writeLastTick: async () => {} };
      const s = createBullMQScheduler(backend, { name: uniqueName('ticks'), lateAfterMs: 1_500, persistence });
      running.push(s);
      const ticks: Tick[] = [];
      s.add(spec({ cron: '0 0 * * *' }), async (t) => void ticks.push(t));
      await expect(s.start()).rejects.toThrow('connection reset');
      await s.start();
      for (let i = 0; i < 30 && ticks.length === 0; i++) await sleep(100);
      expect(ticks).toMatchObject([{ catchUp: true }]);
    });

    it('a schedule removed while it opens leaves no worker behind', async () => {
      ns = testNamespace(kind);
      const backend = ns.connect();
      const newWorker = backend.newWorker.bind(backend);
      const workers: Array<ReturnType<Backend['newWorker']>> = [];
      backend.newWorker = (...args) => {
        const w = newWorker(...args);
        workers.push(w);
        return w;
      };
      // Removed just as its BullMQ schedule is created, before its worker is.
      onEachQueue(backend, (q, queueName) => {
        if (!queueName.endsWith('.gone')) return;
        const upsert = q.upsertJobScheduler.bind(q);
        q.upsertJobScheduler = async (...args) => {
          const created = await upsert(...args);
          s.remove('gone');
          return created;
        };
      });
      const s = createBullMQScheduler(backend, { name: uniqueName('ticks') });
      running.push(s);
      s.add(spec({ id: 'kept' }), async () => {});
      await s.start();
      s.add(spec({ id: 'gone' }), async () => {});
      await sleep(1_500);
      expect(workers.filter((w) => w.isRunning())).toHaveLength(1);
    });

    it('the first instance after a cadence change runs the start-up plan', async () => {
      ns = testNamespace(kind);
      const name = uniqueName('ticks');
      const a = make(name);
      a.add(spec({ cron: '0 0 1 1 *' }), async () => {});
      await a.start();
      await a.stop();
      const b = make(name);
      b.add(spec({ cron: '0 0 2 1 *' }), async () => {});
      await b.start();
      expect(b.shouldRunOnStart!('job')).toBe(true);
      const c = make(name);
      c.add(spec({ cron: '0 0 2 1 *' }), async () => {});
      await c.start();
      expect(c.shouldRunOnStart!('job')).toBe(false);
    });

    it('reports handler errors and keeps firing, even through a logger that throws', async () => {
      ns = testNamespace(kind);
      const errors: string[] = [];
      const throwing = () => {
        throw new Error('logger down');
      };
      const logger = { debug: throwing, info: throwing, warn: throwing, error: throwing };
      const s = make(uniqueName('ticks'), { logger, onError: (err) => errors.push(String(err)) });
      let n = 0;
      s.add(spec(), async () => {
        n++;
        throw new Error('plan failed');
      });
      await s.start();
      await sleep(2_600);
      expect(n).toBeGreaterThanOrEqual(2);
      expect(errors.length).toBe(n);
    });
  });
}

describe.skipIf(!TEST_REDIS_URL)('the adapter on Redis', () => {
  it('close() stops the schedulers it made: a tick waiting behind a running one goes back, it does not run', async () => {
    const prefix = uniqueName('tst');
    const adapter = createBullMQAdapter({ connection: { redis: TEST_REDIS_URL!, prefix }, name: uniqueName('app') });
    const ticks = adapter.scheduler();
    const started: number[] = [];
    ticks.add(spec({ overlap: 'bufferOne' }), async () => {
      started.push(Date.now());
      await sleep(1_800);
    });
    await ticks.start();
    for (let i = 0; i < 40 && started.length === 0; i++) await sleep(50);
    await sleep(1_100); // the next tick now waits behind the running one
    const closing = Date.now();
    await adapter.close();
    expect(started.filter((at) => at >= closing)).toEqual([]);
    const redis = new Redis(TEST_REDIS_URL!);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  // The local server only: it listens on ::1 too.
  it.skipIf(!TEST_REDIS_URL || !['127.0.0.1', 'localhost'].includes(new URL(TEST_REDIS_URL).hostname))('connects to a Redis named by an IPv6 address in brackets', async () => {
    const prefix = uniqueName('tst');
    const url = new URL(TEST_REDIS_URL!);
    const adapter = createBullMQAdapter({ connection: { redis: `redis://[::1]:${url.port || 6379}`, prefix }, name: uniqueName('app'), closeTimeoutMs: 1_000 });
    try {
      const answer = await Promise.race([adapter.queue.size(), sleep(5_000).then(() => 'no answer')]);
      expect(answer).toBe(0);
    } finally {
      await adapter.close();
    }
  });
});
