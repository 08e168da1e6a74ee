/**
 * Turns JS values into PostgreSQL's text input format, once per value, for both staging paths:
 * `unnest($n::text[])` casts each text back to the column type, and COPY's text format takes the
 * same strings with COPY's own escapes (`copy-buffer.ts`). One encoder means both paths store
 * identical values.
 *
 * Numbers are written with JS's shortest round-trip representation, so a `numeric` column holds
 * exactly the decimal the source sent (242.14 stays 242.14, never 242.13999…).
 */

/** Arrays carry their element's kind: a jsonb element is JSON text, a bytea one hex. */
export type ColumnKind = 'scalar' | 'array' | 'jsonArray' | 'byteaArray' | 'json' | 'bytea';

export function columnKind(type: string): ColumnKind {
  const t = type.toLowerCase().trim();
  if (t.endsWith(']')) {
    const element = t.replace(/(\s*\[\d*\])+$/, '');
    return element === 'jsonb' ? 'jsonArray' : element === 'bytea' ? 'byteaArray' : 'array';
  }
  if (t === 'jsonb') return 'json';
  if (t === 'bytea') return 'bytea';
  return 'scalar';
}

/** `null` means SQL NULL. Throws a plain Error with the reason; the caller adds row context. */
export function encodeValue(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'json':
      return JSON.stringify(value);
    case 'array':
    case 'jsonArray':
    case 'byteaArray':
      if (!Array.isArray(value)) throw new Error(`expected an array, got ${typeof value}`);
      return arrayLiteral(value, kind);
    case 'bytea':
      if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
      return scalar(value);
    default:
      return scalar(value);
  }
}

function scalar(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`non-finite number ${value}`);
      return numberText(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new Error('invalid Date');
        return value.toISOString();
      }
      throw new Error(`cannot store a value of type ${Array.isArray(value) ? 'array' : typeof value} in a scalar column`);
  }
}

/**
 * `{"a","b c",NULL,{"x"}}` — every element quoted, so commas, braces and spaces are safe. A jsonb
 * element is always JSON text (the string "123" stays a JSON string, not the number 123); a bytea
 * element given as bytes is hex, as a bytea column's value is.
 */
function arrayLiteral(items: readonly unknown[], kind: 'array' | 'jsonArray' | 'byteaArray'): string {
  const parts = items.map((item) => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item) && kind !== 'jsonArray') return arrayLiteral(item, kind);
    const text =
      kind === 'jsonArray'
        ? JSON.stringify(item)
        : kind === 'byteaArray' && item instanceof Uint8Array
          ? `\\x${Buffer.from(item).toString('hex')}`
          : typeof item === 'object' && !(item instanceof Date)
            ? JSON.stringify(item)
            : scalar(item);
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${parts.join(',')}}`;
}

/** Below this magnitude two decimals with at most two fraction digits never share a double. */
export const CENTS_EXACT_BELOW = 2 ** 40;

/**
 * `String(n)` for a finite number — its shortest round-trip decimal — built from integers when n
 * is a decimal with at most two fraction digits, as prices are. Formatting a fractional double is
 * the costliest step of encoding a row of numbers; this case needs none of it. Why it is exact:
 * below 2^40 a double's spacing is far below 0.005, so when `cents / 100 === n` no other decimal
 * of two fraction digits or fewer rounds to n, and those digits (trailing zeros dropped) are the
 * shortest text that does. Everything else goes to `String`.
 */
export function numberText(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const cents = Math.round(n * 100);
  if (cents / 100 !== n || !(Math.abs(n) < CENTS_EXACT_BELOW)) return String(n);
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const frac = abs - whole * 100;
  const digits = frac % 10 === 0 ? String(frac / 10) : frac < 10 ? `0${frac}` : String(frac);
  return `${cents < 0 ? '-' : ''}${whole}.${digits}`;
}
