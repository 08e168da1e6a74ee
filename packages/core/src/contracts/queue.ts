import type { QueuedTask } from './task.js';

/**
 * Queue — coalescing, deadline-first work queue.
 *
 * Guarantees every implementation must keep (checked by `queueConformance`):
 * - **Coalescing**: a key is queued at most once. Offering a key that is already queued merges
 *   into the queued entry: the earliest deadline and the highest priority win, and the payload and
 *   owning job follow the offer that set the deadline. So `size()` never exceeds the number of
 *   distinct keys, however many ticks offer them.
 * - **In flight**: a key handed out by `take` and not yet `ack`ed or `retry`ed is in flight; an
 *   offer of it is dropped (`'inflight'`), since the running fetch will refresh it.
 * - **Order**: `take` hands out tasks whose `notBefore <= now`, highest priority first, then the
 *   nearest deadline, then the oldest offer. Tasks of a paused job are never handed out.
 * - **Retry**: `retry(task, at)` puts an in-flight task back, not available before `at`; if the key
 *   was offered again meanwhile the two merge.
 * - `pause()`/`resume()` without a job stop/restart handing out everything; queued work is kept.
 * - Operations are atomic with respect to each other; implementations may be shared by several
 *   engine instances only if they say so, by setting `shared`.
 * - A **shared** queue receives work from other processes, so the engine cannot know when work
 *   arrives: it subscribes with `watch`, and re-reads each planned key's freshness from the Store
 *   at every tick (another instance may have fetched it).
 */
export type OfferResult = 'added' | 'merged' | 'inflight';

export interface Queue<P = unknown> {
  /**
   * Offer tasks; one result per task, in order. Batched because a tick offers thousands of keys
   * and a shared queue should not pay a round trip for each. Offers in one batch are applied in
   * order, so a key twice in one batch merges like two separate offers.
   */
  offer(tasks: readonly QueuedTask<P>[]): Promise<OfferResult[]>;
  /** Up to `max` available tasks, best first; they become in flight. */
  take(max: number, now: number): Promise<QueuedTask<P>[]>;
  /** These in-flight tasks are finished (success or given up). Unknown keys are ignored. */
  ack(keys: readonly string[]): Promise<void>;
  /** Put an in-flight task back, available again at `at`. */
  retry(task: QueuedTask<P>, at: number): Promise<void>;
  /** Remove a queued (not in-flight) key; returns whether it was queued. */
  remove(key: string): Promise<boolean>;
  /** Queued (not in-flight) tasks, optionally of one job. */
  size(job?: string): Promise<number>;
  /** Keys in flight, optionally of one job. */
  inFlight(job?: string): Promise<number>;
  /**
   * Earliest `notBefore` among tasks that could be handed out (not paused), or undefined when
   * nothing could. Lets a worker sleep exactly until work becomes available.
   */
  nextAvailableAt(): Promise<number | undefined>;
  pause(job?: string): Promise<void>;
  resume(job?: string): Promise<void>;
  isPaused(job?: string): Promise<boolean>;
  /** Drop queued tasks (of one job, or all). In-flight keys are not affected. */
  clear(job?: string): Promise<number>;
  /** Release resources. */
  close?(): Promise<void>;
  /** Set by queues that several engine instances (processes, hosts) use at once. */
  readonly shared?: boolean;
  /**
   * Call `listener` whenever work may have become available through someone else (another
   * instance's offer, a resumed job) — with `{ abort }` when another instance asked every instance
   * to abort the fetches of a job (`'*'`: all jobs). Returns the unsubscribe. In-process queues
   * need not offer it.
   */
  watch?(listener: (signal?: QueueSignal) => void): () => void;
  /** Ask every other instance sharing this queue to abort its fetches of `job` (all when undefined). */
  broadcastAbort?(job: string | undefined): Promise<void>;
}

/** What a shared queue passes on from other instances. */
export interface QueueSignal {
  abort?: string;
}
