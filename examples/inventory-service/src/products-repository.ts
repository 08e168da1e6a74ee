/**
 * Products the service syncs, with their operating weekdays: the service's own table, next to the
 * tables adapter-postgres manages. The cadences read it at every tick, so a change takes effect at
 * the next plan (and the API triggers one right away).
 */
import { quoteIdent } from '@tidesync/adapter-postgres';
import { WEEKDAYS, type Weekday } from './calendar.js';
import { StorageUnavailableError, type Db } from './database.js';
import { INVENTORY_KEY_PREFIX, inventoryKeyPrefix } from './inventory-store.js';

export interface Product {
  productId: number;
  days: Weekday[];
}

const sortDays = (days: readonly Weekday[]) => WEEKDAYS.filter((d) => days.includes(d));

/** Serialises async work: each call starts after the previous one settled. */
export function serialiser(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
}

export class ProductsRepository {
  private readonly table: string;
  private readonly schema: string;
  /** adapter-postgres's documented sync-state table: the engine reads it for keys it does not hold in memory. */
  private readonly keyState: string;
  /** Keys given up on: a product's and a past date's go with their rows, or they would be counted for good. */
  private readonly deadLetter: string;
  /** The last list read or written: what the cadences plan from while the database is away. */
  private cached: Product[] = [];
  /** Bumped by every change, so a list read that raced with a change does not overwrite the cache. */
  private version = 0;
  /**
   * Inventory writes and product deletions of this process take turns, so a fetch that lands
   * after a DELETE made here never writes its product's rows back (the store drops scopes of
   * products not `isKnown`); for deletions made by other instances, see `sweepDeleted`.
   */
  readonly exclusive = serialiser();

  constructor(
    private readonly db: Db,
    schema: string,
  ) {
    this.schema = quoteIdent(schema);
    this.table = `${this.schema}.products`;
    this.keyState = `${this.schema}.tidesync_key_state`;
    this.deadLetter = `${this.schema}.tidesync_dead_letter`;
  }

  /** Replaces (or drops) one product in the cached list after a change this process made. */
  private cache(productId: number, product: Product | undefined): void {
    this.version++;
    const rest = this.cached.filter((p) => p.productId !== productId);
    this.cached = product ? [...rest, product].sort((a, b) => a.productId - b.productId) : rest;
  }

  /** Whether the product is synced, as of the last read or change of this process. */
  isKnown(productId: number): boolean {
    return this.cached.some((p) => p.productId === productId);
  }

  /** The products to plan: the table, or the last known list while the database is unreachable. */
  async listForPlanning(): Promise<Product[]> {
    try {
      return await this.list();
    } catch (err) {
      if (err instanceof StorageUnavailableError) return this.cached;
      throw err;
    }
  }

  async init(): Promise<void> {
    const ddl = [
      `CREATE SCHEMA IF NOT EXISTS ${this.schema}`,
      `CREATE TABLE IF NOT EXISTS ${this.table} (product_id integer PRIMARY KEY CHECK (product_id > 0), days text[] NOT NULL, ` +
        `created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`,
    ];
    if (this.db.kind === 'pglite') {
      for (const statement of ddl) await this.db.query(statement);
      return;
    }
    // Instances starting together would race on IF NOT EXISTS (PostgreSQL checks the catalog before
    // it locks it). One simple-protocol string runs as one transaction, so the lock covers both.
    await this.db.query([`SELECT pg_advisory_xact_lock(hashtext('tidesync inventory ddl ${this.schema}'))`, ...ddl].join(';\n'));
  }

  async list(): Promise<Product[]> {
    const version = this.version;
    const { rows } = await this.db.query<{ product_id: number; days: Weekday[] }>(`SELECT product_id, days FROM ${this.table} ORDER BY product_id`);
    const list = rows.map((r) => ({ productId: r.product_id, days: r.days }));
    if (version === this.version) this.cached = list;
    return list;
  }

  async get(productId: number): Promise<Product | undefined> {
    const { rows } = await this.db.query<{ product_id: number; days: Weekday[] }>(`SELECT product_id, days FROM ${this.table} WHERE product_id = $1`, [productId]);
    const row = rows[0];
    return row && { productId: row.product_id, days: row.days };
  }

