import type { Clock, TimerHandle } from '../contracts/clock.js';
import { IndexedHeap, type HeapNode } from '../util/indexed-heap.js';
import { sleepWith } from './system-clock.js';

/**
 * A deterministic clock for tests and simulations. Time moves only through `advance`/`advanceTo`:
 * timers fire in due order (ties in the order they were set), and after each one the promise
 * jobs it started run to completion before the next timer fires — so a whole day of cron ticks,
 * rate-limit waits and retries plays out in order, instantly.
 */
export interface VirtualClock extends Clock {
  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): Promise<void>;
  advanceTo(epochMs: number): Promise<void>;
  /** Let pending promise jobs, and the timers due now, run without moving time. */
  flush(): Promise<void>;
  /** Number of timers not yet fired. */
  pendingTimers(): number;
}

interface Timer extends HeapNode {
  due: number;
  seq: number;
  callback: () => void;
}

/**
 * Resolve once every pending promise job, and those they queue, has run: `setImmediate` callbacks
 * run only after the microtask queue is empty.
 */
const drainMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createVirtualClock(options: { start?: number | Date } = {}): VirtualClock {
  let now = options.start instanceof Date ? options.start.getTime() : (options.start ?? Date.UTC(2026, 0, 1));
  let seq = 0;
  const timers = new IndexedHeap<Timer>((a, b) => a.due < b.due || (a.due === b.due && a.seq < b.seq));

  const setTimer = (callback: () => void, ms: number): TimerHandle => {
    const timer: Timer = { due: now + Math.max(0, ms), seq: seq++, callback, heapIndex: -1 };
    timers.push(timer);
    return { cancel: () => void timers.remove(timer) };
  };

  const advanceTo = async (epochMs: number) => {
    await drainMicrotasks();
    for (let next = timers.peek(); next && next.due <= epochMs; next = timers.peek()) {
      timers.pop();
      if (next.due > now) now = next.due;
      next.callback();
      await drainMicrotasks();
    }
    if (epochMs > now) now = epochMs;
  };

  return {
    now: () => now,
    setTimer,
    sleep: (ms, signal) => sleepWith(setTimer, ms, signal),
    advance: (ms) => advanceTo(now + ms),
    advanceTo,
    flush: () => advanceTo(now),
    pendingTimers: () => timers.size,
  };
}
