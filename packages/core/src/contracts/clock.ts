/**
 * Clock — the only source of time in tidesync.
 *
 * Guarantees every implementation must keep:
 * - `now()` is epoch milliseconds and never goes backwards within one clock.
 * - A timer fires no earlier than `now() + ms` as seen by the same clock, and timers due at the
 *   same instant fire in the order they were set.
 * - `sleep(ms, signal)` rejects with `AbortedError` as soon as `signal` aborts, and never resolves
 *   after that.
 *
 * Everything time-based in core (scheduler, limiter, retries, batching, drain deadlines) goes
 * through a Clock, which is what lets tests and simulations run a whole day on a virtual clock.
 */
export interface TimerHandle {
  /** Cancel the timer; a no-op if it already fired. */
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimer(callback: () => void, ms: number): TimerHandle;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
