/**
 * The partner's answer for one product on one date (see partner-api.md), as a zod schema the
 * engine runs on every fetched payload before anything is written. A payload that fails it is
 * rejected whole: the scope keeps its previous rows and the key is retried later.
 */
import type { ConfigIssue } from '@tidesync/core';
import { z } from 'zod';

// What the tables can hold is checked here, where the error names the field: PostgreSQL would
// refuse it too, but only after the fetch, and only with the key's attempts (see StoreRejectedError).
const INT4_MAX = 2_147_483_647;
const money = z.number().finite().nonnegative();
const count = z.number().int().nonnegative().max(INT4_MAX);
/** PostgreSQL text cannot hold a NUL character. */
const text = (max: number) => z.string().max(max).regex(/^[^\u0000]*$/, 'must not contain a NUL character');
const maybe = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

export const partnerPrice = z.object({
  finalPrice: money,
  originalPrice: money,
  discount: maybe(z.number().finite()),
  currencyCode: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code'),
});

export const partnerPax = z.object({
  type: text(100).min(1),
  name: maybe(text(200)),
  description: maybe(text(500)),
  min: maybe(count),
  max: maybe(count),
  remaining: count,
  isPrimary: maybe(z.boolean()),
  price: partnerPrice,
});

const isoDate = /^\d{4}-\d{2}-\d{2}$/;
const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:mm');

export const partnerSlot = z.object({
  startDate: z.string().regex(isoDate, 'expected YYYY-MM-DD'),
  startTime: time,
  endTime: time,
  providerSlotId: text(200).min(1),
  remaining: count,
  currencyCode: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code'),
  variantId: z.number().int().min(-INT4_MAX - 1).max(INT4_MAX),
  paxAvailability: z.array(partnerPax).min(1),
});

/** One scope's payload. Duplicate identities are rejected here, so one bad scope cannot sink a whole batch. */
export const partnerSlots = z.array(partnerSlot).superRefine((slots, ctx) => {
  const times = new Set<string>();
  slots.forEach((slot, i) => {
    if (times.has(slot.startTime)) ctx.addIssue({ code: 'custom', path: [i, 'startTime'], message: `two slots start at ${slot.startTime}` });
    times.add(slot.startTime);
    const types = new Set<string>();
    // The contract puts isPrimary on one pax only; with two, the slot's price (its primary type's)
    // would depend on which one a query happens to pick, and /slots and /dates could disagree.
    let primary: string | undefined;
    slot.paxAvailability.forEach((pax, j) => {
      if (types.has(pax.type)) ctx.addIssue({ code: 'custom', path: [i, 'paxAvailability', j, 'type'], message: `passenger type ${pax.type} listed twice` });
      types.add(pax.type);
      if (!pax.isPrimary) return;
      if (primary !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'paxAvailability', j, 'isPrimary'], message: `two primary passenger types, ${primary} and ${pax.type}: isPrimary belongs on one only` });
      primary ??= pax.type;
    });
  });
});

export type PartnerSlot = z.output<typeof partnerSlot>;
export type PartnerPax = z.output<typeof partnerPax>;

/**
 * The slots of a payload dated other than `date`, the date asked for. Rows are stored under the
 * date of the request (the key's scope), not their own `startDate`: without this check, a partner
 * answering another day's slots would have them served as that date's. The schema cannot check it
 * (it does not know the request), so the source does, on the raw payload: it looks only at elements
 * with a `startDate` written YYYY-MM-DD and leaves every other malformation to `partnerSlots`.
 */
export function otherDateIssues(payload: unknown, date: string): ConfigIssue[] {
  if (!Array.isArray(payload)) return [];
  return payload.flatMap((slot: unknown, i) => {
    const startDate = typeof slot === 'object' && slot !== null ? (slot as { startDate?: unknown }).startDate : undefined;
    if (typeof startDate !== 'string' || !isoDate.test(startDate) || startDate === date) return [];
    return [{ path: `${i}.startDate`, message: `expected ${date} (the date asked for), got ${startDate}` }];
  });
}
