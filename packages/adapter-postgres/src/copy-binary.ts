/**
 * Binary COPY — the column types whose binary input form is simple, and an encoder for each.
 *
 * Guarantees:
 * - An encoder writes one field (length, then bytes) only for a value whose binary form stores
 *   exactly what the text path (`encode.ts`, COPY text or `unnest`) would store, and returns false
 *   for anything else — text PostgreSQL parses more loosely (`' 7'`, `'1e3'`, `'Nov 28 2026'`), a
 *   value it would reject (`2 ** 31` in an `integer`, `'2025-02-30'`), a type it converts (a
 *   `Date` in a `date` column). The caller then writes the batch's table in text format, so the
 *   stored data and the errors are the text path's.
 * - The database still checks what it always checks: a `varchar(n)` length, a `numeric(p,s)`
 *   precision (binary input applies the column's type modifier), encoding validity.
 *
 * Why: on PGlite the database runs in Node's own thread, so the time it spends parsing text
 * (dates, numbers, integers in every row) adds to the write. Binary fields are read without
 * parsing: measured on PGlite, the COPY of the benchmark's initial load takes ~9% less time.
 * Types outside this list (jsonb, arrays, timestamps, uuid, …) keep the table in text format.
 */
import type { CopyBuffer } from './copy-buffer.js';
import { CENTS_EXACT_BELOW, numberText } from './encode.js';

/** Writes `value` (never null) as one binary field; false when it has no exact binary form here. */
export type BinaryEncoder = (out: CopyBuffer, value: unknown) => boolean;

/** `PGCOPY\n\377\r\n\0`, then 32-bit flags and header-extension length, both 0. */
export const BINARY_HEADER = Uint8Array.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
/** A field count of -1 ends the data. */
export const BINARY_TRAILER = Uint8Array.from([0xff, 0xff]);

/** `t`: a column type as `normalType` spells it (lower case, `numeric(12,2)`). */
export function binaryEncoder(t: string): BinaryEncoder | undefined {
  if (t === 'smallint' || t === 'int2') return integer(2);
  if (t === 'integer' || t === 'int' || t === 'int4') return integer(4);
  if (t === 'bigint' || t === 'int8') return integer(8);
  if (t === 'text' || /^(varchar|character varying)(\(\d+\))?$/.test(t)) return textField;
  if (/^(numeric|decimal)(\(\d+(,\d+)?\))?$/.test(t)) return numericField;
  if (t === 'date') return dateField;
  if (t === 'boolean' || t === 'bool') return booleanField;
  if (t === 'double precision' || t === 'float8') return float8Field;
  return undefined;
}

const RANGE = { 2: 2n ** 15n, 4: 2n ** 31n, 8: 2n ** 63n } as const;
const DECIMAL_INTEGER = /^[+-]?\d{1,20}$/;

function integer(bytes: 2 | 4 | 8): BinaryEncoder {
  const limit = RANGE[bytes];
  const small = Number(limit);
  return (out, value) => {
    let n: bigint;
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) return false;
      // The common case, without a bigint: a safe integer inside a 2- or 4-byte range.
      if (bytes < 8 && value >= -small && value < small) {
        out.int32(bytes);
        if (bytes === 2) out.int16(value);
        else out.int32(value);
        return true;
      }
      if (!Number.isSafeInteger(value)) return false;
      n = BigInt(value);
    } else if (typeof value === 'bigint') n = value;
    else if (typeof value === 'string' && DECIMAL_INTEGER.test(value)) n = BigInt(value);
    else return false;
    if (n < -limit || n >= limit) return false;
    out.int32(bytes);
    if (bytes === 2) out.int16(Number(n));
    else if (bytes === 4) out.int32(Number(n));
    else out.int64(n);
    return true;
  };
}

const textField: BinaryEncoder = (out, value) => {
  let s: string;
  switch (typeof value) {
    case 'string':
      s = value;
      break;
    case 'number':
      if (!Number.isFinite(value)) return false;
      s = numberText(value);
      break;
    case 'bigint':
      s = value.toString();
      break;
    case 'boolean':
      s = value ? 'true' : 'false';
      break;
    default:
      return false;
  }
  // The length is known once the bytes are written: a placeholder, patched.
  const at = out.length;
  out.int32(0);
  out.raw(s);
  out.setInt32(at, out.length - at - 4);
  return true;
};

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;
/** Digits beyond these (either side of the point) go as text: far past any price, and inside binary numeric's limits. */
const MAX_DIGITS = 1000;

/**
 * PostgreSQL's binary numeric: digit count, weight (of the first base-10000 digit), sign, display
 * scale, then the base-10000 digits. Display scale = the fraction digits as written, so `1.50`
 * keeps its scale, as `numeric_in` keeps it.
 */
