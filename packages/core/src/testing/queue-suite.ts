import { describe, expect, it } from 'vitest';
import type { Queue } from '../contracts/queue.js';
import type { QueuedTask } from '../contracts/task.js';

export interface QueueHarness {
  queue: Queue<{ n: number }>;
  cleanup?(): Promise<void>;
}

const task = (key: string, fields: Partial<QueuedTask<{ n: number }>> = {}): QueuedTask<{ n: number }> => ({
  key,
  scope: key,
  job: 'job',
  payload: { n: 0 },
  priority: 0,
  deadline: 1_000,
  attempt: 1,
  notBefore: 0,
  enqueuedAt: 0,
  ...fields,
});

/** The suite's view of a queue: single-key offer/ack on top of the batch API. */
type OneByOne = Omit<Queue<{ n: number }>, 'offer' | 'ack'> & {
  offer(task: QueuedTask<{ n: number }>): Promise<string>;
  offerBatch: Queue<{ n: number }>['offer'];
  ack(key: string): Promise<void>;
};

const oneByOne = (q: Queue<{ n: number }>): OneByOne =>
  Object.assign(Object.create(q) as Queue<{ n: number }>, {
    offer: async (t: QueuedTask<{ n: number }>) => (await q.offer([t]))[0]!,
    offerBatch: (tasks: readonly QueuedTask<{ n: number }>[]) => q.offer(tasks),
    ack: (key: string) => q.ack([key]),
  }) as unknown as OneByOne;

export interface QueueConformanceFlags {
  /**
   * The queue runs on real time (a distributed queue promotes delayed work by the wall clock and
   * ignores `take`'s `now`). Times in the suite then start at `Date.now()`, are scaled down five
   * times, and the suite waits for them to pass.
   */
  realClock?: boolean;
  /** Deadlines closer than this may be served in offer order; the suite spaces them by it. */
  deadlineResolutionMs?: number;
}

/** The suite's times: deadlines `d(x)`, availability times `t(x)`, and `reach(x)` to let `t(x)` pass. */
interface SuiteTime {
  d(x: number): number;
  t(x: number): number;
  /** The present: wall-clock time on a real clock, a late suite time otherwise. */
  now(): number;
  reach(x: number): Promise<void>;
  /** Waits until `now()` is later than `time` (times are whole milliseconds). */
  pass(time: number): Promise<void>;
}

const suiteTime = (flags: QueueConformanceFlags): SuiteTime => {
  const step = flags.deadlineResolutionMs ?? 1;
  if (!flags.realClock) return { d: (x) => x * step, t: (x) => x, now: () => 100, reach: async () => {}, pass: async () => {} };
  const base = Date.now();
  const t = (x: number) => base + Math.round(x / 5);
  return {
    d: (x) => base + x * step,
    t,
    now: () => Date.now(),
    async reach(x) {
      const wait = t(x) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait + 20));
    },
    async pass(time) {
      while (Date.now() <= time) await new Promise((r) => setTimeout(r, 1));
    },
  };
};

