import type { Tick } from '../contracts/scheduler.js';
import type { WriteResult } from '../contracts/store.js';
import type { SyncErrorCode } from '../errors.js';

/** Every event of the engine, with its one payload object. */
export interface SyncEvents {
  started: { at: number };
  /**
   * `unfinished`: the steps `stop()` gave up waiting for after `drainMs + stopTimeoutMs` (a backend
   * that did not answer), when there were any.
   */
  stopped: { at: number; aborted: number; unfinished?: string[] };
  /** A job planned a tick: how many keys it covered and what became of them. */
  tick: { job: string; tick: Tick; planned: number; enqueued: number; merged: number; fresh: number; inFlight: number };
  'tick:skipped': { job: string; tick: Tick; reason: 'overlap' | 'not-leader' };
  'task:start': { job: string; key: string; attempt: number };
  'task:done': { job: string; key: string; scope: string; attempt: number; fetchedAt: number; late: boolean };
  'task:retry': { job: string; key: string; attempt: number; at: number; code: SyncErrorCode | 'UNKNOWN'; error: string };
  'task:failed': { job: string; key: string; attempt: number; code: SyncErrorCode | 'UNKNOWN'; error: string; deadLettered: boolean };
  'task:aborted': { job: string; key: string };
  'batch:written': { scopes: number; result: WriteResult; durationMs: number };
  'batch:failed': { scopes: number; error: string };
  'ratelimit:wait': { waitedMs: number };
  /**
   * `until`: when the budget thaws; `requested`: the remote's reset, when it was a number out of
   * bounds (past `maxRateLimitPenaltyMs`, or less than a second away) and `until` replaced it.
   */
  'ratelimit:penalty': { key: string; until: number; requested?: number };
  paused: { job: string | undefined };
  resumed: { job: string | undefined };
  aborted: { job: string | undefined; count: number };
  /** A background failure that is not a task's own (store state, listener, planner). */
  error: { where: string; error: string };
}
