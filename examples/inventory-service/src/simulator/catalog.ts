/**
 * What the simulated partner sells: products with operating weekdays and slot templates. Every
 * (product, date) gets its slots generated once, deterministically from a seed, and then kept, so
 * tests can change them (sell seats, re-key, remove) and compare the service against that truth.
 */
import { weekdayOf, type Weekday } from '../calendar.js';
import type { PartnerSlot } from '../partner-payload.js';

export interface PaxTemplate {
  type: string;
  name: string;
  description: string;
  finalPrice: number;
  originalPrice: number;
  isPrimary?: boolean;
  min?: number;
  max?: number;
}

export interface SimProduct {
  productId: number;
  days: Weekday[];
  currencyCode: string;
  variantId: number;
  /** `[start, end]` as HH:mm. */
  times: [string, string][];
  pax: PaxTemplate[];
}

export const DEFAULT_CATALOG: SimProduct[] = [
  {
    productId: 14,
    days: ['Mon', 'Tue', 'Wed'],
    currencyCode: 'SGD',
    variantId: 32,
    times: [
      ['09:00', '10:30'],
      ['11:00', '12:30'],
      ['14:00', '15:30'],
      ['16:30', '18:00'],
    ],
    pax: [
      { type: 'ADULT_12~99', name: 'Adult', description: '12-99 years', finalPrice: 242.14, originalPrice: 342.14, isPrimary: true, min: 1, max: 20 },
      { type: 'CHILD_3~11', name: 'Child', description: '3-11 years', finalPrice: 73, originalPrice: 173, min: 1, max: 20 },
    ],
  },
  {
    productId: 15,
    days: ['Sun'],
    currencyCode: 'SGD',
    variantId: 7,
    times: [['10:00', '16:00']],
    pax: [
      { type: 'ADULT_13~99', name: 'Adult', description: '13-99 years', finalPrice: 58.5, originalPrice: 65, isPrimary: true, min: 1, max: 10 },
      { type: 'CHILD_3~12', name: 'Child', description: '3-12 years', finalPrice: 41.25, originalPrice: 45, min: 0, max: 10 },
      { type: 'INFANT_0~2', name: 'Infant', description: 'under 3', finalPrice: 0, originalPrice: 0, min: 0, max: 4 },
    ],
  },
];

/** A small deterministic PRNG (mulberry32) seeded from the product and date. */
function random(seed: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  return () => {
    h = (h + 0x6d2b79f5) | 0;
    let t = Math.imul(h ^ (h >>> 15), 1 | h);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function generateSlots(product: SimProduct, date: string): PartnerSlot[] {
  if (!product.days.includes(weekdayOf(date))) return [];
  const rnd = random(`${product.productId}:${date}`);
  // Prices move a little from day to day, as dynamic pricing does.
  const factor = 0.9 + rnd() * 0.2;
  return product.times.map(([startTime, endTime], i) => {
    // One slot in five is sold out, so the dates endpoint has something to leave out.
    const remaining = rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * 60);
    return {
      startDate: date,
      startTime,
      endTime,
      providerSlotId: `${225532700000 + product.productId * 100 + i}_${date}T${startTime}`,
      remaining,
      currencyCode: product.currencyCode,
      variantId: product.variantId,
      paxAvailability: product.pax.map((p) => ({
        type: p.type,
        name: p.name,
        description: p.description,
        min: p.min,
        max: p.max,
        remaining,
        isPrimary: p.isPrimary,
        price: {
          discount: 0,
          finalPrice: round2(p.finalPrice * factor),
          originalPrice: round2(p.originalPrice * factor),
          currencyCode: product.currencyCode,
        },
      })),
    };
  });
}
