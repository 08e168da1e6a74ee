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

/** One passenger row as `slotsOn` aggregates it: prices still `numeric` text. */
interface PaxRow {
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

  /**
   * Slots of one product on one date, by start time. A slot's price: its primary type's, else the
   * lowest. One statement, so slots and their passenger rows come from one snapshot (two queries
   * could straddle a write and pair a slot with another version's rows). A slot without passenger
   * rows has no price to serve (the contract gives every slot at least one): it is left out.
   */
  async slotsOn(productId: number, date: string): Promise<Slot[]> {
    // The lateral subquery is a range scan of slot_pax's primary key per slot; json_agg of no rows
    // is NULL, which is how a slot without passenger rows is recognised.
    const { rows } = await this.db.query<{ start_time: string; remaining: number; pax: PaxRow[] | null }>(
      `SELECT s.start_time, s.remaining, p.pax
       FROM ${this.slots} s
       CROSS JOIN LATERAL (
         SELECT json_agg(json_build_object(
                  'type', x.type, 'name', x.name, 'description', x.description, 'min', x.min, 'max', x.max,
                  'remaining', x.remaining, 'is_primary', x.is_primary, 'final_price', x.final_price::text,
                  'original_price', x.original_price::text, 'currency', x.currency) ORDER BY x.type) AS pax
         FROM ${this.pax} x
         WHERE x.product_id = s.product_id AND x.date = s.date AND x.start_time = s.start_time
       ) p
       WHERE s.product_id = $1 AND s.date = $2::date AND p.pax IS NOT NULL
       ORDER BY s.start_time`,
      [productId, date],
    );
    return rows.flatMap(({ start_time, remaining, pax }) => {
      const chosen = pax && (pax.find((r) => r.is_primary) ?? [...pax].sort((a, b) => Number(a.final_price) - Number(b.final_price))[0]);
      // Never an invented price: the query already leaves out a slot without passenger rows.
      if (!pax || !chosen) return [];
      return [
        {
          startTime: start_time,
          startDate: date,
          price: price(chosen.final_price, chosen.original_price, chosen.currency),
          remaining,
          paxAvailability: pax.map((r) => ({
            type: r.type,
            ...(r.name !== null ? { name: r.name } : {}),
            ...(r.description !== null ? { description: r.description } : {}),
            price: price(r.final_price, r.original_price, r.currency),
            ...(r.min !== null ? { min: r.min } : {}),
            ...(r.max !== null ? { max: r.max } : {}),
            remaining: r.remaining,
          })),
        },
      ];
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
