/**
 * What the service builds before Nest starts and the controllers share: configuration, database,
 * repositories, and the few engine-facing helpers the HTTP layer needs.
 */
import type { Queue, SyncEngine } from '@tidesync/core';
import { addDays, dateIn, weekdayOf, type Weekday } from './calendar.js';
import type { ServiceConfig } from './config.js';
import type { Db } from './database.js';
import { inventoryKey, inventoryKeyPrefix, parseInventoryKey } from './inventory-store.js';
import type { InventoryQueries } from './inventory-queries.js';
import type { ProductsRepository } from './products-repository.js';

export class ServiceRuntime {
  private engine: SyncEngine | undefined;
  private queue: Queue | undefined;
  /** Request starts per cadence inside the current rate window, for `budgetUsed` in the status. */
  private readonly starts = new Map<string, number[]>();

  constructor(
    readonly config: ServiceConfig,
    readonly db: Db,
    readonly products: ProductsRepository,
    readonly queries: InventoryQueries,
    readonly rateWindowMs: number,
    readonly now: () => number = Date.now,
  ) {}

  attach(engine: SyncEngine, queue: Queue): void {
    this.engine = engine;
    this.queue = queue;
    engine.on('task:start', ({ job }) => {
      const list = this.starts.get(job) ?? [];
      list.push(this.now());
      this.starts.set(job, this.prune(list));
    });
  }

  private prune(list: number[]): number[] {
    const from = this.now() - this.rateWindowMs;
    const first = list.findIndex((at) => at > from);
    return first === -1 ? [] : first === 0 ? list : list.slice(first);
  }

  requestsInWindow(): Record<string, number> {
    return Object.fromEntries([...this.starts].map(([job, list]) => [job, this.prune(list).length]));
  }

  /**
   * Drop a deleted product's queued keys, so none of them reaches the partner (a day either side
   * of the cadences' range covers a date change in between), then plan: the plan no longer covers
   * the product, so the engine drops its keys (but those in flight; `planAdded` forgets them all
   * when the product comes back). Returns how many keys were queued.
   */
  async forgetProduct(productId: number): Promise<number> {
    if (!this.queue) return 0;
    const today = dateIn(this.now(), this.config.timezone);
    let removed = 0;
    for (let offset = -1; offset <= Math.max(this.config.weekDays, this.config.monthDays) + 1; offset++) {
      if (await this.queue.remove(inventoryKey(productId, addDays(today, offset)))) removed++;
    }
    // The delete is committed: a plan that fails here only leaves the forgetting to the next tick.
    await this.planNow().catch(() => undefined);
    return removed;
  }

  /** Plan every cadence now; keys still fresh are skipped, so only a new or changed product costs requests. */
  async planNow(): Promise<void> {
    await this.engine?.trigger(undefined, { force: false });
  }

  /**
   * Plan every cadence now for a product just added (or for weekdays just added to it), its keys
   * due at once whatever the engine remembers: added back after a delete, or a weekday dropped and
   * added again, they have no rows or stale ones (and a fetch in flight at the delete still counted
   * as a success, though its write was dropped). A key still being fetched or written now — its
   * fetch may have started while the product was gone, and answered nothing — is fetched once more
   * when that write is done (the engine's `forget`).
   */
  async planAdded(productId: number, days?: readonly Weekday[]): Promise<void> {
    const prefix = inventoryKeyPrefix(productId);
    const forget = (key: string) => key.startsWith(prefix) && (days === undefined || days.includes(weekdayOf(parseInventoryKey(key).date)));
    await this.engine?.trigger(undefined, { force: false, forget });
  }
}
