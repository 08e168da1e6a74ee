import { AbortedError, SyncError } from '../errors.js';

/** One caller of `acquire` waiting for its grant. */
export interface Waiter {
  readonly cost: number;
  /** Granted, rejected or aborted: no longer waiting. */
  readonly done: boolean;
}

interface Entry extends Waiter {
  done: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The FIFO line of a rate limiter's callers, shared by every RateLimiter implementation so they
 * all keep the contract's order and abort rules the same way:
 * - callers are served strictly in arrival order: only `first()` may be granted;
 * - an aborted caller is rejected with `AbortedError` at once and leaves the line, and the owner's
 *   `onAborted(waiter)` runs so it can let the next one move up;
 * - memory stays proportional to the callers still waiting (the line is compacted as it drains).
 */
export class FifoWaiters {
  private list: Entry[] = [];
  private head = 0;

  constructor(private readonly onAborted: (waiter: Waiter) => void) {}

  /** Join the line; resolves when `grant` is called for this waiter. */
  join(cost: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { cost, resolve, reject, done: false, signal, onAbort: undefined };
      if (signal) {
        entry.onAbort = () => {
          if (entry.done) return;
          entry.done = true;
          reject(new AbortedError());
          this.onAborted(entry);
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.list.push(entry);
    });
  }

  /** The caller at the head of the line, if any. */
  first(): Waiter | undefined {
    while (this.head < this.list.length && this.list[this.head]!.done) this.head++;
    if (this.head > 1024 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
    return this.list[this.head];
  }

  grant(waiter: Waiter): void {
    const entry = this.settle(waiter);
    entry?.resolve();
  }

  /** Reject everyone still waiting (the limiter closes, or can never grant). */
  rejectAll(err: Error): void {
    for (let w = this.first(); w; w = this.first()) this.settle(w)?.reject(err);
  }

  get waiting(): number {
    let n = 0;
    for (let i = this.head; i < this.list.length; i++) if (!this.list[i]!.done) n++;
    return n;
  }

  private settle(waiter: Waiter): Entry | undefined {
    const entry = waiter as Entry;
    if (entry.done) return undefined;
    entry.done = true;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    return entry;
  }
}

/** The contract's rule for costs: a whole number from 1 to the limit (a larger one could never be granted). */
export function invalidCost(cost: number, limit: number): SyncError | undefined {
  if (Number.isInteger(cost) && cost >= 1 && cost <= limit) return undefined;
  return new SyncError('CONFIG_INVALID', `acquire cost must be an integer from 1 to the limit (${limit}), got ${cost}`);
}
