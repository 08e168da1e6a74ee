import { CronExpressionParser } from 'cron-parser';
import { zoneOffsets, type ZoneOffsets } from './zone-offset.js';

/**
 * A parsed cron expression in one IANA time zone. 5 fields (minute precision) or 6 (a leading
 * seconds field). Occurrences follow wall-clock time in the zone: a time a spring-forward gap skips
 * fires once just after the gap (02:30 → 03:30), a fall-back repeat does not fire a fixed time twice
 * (crons that fire every hour or more often go on through the repeated hour).
 */
export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  /** First occurrence strictly after `after` (epoch ms). */
  next(after: number): number;
  /** Last occurrence strictly before `before`. */
  prev(before: number): number;
  /**
   * The longest gap between consecutive occurrences, ignoring DST: the freshness a key gets when
   * only this cron refreshes it. `*\/15 * * * *` → 15 min; `0 9,17 * * *` → 16 h. The one longer
   * gap a year a fall-back gives a fixed-hour cron is `fallBackShift`'s to add, where it happens.
   */
  readonly periodMs: number;
  /**
   * How much later than `from + span` this schedule's next wall-clock occurrence lands because a
   * DST fall-back between the two repeats an hour (0 when none does). A cron with fixed hours (a
   * daily `0 0 * * *`, `0 *\/4 * * *`) follows the wall clock, so across a fall-back its gap grows
   * by the repeated hour — 25 h for a daily cron. One that fires every hour or more often keeps
   * firing through the repeated hour, and spring-forward only shortens gaps: both give 0.
   */
  fallBackShift(from: number, span: number): number;
}

// A fixed reference keeps `periodMs` deterministic; 400 occurrences cover every weekly pattern
// of minute-or-coarser crons, and any pattern of sub-minute ones.
const PERIOD_REFERENCE = Date.UTC(2026, 0, 5);
const PERIOD_SAMPLES = 400;
const PERIOD_SPAN_MS = 400 * 86_400_000;

export function parseCron(expression: string, timezone = 'UTC'): CronSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new Error(`expected 5 or 6 fields, got ${fields.length}`);
  }
  assertTimeZone(timezone);
  // Validate eagerly: cron-parser reports most syntax errors only on parse.
  CronExpressionParser.parse(expression, { tz: timezone, currentDate: new Date(PERIOD_REFERENCE) }).next();

  const parsedNext = (after: number) =>
    CronExpressionParser.parse(expression, { tz: timezone, currentDate: new Date(after) }).next().getTime();
  let offsets: ZoneOffsets | undefined;
  const next = (after: number) => {
    const n = parsedNext(after);
    // cron-parser moves one skipped time past a spring-forward gap, but drops a second one in the
    // same gap (`0,30 2 * * *`: 02:30 never fires) and whole days in zones with a 30-minute gap
    // (Lord Howe). So the gap's occurrences are found here and placed as the contract says.
    if (UTC_ZONES.has(timezone)) return n;
    offsets ??= zoneOffsets(timezone);
    const gapped = gapOccurrence(expression, offsets, after, n);
    return gapped !== undefined && gapped < n ? gapped : n;
  };
  // Walked forward with next() from a point at least two periods back, not cron-parser's prev():
  // that skips an occurrence a spring-forward gap moved (02:30 → 03:30), can answer later than
  // `before` around a 30-minute gap, and throws ("loop limit exceeded") the day after a midnight
  // gap. Gaps between occurrences never exceed the period plus a DST shift, so this takes a few
  // steps, and prev() names exactly the occurrences next() does.
  let period: number | undefined;
  const prev = (before: number) => {
    period ??= periodOf(expression);
    let p = next(before - 2 * period - DST_SHIFT_MAX_MS);
    for (let n = next(p); n < before; n = next(p)) p = n;
    return p;
  };

  let shift: ((from: number, span: number) => number) | undefined;
  return {
    expression,
    timezone,
    next,
    prev,
    // Built on first use, like `periodMs`: validating a cron should not pay for zone readings.
    fallBackShift(from, span) {
      return (shift ??= fallBackShiftOf(expression, timezone))(from, span);
    },
    // Computed on first use: validation alone should not pay for sampling occurrences.
    get periodMs() {
      return (period ??= periodOf(expression));
    },
  };
}

/** More than any zone's offset change (the largest, 2 h, were historical). */
const DST_SHIFT_MAX_MS = 3 * 3_600_000;
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT']);
/** How far before `after` a gap may begin and still hold occurrences due after it (gaps last at most 2 h). */
const GAP_LOOKBACK_MS = 3 * 3_600_000;
/** How far ahead gaps are looked for: a week, so weekly crons are covered (zones change offset months apart). */
const GAP_LOOKAHEAD_MS = 8 * 86_400_000;

/**
 * The first occurrence after `after` whose wall-clock time a spring-forward gap skips, placed as
 * far after the gap as it was into it (its wall time read with the offset before the gap: 02:30 →
 * 03:30); undefined when no gap near `after`, up to `until`, holds one.
 */
function gapOccurrence(expression: string, offsets: ZoneOffsets, after: number, until: number): number | undefined {
  let lo = after - GAP_LOOKBACK_MS;
  let hi = Math.min(until, after + GAP_LOOKAHEAD_MS);
  const before = offsets.offsetAt(lo);
  const later = offsets.offsetAt(hi);
  if (later <= before) return undefined; // no spring-forward in the window (one change at most)
  // The first minute on the later offset: offsets change on whole minutes.
  lo = Math.floor(lo / 60_000);
  hi = Math.ceil(hi / 60_000);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsets.offsetAt(mid * 60_000) === later) hi = mid;
    else lo = mid;
  }
  const change = hi * 60_000;
  // The skipped wall-clock span, as UTC-based wall time: [change + before, change + later).
  const gapStart = change + before;
  const gapEnd = change + later;
  // Wall times after `after` only (t - before > after), so a per-second cron does not walk the
  // whole gap on every call.
  const wall = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(Math.max(gapStart - 1, after + before)) });
  for (let t = wall.next().getTime(); t < gapEnd; t = wall.next().getTime()) {
    const at = t - before;
    if (at > after) return at;
  }
  return undefined;
}

function fallBackShiftOf(expression: string, timezone: string): (from: number, span: number) => number {
  const everyHour = CronExpressionParser.parse(expression).fields.hour.values.length === 24;
  const offsets = zoneOffsets(timezone);
  if (everyHour || !offsets.hasOffsetChanges(PERIOD_REFERENCE)) return () => 0;
  return (from, span) => Math.max(0, offsets.offsetAt(from) - offsets.offsetAt(from + span));
}

function periodOf(expression: string): number {
  const it = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(PERIOD_REFERENCE) });
  const first = it.next().getTime();
  let last = first;
  let longest = 0;
  // Enough occurrences for any weekly pattern, but never more than ~a year and a month of them
  // (a yearly cron needs only two).
  for (let i = 0; i < PERIOD_SAMPLES && it.hasNext() && last - first < PERIOD_SPAN_MS; i++) {
    const at = it.next().getTime();
    longest = Math.max(longest, at - last);
    last = at;
  }
  return longest;
}

export function assertTimeZone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new Error(`unknown IANA time zone "${timezone}"`);
  }
}

/** Message of a cron/time-zone problem, or undefined when both are valid. */
export function cronProblem(expression: string, timezone = 'UTC'): string | undefined {
  try {
    parseCron(expression, timezone);
    return undefined;
  } catch (err) {
    return `invalid cron "${expression}" in ${timezone}: ${err instanceof Error ? err.message : String(err)}`;
  }
}
