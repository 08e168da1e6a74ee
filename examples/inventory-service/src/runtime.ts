/**
 * What the service builds before Nest starts and the controllers share: configuration, database,
 * repositories, and the few engine-facing helpers the HTTP layer needs.
 */
import type { SyncEngine } from '@tidesync/core';
import type { ServiceConfig } from './config.js';
import type { Db } from './database.js';
import type { InventoryQueries } from './inventory-queries.js';
import type { ProductsRepository } from './products-repository.js';

export class ServiceRuntime {
  private engine: SyncEngine | undefined;
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

  attach(engine: SyncEngine): void {
    this.engine = engine;
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

  /** Plan every cadence now; keys still fresh are skipped, so only a new or changed product costs requests. */
  async planNow(): Promise<void> {
    await this.engine?.trigger(undefined, { force: false });
  }
}
