/**
 * Tasks — the unit of work: one fetch of one key.
 *
 * - `key` identifies the fetch (`inventory:14:2026-11-26`). Two plans that produce the same key
 *   are the same work: they coalesce into one queued task.
 * - `scope` is what the fetch result replaces in the Store (defaults to the key). A successful
 *   fetch is the complete truth for its scope.
 * - `deadline` is when the key's stored copy goes stale (epoch ms); the queue serves the nearest
 *   deadline first within a priority class.
 */

/** What a job's `plan(tick)` returns: one entry per key the tick covers. */
export interface TaskSpec<P = unknown> {
  key: string;
  /** Defaults to `key`. */
  scope?: string;
  payload: P;
  /** Higher wins. Defaults to the job's priority. */
  priority?: number;
  /** Freshness target for this key in ms. Defaults to the job's `freshFor`. */
  freshFor?: number;
}

/** A task as queued: fully resolved, owned by the job whose offer set its deadline. */
export interface QueuedTask<P = unknown> {
  key: string;
  scope: string;
  job: string;
  payload: P;
  priority: number;
  /** Epoch ms at which the key is (or was) due. */
  deadline: number;
  /** 1 for the first try; incremented by each retry. */
  attempt: number;
  /** Epoch ms before which the task must not be handed out (retry backoff, rate-limit reset). */
  notBefore: number;
  /** Epoch ms at which the key first entered the queue in this round. */
  enqueuedAt: number;
}
