import { describe, expect, it } from 'vitest';
import { otherDateIssues, partnerSlots } from '../src/partner-payload.js';
import { DEFAULT_CATALOG, generateSlots } from '../src/simulator/catalog.js';

// Product 14 operates on Tuesdays: four slots, Adult (primary) and Child.
const DATE = '2025-03-25';
const valid = () => generateSlots(DEFAULT_CATALOG[0]!, DATE);

describe('the partner payload schema', () => {
  it('accepts the simulator\'s answer, with its one primary passenger type', () => {
    expect(partnerSlots.safeParse(valid()).success).toBe(true);
  });

  it('rejects a slot with two primary passenger types, naming the second', () => {
    const slots = valid();
    slots[1]!.paxAvailability = slots[1]!.paxAvailability.map((p) => ({ ...p, isPrimary: true }));
    const result = partnerSlots.safeParse(slots);
    expect(result.success).toBe(false);
    expect(result.error!.issues).toEqual([
      expect.objectContaining({ path: [1, 'paxAvailability', 1, 'isPrimary'], message: 'two primary passenger types, ADULT_12~99 and CHILD_3~11: isPrimary belongs on one only' }),
    ]);
  });

  it('rejects, naming each field, values the tables cannot hold: integers past 2^31 - 1 and text with a NUL', () => {
    const slots = valid();
    slots[0]!.remaining = 3_000_000_000;
    slots[0]!.variantId = -3_000_000_000;
    slots[1]!.paxAvailability[0]!.remaining = 2 ** 31;
    slots[1]!.paxAvailability[0]!.name = 'Adult\u0000';
    slots[2]!.providerSlotId = '\u0000';
    const result = partnerSlots.safeParse(slots);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['0.remaining', '0.variantId', '1.paxAvailability.0.name', '1.paxAvailability.0.remaining', '2.providerSlotId']);
    const edge = valid();
    edge[0]!.remaining = 2 ** 31 - 1;
    edge[0]!.variantId = -(2 ** 31);
    expect(partnerSlots.safeParse(edge).success).toBe(true);
  });

  it('accepts isPrimary false or null on the other passenger types', () => {
    const slots = valid().map((s) => ({ ...s, paxAvailability: s.paxAvailability.map((p, j) => ({ ...p, isPrimary: j === 0 ? true : j === 1 ? false : null })) }));
    expect(partnerSlots.safeParse(slots).success).toBe(true);
  });
});

describe('otherDateIssues', () => {
  it('finds nothing in an answer for the date asked for, or an empty one', () => {
    expect(otherDateIssues(valid(), DATE)).toEqual([]);
    expect(otherDateIssues([], DATE)).toEqual([]);
  });

  it('names every slot of another date', () => {
    const slots = valid();
    slots[2]!.startDate = '2025-03-26';
    slots[3]!.startDate = '2025-03-24';
    expect(otherDateIssues(slots, DATE)).toEqual([
      { path: '2.startDate', message: 'expected 2025-03-25 (the date asked for), got 2025-03-26' },
      { path: '3.startDate', message: 'expected 2025-03-25 (the date asked for), got 2025-03-24' },
    ]);
  });

  it('leaves every other malformation to the schema', () => {
    for (const payload of [null, 'text', { startDate: '2025-03-26' }, [null, 3, 'x', [], { startDate: 20250326 }, {}, { startDate: '26/03/2025' }]]) {
      expect(otherDateIssues(payload, DATE)).toEqual([]);
    }
  });
});
