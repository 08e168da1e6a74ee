/**
 * Where fetched inventory lands: adapter-postgres with two mapped tables, both scoped by
 * (product_id, date) — one fetch replaces exactly one product's day:
 * - `slots`, keyed by start_time: a re-keyed provider slot id updates the row in place;
 * - `slot_pax`, keyed by (start_time, type): availability and prices per passenger type, `numeric`.
 * Primary keys are scope + key columns, so both read endpoints are index range scans.
 */
import { createPostgresStore, type PostgresStore, type Queryable, type TableMapping } from '@tidesync/adapter-postgres';
import type { Logger } from '@tidesync/core';
import type { PartnerSlot } from './partner-payload.js';

export interface InventoryTask {
  productId: number;
  date: string;
}

/** What every inventory key starts with. */
export const INVENTORY_KEY_PREFIX = 'inventory:';

/** Key and scope of one fetch: one product on one date (the date last, so keys end in YYYY-MM-DD). */
export const inventoryKey = (productId: number, date: string) => `${INVENTORY_KEY_PREFIX}${productId}:${date}`;

/** What every key of one product starts with (`inventory:16:` never matches product 160). */
export const inventoryKeyPrefix = (productId: number) => `${INVENTORY_KEY_PREFIX}${productId}:`;

const INVENTORY_KEY = new RegExp(`^${INVENTORY_KEY_PREFIX}(\\d+):(\\d{4}-\\d{2}-\\d{2})$`);

export function parseInventoryKey(key: string): InventoryTask {
  const m = INVENTORY_KEY.exec(key);
  if (!m) throw new Error(`not an inventory key: ${key}`);
  return { productId: Number(m[1]), date: m[2]! };
}

const scope = { product_id: 'integer', date: 'date' } as const;

export const SLOTS_TABLE: TableMapping = {
  name: 'slots',
  columns: {
    ...scope,
    start_time: 'text',
    end_time: 'text',
    provider_slot_id: 'text',
    remaining: 'integer',
    currency: 'text',
    variant_id: 'integer',
  },
  key: ['start_time'],
  scope: ['product_id', 'date'],
};

export const SLOT_PAX_TABLE: TableMapping = {
  name: 'slot_pax',
  columns: {
    ...scope,
    start_time: 'text',
    type: 'text',
    name: 'text',
    description: 'text',
    min: 'integer',
    max: 'integer',
    remaining: 'integer',
    is_primary: 'boolean',
    final_price: 'numeric',
    original_price: 'numeric',
    discount: 'numeric',
    currency: 'text',
  },
  key: ['start_time', 'type'],
  scope: ['product_id', 'date'],
};

/** A validated partner payload → rows per table. */
export function inventoryRows(slots: readonly PartnerSlot[]) {
  return {
    slots: slots.map((s) => ({
      start_time: s.startTime,
      end_time: s.endTime,
      provider_slot_id: s.providerSlotId,
      remaining: s.remaining,
      currency: s.currencyCode,
      variant_id: s.variantId,
    })),
    slot_pax: slots.flatMap((s) =>
      s.paxAvailability.map((p) => ({
        start_time: s.startTime,
        type: p.type,
        name: p.name ?? null,
        description: p.description ?? null,
        min: p.min ?? null,
        max: p.max ?? null,
        remaining: p.remaining,
        is_primary: p.isPrimary ?? false,
        final_price: p.price.finalPrice,
        original_price: p.price.originalPrice,
        discount: p.price.discount ?? null,
        currency: p.price.currencyCode,
      })),
    ),
  };
}

export function createInventoryStore(client: Queryable, schema: string, logger?: Logger): PostgresStore<PartnerSlot[]> {
  return createPostgresStore<PartnerSlot[]>({
    client,
    schema,
    tables: [SLOTS_TABLE, SLOT_PAX_TABLE],
    rows: (data) => inventoryRows(data),
    scopeValues: (s) => {
      const { productId, date } = parseInventoryKey(s);
      return { product_id: productId, date };
    },
    autoMigrate: true,
    ...(logger ? { logger } : {}),
  });
}
