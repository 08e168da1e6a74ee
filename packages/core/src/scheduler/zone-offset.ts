/**
 * UTC offsets of an IANA time zone, for the few places that reason about wall-clock time.
 *
 * Guarantees: `offsetAt(at)` is the zone's offset from UTC in ms at instant `at` (positive east of
 * Greenwich), exact to the minute — every offset change in the tz database falls on a whole
 * minute. Readings are memoised per minute (bounded), since Intl formatting costs microseconds and
 * the engine asks once per key per tick. `hasOffsetChanges` says whether the zone changes its offset
 * at all within the year after `from` (false for UTC and zones without DST), so callers can skip
 * the readings entirely.
 */
const MINUTE = 60_000;
const MEMO_LIMIT = 4_096;

export interface ZoneOffsets {
  offsetAt(at: number): number;
  hasOffsetChanges(from: number): boolean;
}

export function zoneOffsets(timezone: string): ZoneOffsets {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  });
  const memo = new Map<number, number>();
  const read = (minute: number): number => {
    const at = minute * MINUTE;
    const part: Record<string, number> = {};
    for (const p of format.formatToParts(at)) if (p.type !== 'literal') part[p.type] = Number(p.value);
    return Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!) - at;
  };
  const offsetAt = (at: number): number => {
    const minute = Math.floor(at / MINUTE);
    let offset = memo.get(minute);
    if (offset === undefined) {
      if (memo.size >= MEMO_LIMIT) memo.clear();
      offset = read(minute);
      memo.set(minute, offset);
    }
    return offset;
  };
  return {
    offsetAt,
    hasOffsetChanges(from) {
      // Twice a month for a year: every zone's DST lasts weeks, so no change slips between samples.
      const first = offsetAt(from);
      for (let i = 1; i <= 26; i++) if (offsetAt(from + i * 14 * 86_400_000) !== first) return true;
      return false;
    },
  };
}