const numericField: BinaryEncoder = (out, value) => {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return false;
    const cents = Math.round(value * 100);
    // Integers and decimals of at most two fraction digits (prices), from integers alone; exact
    // for the reason `numberText` gives, and with the display scale of the text it writes.
    if (cents / 100 === value && Math.abs(value) < CENTS_EXACT_BELOW) {
      writeCents(out, cents);
      return true;
    }
    text = numberText(value);
  } else if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'string') text = value;
  else return false;
  const m = DECIMAL.exec(text);
  if (!m) return false; // exponents, '.5', whitespace, NaN, Infinity: text
  const whole = m[2]!.replace(/^0+/, '');
  const fraction = m[3] ?? '';
  if (whole.length > MAX_DIGITS || fraction.length > MAX_DIGITS) return false;
  // Base-10000 digits: the whole part aligned to the point from the left, the fraction padded right.
  const digits: number[] = [];
  const lead = whole.length % 4;
  if (lead > 0) digits.push(Number(whole.slice(0, lead)));
  for (let i = lead; i < whole.length; i += 4) digits.push(Number(whole.slice(i, i + 4)));
  const weight = digits.length - 1;
  for (let i = 0; i < fraction.length; i += 4) digits.push(Number(fraction.slice(i, i + 4).padEnd(4, '0')));
  writeNumeric(out, m[1] === '-', digits, weight, fraction.length);
  return true;
};

/** `cents / 100` with the display scale `numberText` gives it: 0 for a whole number, else 1 or 2. */
function writeCents(out: CopyBuffer, cents: number): void {
  const abs = Math.abs(cents);
  const frac = abs % 100;
  let whole = (abs - frac) / 100;
  const scale = frac === 0 ? 0 : frac % 10 === 0 ? 1 : 2;
  if (whole < 10_000) {
    // Most prices: at most one base-10000 digit either side of the point, written directly.
    const n = (whole > 0 ? 1 : 0) + (frac > 0 ? 1 : 0);
    out.int32(8 + 2 * n);
    out.int16(n);
    out.int16(whole > 0 || n === 0 ? 0 : -1);
    out.int16(cents < 0 && n > 0 ? 0x4000 : 0);
    out.int16(scale);
    if (whole > 0) out.int16(whole);
    if (frac > 0) out.int16(frac * 100);
    return;
  }
  const groups: number[] = [];
  while (whole > 0) {
    groups.push(whole % 10_000);
    whole = Math.floor(whole / 10_000);
  }
  const digits = groups.reverse();
  const weight = digits.length - 1;
  // The fraction's first base-10000 digit: .05 → 0500, .5 → 5000.
  if (frac > 0) digits.push(frac * 100);
  writeNumeric(out, cents < 0, digits, weight, scale);
}

/** Base-10000 `digits` with the weight of the first, leading and trailing zero digits dropped. */
function writeNumeric(out: CopyBuffer, negative: boolean, digits: readonly number[], weight: number, scale: number): void {
  let first = 0;
  while (first < digits.length && digits[first] === 0) {
    first++;
    weight--;
  }
  let end = digits.length;
  while (end > first && digits[end - 1] === 0) end--;
  const n = end - first;
  out.int32(8 + 2 * n);
  out.int16(n);
  out.int16(n === 0 ? 0 : weight);
  out.int16(negative && n > 0 ? 0x4000 : 0);
  out.int16(scale);
  for (let i = first; i < end; i++) out.int16(digits[i]!);
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);

/** A `YYYY-MM-DD` calendar date (years 1–9999) as days since 2000-01-01; anything else goes as text. */
const dateField: BinaryEncoder = (out, value) => {
  if (typeof value !== 'string') return false;
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day); // setUTCFullYear, unlike Date.UTC, takes years below 100 as they are
  if (year === 0 || at.getUTCFullYear() !== year || at.getUTCMonth() !== month - 1 || at.getUTCDate() !== day) return false;
  out.int32(4);
  out.int32(Math.round((at.getTime() - POSTGRES_EPOCH_MS) / DAY_MS));
  return true;
};

const booleanField: BinaryEncoder = (out, value) => {
  // `'true'`/`'false'`: how a boolean key or scope value reaches the encoder (as its text).
  const b = value === true || value === 'true' ? 1 : value === false || value === 'false' ? 0 : -1;
  if (b < 0) return false;
  out.int32(1);
  out.byte(b);
  return true;
};

/** A finite double, bit for bit: the text path's shortest round-trip text parses back to the same double. */
const float8Field: BinaryEncoder = (out, value) => {
  // A key or scope value arrives as its text; one that is a number's own shortest text parses
  // (here and in PostgreSQL, both correctly rounded) to that number.
  if (typeof value === 'string' && value !== '' && String(Number(value)) === value) value = Number(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  out.int32(8);
  out.float64(value === 0 ? 0 : value); // -0 as 0: the text path writes it as "0"
  return true;
};
