/**
 * The three cadences: today; days +1…+SYNC_WEEK_DAYS; days +1…+SYNC_MONTH_DAYS — every product on
 * its operating weekdays only, dates in SYNC_TIMEZONE. Keys are shared (`inventory:<id>:<date>`),
 * so a date covered by two cadences is one queued fetch, kept as fresh as the faster cadence
 * needs. Each job's freshness target is core's default: its own cron's period.
 */
import type { JobDefinition, TaskSpec } from '@tidesync/core';
import { addDays, dateIn, weekdayOf } from './calendar.js';
import { inventoryKey, type InventoryTask } from './inventory-store.js';
import { partnerSlots } from './partner-payload.js';
import type { ProductsRepository } from './products-repository.js';

export const CADENCES = ['today', 'week', 'month'] as const;
export type Cadence = (typeof CADENCES)[number];

export interface CadenceConfig {
  timezone: string;
  cron: Record<Cadence, string>;
  weekDays: number;
  monthDays: number;
}

/** The last date any cadence covers: rows beyond it are never refreshed, so never served. */
export function lastSyncedDate(today: string, config: Pick<CadenceConfig, 'weekDays' | 'monthDays'>): string {
  return addDays(today, Math.max(config.weekDays, config.monthDays));
}

/** Day offsets from today each cadence covers. */
export function cadenceOffsets(cadence: Cadence, config: Pick<CadenceConfig, 'weekDays' | 'monthDays'>): number[] {
  if (cadence === 'today') return [0];
  const last = cadence === 'week' ? config.weekDays : config.monthDays;
  return Array.from({ length: last }, (_, i) => i + 1);
}

export function inventoryJobs(config: CadenceConfig, products: ProductsRepository): JobDefinition<InventoryTask>[] {
  return CADENCES.map((cadence) => {
    const offsets = cadenceOffsets(cadence, config);
    return {
      name: cadence,
      schedule: config.cron[cadence],
      timezone: config.timezone,
      runOnStart: true,
      validate: partnerSlots,
      plan: async ({ now }): Promise<TaskSpec<InventoryTask>[]> => {
        const today = dateIn(now, config.timezone);
        const dates = offsets.map((offset) => addDays(today, offset));
        const tasks: TaskSpec<InventoryTask>[] = [];
        // While the database is away the last known products are planned: fetches go on, and their
        // writes are retried by the engine until it is back.
        for (const product of await products.listForPlanning()) {
          for (const date of dates) {
            if (!product.days.includes(weekdayOf(date))) continue;
            tasks.push({ key: inventoryKey(product.productId, date), payload: { productId: product.productId, date } });
          }
        }
        return tasks;
      },
    };
  });
}
