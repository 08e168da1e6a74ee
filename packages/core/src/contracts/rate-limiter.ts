/**
 * RateLimiter — the one budget every outbound request goes through, retries included.
 *
 * Guarantees every implementation must keep (checked by `rateLimiterConformance`):
 * - **Exact sliding window**: the costs granted in ANY interval of `windowMs` never add up to
 *   more than `limit`. Not a fixed window: a fixed window lets up to 2 × limit through around its
 *   edge.
 * - **FIFO**: waiters are granted in the order they called `acquire`; a large cost at the head is
 *   not overtaken by smaller ones behind it (no starvation).
 * - **Abortable**: an `acquire` whose signal aborts rejects with `AbortedError`, consumes nothing,
 *   and lets the waiters behind it move up.
 * - **Penalty**: after `penalize(until)` nothing is granted before `until` (epoch ms). Penalties
 *   only extend, never shorten, the freeze. Used when the remote answers 429 with a reset time.
 * - `acquire` with a cost above `limit` is rejected at once (it could never be granted).
 */
export interface RateLimiterUsage {
  limit: number;
  windowMs: number;
  /** Cost granted in the window ending now. */
  used: number;
  /** Callers waiting for a grant. */
  waiting: number;
  /** Epoch ms until which the budget is frozen by a penalty, if it is. */
  frozenUntil: number | undefined;
}

export interface RateLimiter {
  acquire(cost?: number, signal?: AbortSignal): Promise<void>;
  penalize(untilEpochMs: number): void | Promise<void>;
  usage(): RateLimiterUsage | Promise<RateLimiterUsage>;
  /**
   * Rejects every pending `acquire` with `AbortedError` and releases what the limiter holds. The
   * engine closes only a limiter it built itself from `{ limit, windowMs }` (the in-process sliding
   * window, which stays usable under the same window, so an engine restarted after `stop()` can
   * acquire from it again); a limiter passed in is its owner's to close.
   */
  close?(): Promise<void>;
}
