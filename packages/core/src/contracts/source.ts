import type { QueuedTask } from './task.js';

/**
 * Source — the user's fetch: turns one task into the complete truth for its scope.
 *
 * Contract towards the engine:
 * - `fetch` honours `signal`: when it aborts, the fetch stops and rejects (the engine re-queues
 *   the task; nothing is written).
 * - Errors are classified by type: `RetryableError` (timeouts, network, 5xx, malformed bodies),
 *   `RateLimitedError` with `until` (the whole budget freezes until then), `PermanentError`
 *   (dead-lettered without retries). Anything else thrown counts as retryable.
 * - A resolved value is the whole scope: rows absent from it are deleted from the store. Return
 *   an empty array for "nothing there", never for "could not tell" — throw instead.
 * - Errors must not carry secrets (tokens, credentials) in their messages.
 */
export interface FetchContext {
  signal: AbortSignal;
  /** 1 for the first try. */
  attempt: number;
}

export interface Source<P = unknown, D = unknown> {
  fetch(task: QueuedTask<P>, context: FetchContext): Promise<D>;
  close?(): Promise<void>;
}
