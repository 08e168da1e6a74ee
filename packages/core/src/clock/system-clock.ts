import { AbortedError } from '../errors.js';
import type { Clock, TimerHandle } from '../contracts/clock.js';

/** Node's timers cap a delay at 2^31 - 1 ms (~24.8 days); longer delays are chained. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The real clock. Its timers keep the process alive, as a scheduler's should: a worker process
 * whose only job is syncing must not exit between ticks. `engine.stop()` cancels them.
 */
export function createSystemClock(): Clock {
  const setTimer = (callback: () => void, ms: number): TimerHandle => {
    const due = Date.now() + Math.max(0, ms);
    let handle: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = due - Date.now();
      handle = setTimeout(left > MAX_TIMER_MS ? arm : callback, Math.min(Math.max(0, left), MAX_TIMER_MS));
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  };
  return {
    now: () => Date.now(),
    setTimer,
    sleep: (ms, signal) => sleepWith(setTimer, ms, signal),
  };
}

/** `sleep` on top of any `setTimer`, shared by both clocks so their abort semantics match. */
export function sleepWith(
  setTimer: (callback: () => void, ms: number) => TimerHandle,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortedError());
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      timer.cancel();
      reject(new AbortedError());
    };
    const timer = setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
