/**
 * Products the service syncs, with their operating weekdays: the service's own table, next to the
 * tables adapter-postgres manages. The cadences read it at every tick, so a change takes effect at
 * the next plan (and the API triggers one right away).
 */
import { quoteIdent } from '@tidesync/adapter-postgres';
import { WEEKDAYS, type Weekday } from './calendar.js';
import type { Db } from './database.js';

export interface Product {
  productId: number;
  days: Weekday[];
}

const sortDays = (days: readonly Weekday[]) => WEEKDAYS.filter((d) => days.includes(d));

export class ProductsRepository {
  private readonly table: string;
  private readonly schema: string;

  constructor(
    private readonly db: Db,
    schema: string,
  ) {
    this.schema = quoteIdent(schema);
    this.table = `${this.schema}.products`;
  }

  async init(): Promise<void> {
    await this.db.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    await this.db.query(
      `CREATE TABLE IF NOT EXISTS ${this.table} (product_id integer PRIMARY KEY CHECK (product_id > 0), days text[] NOT NULL, ` +
        `created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`,
    );
  }

  async list(): Promise<Product[]> {
    const { rows } = await this.db.query<{ product_id: number; days: Weekday[] }>(`SELECT product_id, days FROM ${this.table} ORDER BY product_id`);
    return rows.map((r) => ({ productId: r.product_id, days: r.days }));
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
    return rows.length === 1;
  }

  async update(product: Product): Promise<boolean> {
    const { rows } = await this.db.query(`UPDATE ${this.table} SET days = $2::text[], updated_at = now() WHERE product_id = $1 RETURNING product_id`, [
      product.productId,
      sortDays(product.days),
    ]);
    return rows.length === 1;
  }

  /** Removes the product and its synced inventory. */
  async remove(productId: number): Promise<boolean> {
    const { rows } = await this.db.query(`DELETE FROM ${this.table} WHERE product_id = $1 RETURNING product_id`, [productId]);
    if (rows.length === 0) return false;
    await this.db.query(`DELETE FROM ${this.schema}.slot_pax WHERE product_id = $1`, [productId]);
    await this.db.query(`DELETE FROM ${this.schema}.slots WHERE product_id = $1`, [productId]);
    return true;
  }
}
