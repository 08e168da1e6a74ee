import type { OfferResult, Queue } from '../contracts/queue.js';
import type { QueuedTask } from '../contracts/task.js';
import { IndexedHeap, type HeapNode } from '../util/indexed-heap.js';
import { mergeQueuedTask } from './merge.js';

interface Entry<P> extends HeapNode {
  task: QueuedTask<P>;
  seq: number;
  where: 'ready' | 'delayed' | 'parked' | 'inflight';
}

/** Highest priority, then nearest deadline, then oldest offer. */
const readyOrder = <P>(a: Entry<P>, b: Entry<P>) =>
  a.task.priority !== b.task.priority
    ? a.task.priority > b.task.priority
    : a.task.deadline !== b.task.deadline
      ? a.task.deadline < b.task.deadline
      : a.seq < b.seq;

const delayOrder = <P>(a: Entry<P>, b: Entry<P>) =>
  a.task.notBefore !== b.task.notBefore ? a.task.notBefore < b.task.notBefore : a.seq < b.seq;

/**
 * The in-process Queue. One entry per key (queued or in flight), so memory is bounded by the
 * number of distinct keys. Tasks not yet available wait in a heap on `notBefore`, available ones
 * in a heap on (priority, deadline); tasks of paused jobs are parked aside so they cost nothing
 * on `take`.
 */
export function createMemoryQueue<P = unknown>(): Queue<P> {
  const entries = new Map<string, Entry<P>>();
  const ready = new IndexedHeap<Entry<P>>(readyOrder);
  const delayed = new IndexedHeap<Entry<P>>(delayOrder);
  const parked = new Set<Entry<P>>();
  const pausedJobs = new Set<string>();
  let pausedAll = false;
  let seq = 0;
  const queuedByJob = new Map<string, number>();
  const inFlightByJob = new Map<string, number>();

  const bump = (counts: Map<string, number>, job: string, by: number) => {
    const n = (counts.get(job) ?? 0) + by;
    if (n === 0) counts.delete(job);
    else counts.set(job, n);
  };

  const unplace = (e: Entry<P>) => {
    if (e.where === 'ready') ready.remove(e);
    else if (e.where === 'delayed') delayed.remove(e);
    else if (e.where === 'parked') parked.delete(e);
    if (e.where !== 'inflight') bump(queuedByJob, e.task.job, -1);
  };

  // The latest time `take` was asked about. Tasks available by then skip the delay heap: most
  // offers are available at once, and a heap round-trip per task is measurable at 50k tasks/s.
  let lastNow = Number.NEGATIVE_INFINITY;

  const place = (e: Entry<P>) => {
    if (pausedJobs.has(e.task.job)) {
      e.where = 'parked';
      parked.add(e);
    } else if (e.task.notBefore <= lastNow) {
      e.where = 'ready';
      ready.push(e);
    } else {
      e.where = 'delayed';
      delayed.push(e);
    }
    bump(queuedByJob, e.task.job, 1);
  };

  const total = (counts: Map<string, number>, job?: string) => {
    if (job !== undefined) return counts.get(job) ?? 0;
    let n = 0;
    for (const v of counts.values()) n += v;
    return n;
  };

const offerOne = (task: QueuedTask<P>): OfferResult => {
    const existing = entries.get(task.key);
    if (!existing) {
      const e: Entry<P> = { task: { ...task }, seq: seq++, heapIndex: -1, where: 'delayed' };
      entries.set(task.key, e);
      place(e);
      return 'added';
    }
    if (existing.where === 'inflight') return 'inflight';
    unplace(existing);
    existing.task = mergeQueuedTask(existing.task, task);
    place(existing);
    return 'merged';
  };

  return {
    async offer(tasks) {
      return tasks.map(offerOne);
    },

    async take(max, now) {
      lastNow = Math.max(lastNow, now);
      if (pausedAll || max <= 0) return [];
      for (let d = delayed.peek(); d && d.task.notBefore <= now; d = delayed.peek()) {
        delayed.pop();
        d.where = 'ready';
        ready.push(d);
      }
      const out: QueuedTask<P>[] = [];
      while (out.length < max) {
        const e = ready.pop();
        if (!e) break;
        bump(queuedByJob, e.task.job, -1);
        bump(inFlightByJob, e.task.job, 1);
        e.where = 'inflight';
        out.push(e.task);
      }
      return out;
    },

    async ack(keys) {
      for (const key of keys) {
        const e = entries.get(key);
        if (!e || e.where !== 'inflight') continue;
        entries.delete(key);
        bump(inFlightByJob, e.task.job, -1);
      }
    },

    async retry(task, at) {
      const e = entries.get(task.key);
      if (e && e.where !== 'inflight') {
        // Offered again while in flight is impossible (offers are dropped), but a caller may
        // retry a task it never took: treat as an offer with the retry's availability.
        unplace(e);
        e.task = { ...e.task, attempt: task.attempt, notBefore: Math.max(at, e.task.notBefore) };
        place(e);
        return;
      }
      if (e) bump(inFlightByJob, e.task.job, -1);
      const entry: Entry<P> = e ?? { task, seq: seq++, heapIndex: -1, where: 'delayed' };
      entry.task = { ...task, notBefore: at };
      entries.set(task.key, entry);
      place(entry);
    },

    async remove(key) {
      const e = entries.get(key);
      if (!e || e.where === 'inflight') return false;
      unplace(e);
      entries.delete(key);
      return true;
    },

    async size(job) {
      return total(queuedByJob, job);
    },

    async inFlight(job) {
      return total(inFlightByJob, job);
    },

    async nextAvailableAt() {
      if (pausedAll) return undefined;
      if (ready.size > 0) return Number.NEGATIVE_INFINITY;
      return delayed.peek()?.task.notBefore;
    },

    async pause(job) {
      if (job === undefined) {
        pausedAll = true;
        return;
      }
      if (pausedJobs.has(job)) return;
      pausedJobs.add(job);
      for (const e of [...ready.values(), ...delayed.values()]) {
        if (e.task.job !== job) continue;
        unplace(e);
        place(e);
      }
    },

    async resume(job) {
      if (job === undefined) {
        pausedAll = false;
        return;
      }
      if (!pausedJobs.delete(job)) return;
      for (const e of [...parked]) {
        if (e.task.job !== job) continue;
        unplace(e);
        place(e);
      }
    },

    async isPaused(job) {
      return pausedAll || (job !== undefined && pausedJobs.has(job));
    },

    async clear(job) {
      let n = 0;
      for (const e of [...entries.values()]) {
        if (e.where === 'inflight' || (job !== undefined && e.task.job !== job)) continue;
        unplace(e);
        entries.delete(e.task.key);
        n++;
      }
      return n;
    },

    async close() {},
  };
}
