import type { Clock, TimerHandle } from '../contracts/clock.js';
import type { ScopeWrite, Store, WriteResult } from '../contracts/store.js';
import type { QueuedTask } from '../contracts/task.js';
import { isStoreRejection } from '../errors.js';

export interface PendingWrite<D> {
  write: ScopeWrite<D>;
  task: QueuedTask;
}

export interface WriterHooks<D> {
  written(items: PendingWrite<D>[], result: WriteResult, durationMs: number): Promise<void>;
  failed(items: PendingWrite<D>[], error: unknown): Promise<void>;
}

/**
 * Groups fetched scopes into batches: one `store.write` per `batchSize` scopes, or sooner when the
 * oldest has waited `flushMs`. Writes run one at a time, in order, so a later fetch of a scope is
 * never overwritten by an earlier one. A batch the store rejects for its data is written again
 * scope by scope, in the same place in that order: one scope the store cannot take must not hold
 * back the others, and its own failure is then its key's (see `StoreRejectedError`).
 */
export class BatchWriter<D> {
  private buffer: PendingWrite<D>[] = [];
  private timer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  private writing = 0;
  /** Keys of the scopes waiting for, or in, a write (a key may be there twice). */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly store: Store<D>,
    private readonly clock: Clock,
    private readonly batchSize: number,
    private readonly flushMs: number,
    private readonly hooks: WriterHooks<D>,
  ) {}

  add(item: PendingWrite<D>): void {
    this.held.set(item.task.key, (this.held.get(item.task.key) ?? 0) + 1);
    this.buffer.push(item);
    if (this.buffer.length >= this.batchSize) void this.flush();
    else this.timer ??= this.clock.setTimer(() => void this.flush(), this.flushMs);
  }

  /** Scopes waiting for, or in, a write. */
  get pending(): number {
    return this.buffer.length + this.writing;
  }

  /** Whether a fetch of `key` waits for, or is in, a write (its hooks not yet done). */
  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** Write everything buffered; resolves when every write started so far has settled. */
  flush(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    while (this.buffer.length > 0) {
      const items = this.buffer.splice(0, this.batchSize);
      this.writing += items.length;
      this.chain = this.chain
        .then(() => this.write(items))
        // The hooks report their own failures; the chain must survive them for later batches.
        .catch(() => {})
        .finally(() => {
          this.writing -= items.length;
          for (const { task } of items) {
            const n = (this.held.get(task.key) ?? 1) - 1;
            if (n > 0) this.held.set(task.key, n);
            else this.held.delete(task.key);
          }
        });
    }
    return this.chain;
  }

  private async write(items: PendingWrite<D>[]): Promise<void> {
    // Two keys may share a scope: every write goes to the store, which keeps the later fetch as the
    // scope's truth and records both keys' success (the Store contract). Dropping the earlier one
    // here would leave its key without persisted freshness, refetched after a restart.
    const started = this.clock.now();
    let result: WriteResult;
    try {
      result = await this.store.write({ scopes: items.map((item) => item.write) });
    } catch (err) {
      if (items.length > 1 && isStoreRejection(err)) {
        for (const item of items) await this.write([item]);
        return;
      }
      await this.hooks.failed(items, err);
      return;
    }
    await this.hooks.written(items, result, this.clock.now() - started);
  }
}