/** The Queue contract as one vitest suite; every Queue adapter runs it. */
export function queueConformance(name: string, factory: () => Promise<QueueHarness>, flags: QueueConformanceFlags = {}): void {
  describe(`Queue conformance: ${name}`, () => {
    let d: SuiteTime['d'];
    let t: SuiteTime['t'];
    let reach: SuiteTime['reach'];
    let now: SuiteTime['now'];
    let pass: SuiteTime['pass'];
    const withQueue = (fn: (q: OneByOne) => Promise<void>) => async () => {
      const h = await factory();
      // Connect before the clock starts: a first round trip may take longer than the suite's gaps.
      if (flags.realClock) await h.queue.size();
      ({ d, t, reach, now, pass } = suiteTime(flags));
      try {
        await fn(oneByOne(h.queue));
      } finally {
        await h.queue.close?.();
        await h.cleanup?.();
      }
    };

    const keys = (tasks: QueuedTask[]) => tasks.map((x) => x.key);
    const tk = (key: string, fields: Partial<QueuedTask<{ n: number }>> = {}) => task(key, { deadline: d(1_000), notBefore: t(0), enqueuedAt: t(0), ...fields });

    it('hands out the nearest deadline first, then the oldest offer', withQueue(async (q) => {
      await q.offer(tk('late', { deadline: d(3_000) }));
      await q.offer(tk('soon', { deadline: d(1_000) }));
      await q.offer(tk('mid-a', { deadline: d(2_000) }));
      await q.offer(tk('mid-b', { deadline: d(2_000) }));
      expect(keys(await q.take(10, t(10)))).toEqual(['soon', 'mid-a', 'mid-b', 'late']);
    }));

    it('serves a higher priority class before any deadline of a lower one', withQueue(async (q) => {
      await q.offer(tk('far', { deadline: d(0), priority: -86_400 }));
      await q.offer(tk('today', { deadline: d(9_000), priority: -900 }));
      expect(keys(await q.take(2, t(10)))).toEqual(['today', 'far']);
    }));

    it('coalesces by key: earliest deadline and highest priority win, size stays at distinct keys', withQueue(async (q) => {
      expect(await q.offer(tk('k', { deadline: d(5_000), payload: { n: 1 } }))).toBe('added');
      for (let tick = 0; tick < 100; tick++) {
        expect(await q.offer(tk('k', { deadline: d(6_000 + tick), payload: { n: 2 } }))).toBe('merged');
      }
      expect(await q.offer(tk('k', { deadline: d(4_000), priority: -5, payload: { n: 3 }, job: 'week' }))).toBe('merged');
      expect(await q.offer(tk('k', { deadline: d(7_000), priority: 2, payload: { n: 4 }, job: 'month' }))).toBe('merged');
      expect(await q.size()).toBe(1);
      const [only] = await q.take(5, t(10));
      // The payload and the owning job follow the offer that set the deadline.
      expect(only).toMatchObject({ key: 'k', deadline: d(4_000), priority: 2, payload: { n: 3 }, job: 'week' });
    }));

    it('applies a batch of offers in order, merging a key offered twice', withQueue(async (q) => {
      expect(await q.offerBatch([tk('a', { deadline: d(9) }), tk('b'), tk('a', { deadline: d(3) })])).toEqual(['added', 'added', 'merged']);
      expect(await q.size()).toBe(2);
      expect(keys(await q.take(2, t(10)))).toEqual(['a', 'b']);
      await q.ack('a');
      await q.ack('never-offered');
      expect(await q.inFlight()).toBe(1);
    }));

    it('drops offers of a key in flight and reports them', withQueue(async (q) => {
      await q.offer(tk('k'));
      await q.take(1, t(10));
      expect(await q.offer(tk('k', { deadline: d(1) }))).toBe('inflight');
      expect(await q.size()).toBe(0);
      expect(await q.inFlight()).toBe(1);
      await q.ack('k');
      const finished = now();
      expect(await q.inFlight()).toBe(0);
      // Planned after the fetch finished (a shared queue may drop an offer planned before it). An
      // offer stamped in the very millisecond of the ack cannot be told from one planned just
      // before it, so the clock moves past the ack first.
      await pass(finished);
      expect(await q.offer(tk('k', { enqueuedAt: now() }))).toBe('added');
    }));

    it('does not hand out a task before notBefore, and says when one becomes available', withQueue(async (q) => {
      await q.offer(tk('later', { notBefore: t(500) }));
      expect(await q.take(1, t(100))).toEqual([]);
      expect(await q.nextAvailableAt()).toBe(t(500));
      await reach(500);
      expect(keys(await q.take(1, t(500)))).toEqual(['later']);
      expect(await q.nextAvailableAt()).toBeUndefined();
    }));

    it('puts a retried task back, available at the retry time, with its attempt', withQueue(async (q) => {
      await q.offer(tk('k'));
      const [t1] = await q.take(1, t(10));
      // Held a while before the retry: its availability counts from the retry, not from the offer.
      await reach(300);
      await q.retry({ ...t1!, attempt: 2 }, t(1_000));
      expect(await q.inFlight()).toBe(0);
      expect(await q.size()).toBe(1);
      expect(await q.nextAvailableAt()).toBe(t(1_000));
      expect(await q.take(1, t(999))).toEqual([]);
      await reach(1_000);
      const [again] = await q.take(1, t(1_000));
      expect(again).toMatchObject({ key: 'k', attempt: 2 });
    }));

    it('does not let a new offer cut a retry backoff short', withQueue(async (q) => {
      await q.offer(tk('k'));
      const [t1] = await q.take(1, t(10));
      await q.retry({ ...t1!, attempt: 2 }, t(5_000));
      expect(await q.offer(tk('k', { notBefore: t(20) }))).toBe('merged');
      expect(await q.take(1, t(4_999))).toEqual([]);
      await reach(5_000);
      expect(keys(await q.take(1, t(5_000)))).toEqual(['k']);
    }));

    it('a retry of a key queued meanwhile merges into it: available at the retry time, with the retry\'s attempt', withQueue(async (q) => {
      // A retry that finds its key queued (e.g. a shared queue put it back after a lost lock).
      expect(await q.offer(tk('k'))).toBe('added');
      await q.retry({ ...tk('k'), attempt: 3 }, t(5_000));
      expect(await q.size()).toBe(1);
      expect(await q.take(1, t(4_999))).toEqual([]);
      await reach(5_000);
      const [again] = await q.take(1, t(5_000));
      expect(again).toMatchObject({ key: 'k', attempt: 3 });
    }));

    it('pauses and resumes everything, keeping queued work', withQueue(async (q) => {
      await q.offer(tk('a'));
      await q.pause();
      expect(await q.isPaused()).toBe(true);
      expect(await q.take(1, t(10))).toEqual([]);
      expect(await q.nextAvailableAt()).toBeUndefined();
      await q.offer(tk('b'));
      await q.resume();
      expect(keys(await q.take(5, t(10))).sort()).toEqual(['a', 'b']);
    }));

    it('pauses one job without holding up the others', withQueue(async (q) => {
      await q.offer(tk('a1', { job: 'a', deadline: d(1) }));
      await q.offer(tk('b1', { job: 'b', deadline: d(2) }));
      await q.pause('a');
      expect(await q.isPaused('a')).toBe(true);
      expect(await q.isPaused('b')).toBe(false);
      expect(keys(await q.take(5, t(10)))).toEqual(['b1']);
      await q.offer(tk('a2', { job: 'a', deadline: d(0) }));
      expect(await q.size('a')).toBe(2);
      await q.resume('a');
      expect(keys(await q.take(5, t(10)))).toEqual(['a2', 'a1']);
    }));

    it('clears queued tasks of one job or all, and removes single keys', withQueue(async (q) => {
      await q.offer(tk('a1', { job: 'a' }));
      await q.offer(tk('a2', { job: 'a' }));
      await q.offer(tk('b1', { job: 'b' }));
      await q.offer(tk('c1', { job: 'c' }));
      expect(await q.remove('c1')).toBe(true);
      expect(await q.remove('c1')).toBe(false);
      expect(await q.clear('a')).toBe(2);
      expect(await q.size()).toBe(1);
      expect(await q.size('b')).toBe(1);
      expect(await q.clear()).toBe(1);
      expect(await q.size()).toBe(0);
    }));

    it('stays bounded by distinct keys under many ticks of overlapping plans', withQueue(async (q) => {
      for (let tick = 0; tick < 20; tick++) {
        for (let k = 0; k < 200; k++) await q.offer(tk(`k${k}`, { deadline: d(10_000 - tick), job: tick % 2 ? 'x' : 'y' }));
      }
      expect(await q.size()).toBe(200);
      expect((await q.take(1_000, t(10))).length).toBe(200);
    }));
  });
}