  async count(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.table}`);
    return rows[0]?.n ?? 0;
  }

  /** Inserts; returns false when the product already exists. */
  async create(product: Product): Promise<boolean> {
    const { rows } = await this.db.query(
      `INSERT INTO ${this.table} (product_id, days) VALUES ($1, $2::text[]) ON CONFLICT (product_id) DO NOTHING RETURNING product_id`,
      [product.productId, sortDays(product.days)],
    );
    if (rows.length === 1) this.cache(product.productId, { productId: product.productId, days: sortDays(product.days) });
    return rows.length === 1;
  }

  /**
   * Changes a product's weekdays. The rows, freshness and dead letters of the dates on weekdays it
   * drops go in the same transaction, between two inventory writes of this process (as `remove`):
   * no longer refreshed, they would be served stale from the moment a weekday is added back until
   * its refetch lands (longer while the partner is away).
   */
  update(product: Product): Promise<boolean> {
    const days = sortDays(product.days);
    return this.exclusive(async () => {
      const updated = await this.db.transaction(async (query) => {
        const { rows } = await query(`UPDATE ${this.table} SET days = $2::text[], updated_at = now() WHERE product_id = $1 RETURNING product_id`, [product.productId, days]);
        if (rows.length === 0) return false;
        // 'Dy' is the English abbreviation whatever the locale (without the TM prefix), as Weekday.
        const dropped = `NOT (to_char(date, 'Dy') = ANY($2::text[]))`;
        await query(`WITH x AS (DELETE FROM ${this.schema}.slot_pax WHERE product_id = $1 AND ${dropped}) DELETE FROM ${this.schema}.slots WHERE product_id = $1 AND ${dropped}`, [
          product.productId,
          days,
        ]);
        // Inventory keys end in their date (inventoryKey).
        const droppedKey = `starts_with(key, $1) AND NOT (to_char(right(key, 10)::date, 'Dy') = ANY($2::text[]))`;
        await query(`WITH k AS (DELETE FROM ${this.keyState} WHERE ${droppedKey}) DELETE FROM ${this.deadLetter} WHERE ${droppedKey}`, [inventoryKeyPrefix(product.productId), days]);
        return true;
      });
      if (updated) this.cache(product.productId, { productId: product.productId, days });
      return updated;
    });
  }

  /**
   * Removes the product, its synced inventory and its keys' freshness and dead letters in one transaction (all or
   * nothing), between two inventory writes of this process: once it returns, no write of this
   * process can land for it, and a product added back later is fetched as a new one (its rows are
   * gone, so the freshness they had must go too).
   * The product row is deleted first and the inventory after, in a later statement: its snapshot
   * is taken once the row is locked, so it also sees rows another instance wrote until then (see
   * `sweepDeleted` for those written after).
   */
  remove(productId: number): Promise<boolean> {
    return this.exclusive(async () => {
      const removed = await this.db.transaction(async (query) => {
        const { rows } = await query(`DELETE FROM ${this.table} WHERE product_id = $1 RETURNING product_id`, [productId]);
        if (rows.length === 0) return false;
        await query(
          `WITH x AS (DELETE FROM ${this.schema}.slot_pax WHERE product_id = $1) DELETE FROM ${this.schema}.slots WHERE product_id = $1`,
          [productId],
        );
        await query(`DELETE FROM ${this.keyState} WHERE starts_with(key, $1)`, [inventoryKeyPrefix(productId)]);
        await query(`DELETE FROM ${this.deadLetter} WHERE starts_with(key, $1)`, [inventoryKeyPrefix(productId)]);
        return true;
      });
      if (removed) this.cache(productId, undefined);
      return removed;
    });
  }

  /**
   * Deletes the synced inventory of every date before `date` (the partner's today) and those keys'
   * freshness and dead letters, in one statement. Past dates are never fetched or served again; without this the
   * tables would keep a day of every product, every day. Idempotent, so every instance may run it.
   * Returns how many slots went.
   */
  async pruneBefore(date: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `WITH x AS (DELETE FROM ${this.schema}.slot_pax WHERE date < $1::date), ` +
        // Inventory keys end in their date (inventoryKey), and ISO dates sort as text.
        `k AS (DELETE FROM ${this.keyState} WHERE starts_with(key, $2) AND right(key, 10) < $3), ` +
        `d AS (DELETE FROM ${this.deadLetter} WHERE starts_with(key, $2) AND right(key, 10) < $3), ` +
        `s AS (DELETE FROM ${this.schema}.slots WHERE date < $1::date RETURNING 1) SELECT count(*)::int AS n FROM s`,
      [date, INVENTORY_KEY_PREFIX, date],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * With several instances, one may write a product's rows just after another deleted it (its
   * list was not refreshed yet). Called after each write with the products of its batch: removes
   * the rows and key freshness of those that no longer exist, and returns their ids. The products are read `FOR KEY
   * SHARE`, so a deletion still in progress is waited for and then seen; the rows this instance
   * wrote committed before this statement began, so its snapshot holds them.
   */
  async sweepDeleted(productIds: readonly number[]): Promise<number[]> {
    const ids = [...new Set(productIds)];
    if (ids.length === 0) return [];
    // One statement: a product deleted and added back between a check and a later delete would
    // lose the new rows; here they committed after this snapshot, so they are not touched.
    const { rows } = await this.db.query<{ product_id: number }>(
      `WITH alive AS (SELECT product_id FROM ${this.table} WHERE product_id = ANY($1::int[]) FOR KEY SHARE), ` +
        `gone AS (SELECT p, prefix FROM unnest($1::int[], $2::text[]) AS u(p, prefix) WHERE p NOT IN (SELECT product_id FROM alive)), ` +
        `x AS (DELETE FROM ${this.schema}.slot_pax WHERE product_id IN (SELECT p FROM gone)), ` +
        `s AS (DELETE FROM ${this.schema}.slots WHERE product_id IN (SELECT p FROM gone)), ` +
        // The freshness the write recorded for them goes too, as remove() leaves it.
        `k AS (DELETE FROM ${this.keyState} AS k USING gone WHERE starts_with(k.key, gone.prefix)) ` +
        `SELECT p AS product_id FROM gone`,
      [ids, ids.map(inventoryKeyPrefix)],
    );
    for (const r of rows) if (this.isKnown(r.product_id)) this.cache(r.product_id, undefined);
    return rows.map((r) => r.product_id);
  }
}
