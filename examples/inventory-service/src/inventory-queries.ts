/**
 * The two read endpoints' queries. Both filter on the leading columns of the tables' primary keys
 * (product_id, date, …), so they are index range scans whatever the table size. Prices leave the
 * database as `numeric` text and become numbers only at the edge.
 */
import { quoteIdent } from '@tidesync/adapter-postgres';
import type { Db } from './database.js';

export interface Price {
  finalPrice: number;
  currencyCode: string;
  originalPrice: number;
}

export interface PaxAvailability {
  type: string;
  name?: string;
  description?: string;
  price: Price;
  min?: number;
  max?: number;
  remaining: number;
}

export interface Slot {
  startTime: string;
  startDate: string;
  price: Price;
  remaining: number;
  paxAvailability: PaxAvailability[];
}

export interface DatePrice {
  date: string;
  price: Price;
}

interface PaxRow {
  start_time: string;
  type: string;
  name: string | null;
  description: string | null;
  min: number | null;
  max: number | null;
  remaining: number;
  is_primary: boolean;
  final_price: string;
  original_price: string;
  currency: string;
}

const price = (finalPrice: string, originalPrice: string, currencyCode: string): Price => ({
  finalPrice: Number(finalPrice),
  currencyCode,
  originalPrice: Number(originalPrice),
});

export class InventoryQueries {
  private readonly slots: string;
  private readonly pax: string;

  constructor(
    private readonly db: Db,
    schema: string,
  ) {
    this.slots = `${quoteIdent(schema)}.slots`;
    this.pax = `${quoteIdent(schema)}.slot_pax`;
  }

  /** Slots of one product on one date, by start time. A slot's price: its primary type's, else the lowest. */
  async slotsOn(productId: number, date: string): Promise<Slot[]> {
    const [slots, pax] = await Promise.all([
      this.db.query<{ start_time: string; remaining: number }>(
        `SELECT start_time, remaining FROM ${this.slots} WHERE product_id = $1 AND date = $2::date ORDER BY start_time`,
        [productId, date],
      ),
      this.db.query<PaxRow>(
        `SELECT start_time, type, name, description, min, max, remaining, is_primary, final_price::text, original_price::text, currency ` +
          `FROM ${this.pax} WHERE product_id = $1 AND date = $2::date ORDER BY start_time, type`,
        [productId, date],
      ),
    ]);
    const byTime = new Map<string, PaxRow[]>();
    for (const row of pax.rows) {
      const list = byTime.get(row.start_time) ?? [];
      list.push(row);
      byTime.set(row.start_time, list);
    }
    return slots.rows.map((s) => {
      const rows = byTime.get(s.start_time) ?? [];
      const chosen = rows.find((r) => r.is_primary) ?? [...rows].sort((a, b) => Number(a.final_price) - Number(b.final_price))[0];
      return {
        startTime: s.start_time,
        startDate: date,
        price: chosen ? price(chosen.final_price, chosen.original_price, chosen.currency) : { finalPrice: 0, currencyCode: '', originalPrice: 0 },
        remaining: s.remaining,
        paxAvailability: rows.map((r) => ({
          type: r.type,
          ...(r.name !== null ? { name: r.name } : {}),
          ...(r.description !== null ? { description: r.description } : {}),
          price: price(r.final_price, r.original_price, r.currency),
          ...(r.min !== null ? { min: r.min } : {}),
          ...(r.max !== null ? { max: r.max } : {}),
          remaining: r.remaining,
        })),
      };
    });
  }

  /** Dates in [from, to] with at least one slot left, each with the lowest price among those slots. */
  async availableDates(productId: number, from: string, to: string): Promise<DatePrice[]> {
    const { rows } = await this.db.query<{ date: string; final_price: string; original_price: string; currency: string }>(
      `WITH slot_price AS (
         SELECT DISTINCT ON (s.date, s.start_time) s.date, p.final_price, p.original_price, p.currency
         FROM ${this.slots} s JOIN ${this.pax} p
           ON p.product_id = s.product_id AND p.date = s.date AND p.start_time = s.start_time
         WHERE s.product_id = $1 AND s.date BETWEEN $2::date AND $3::date AND s.remaining > 0
         ORDER BY s.date, s.start_time, p.is_primary DESC, p.final_price, p.type
       )
       SELECT DISTINCT ON (date) to_char(date, 'YYYY-MM-DD') AS date, final_price::text, original_price::text, currency
       FROM slot_price ORDER BY date, final_price`,
      [productId, from, to],
    );
    return rows.map((r) => ({ date: r.date, price: price(r.final_price, r.original_price, r.currency) }));
  }
}
