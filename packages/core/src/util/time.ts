/**
 * An epoch-ms instant as ISO 8601 text for messages and logs, or the plain number when no date
 * can show it: `Date#toISOString` throws past ±8.64e15 ms, and an instant read from a remote's
 * answer (a rate-limit reset) can be anything.
 */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms since the epoch` : date.toISOString();
}

/** An instant given as epoch ms or a `Date`, as epoch ms (an invalid `Date` is NaN); anything else as it came. */
export function epochMs<T>(value: T | Date): T | number {
  return value instanceof Date ? value.getTime() : value;
}
