/**
 * Column types — what the store must know about a declared PostgreSQL type beyond its name: the
 * length limit of character and bit types, which an explicit SQL cast enforces by cutting the value
 * (`'abcdef'::varchar(3)` is `'abc'`) where storing it fails.
 *
 * Guarantees:
 * - `normalType` spells a type one way (lower case, single spaces, none around parentheses and
 *   commas), so `VARCHAR (10)` and `varchar(10)` are one type to every check.
 * - `lengthLimit` recognises every spelling PostgreSQL accepts for the length-limited character
 *   types (`varchar(n)`, `character varying(n)`, `char varying(n)`, `nchar varying(n)`,
 *   `national char[acter] varying(n)`; `char(n)`, `character(n)`, `nchar(n)`,
 *   `national char[acter](n)`, `bpchar(n)`, and `char` alone, which is `char(1)`) and bit types
 *   (`bit(n)`, `bit` = `bit(1)`, `varbit(n)`, `bit varying(n)`), and their arrays. A domain over
 *   one of them is known only to the database: the store reads its limit at `init()`.
 * - `castType` is the type staged text is cast to: the unlimited form of a length-limited type,
 *   so the column's own limit applies when the value is stored, as COPY applies it.
 * - `fitText` gives the text PostgreSQL stores for a value assigned to a length-limited column
 *   (surplus trailing spaces dropped from a character value), one spelling per stored value
 *   (`char(n)` unpadded, bits as binary digits), or undefined when the column cannot hold it (in a
 *   UTF-8 or other multibyte database, where characters are code points). Scope and key texts are fitted before they are compared — in SQL against stored rows,
 *   and in the batch's own duplicate check — so a value is compared as it will be stored.
 */

export const normalType = (type: string): string =>
  type
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/\s*([(),])\s*/g, '$1');

export interface LengthLimit {
  /** Character types count characters and drop surplus trailing spaces; bit types count bits. */
  kind: 'character' | 'bit';
  /** `bit(n)`: exactly n bits; otherwise at most n. */
  exact: boolean;
  n: number;
  /** The unlimited type of the same kind, for casts. */
  unlimited: 'varchar' | 'bpchar' | 'varbit';
}

const FAMILIES = [
  { pattern: /^(varchar|character varying|char varying|nchar varying|national char varying|national character varying)(?:\((\d+)\))?$/, kind: 'character', unlimited: 'varchar', bare: undefined, exact: false },
  { pattern: /^(char|character|nchar|national char|national character|bpchar)(?:\((\d+)\))?$/, kind: 'character', unlimited: 'bpchar', bare: 1, exact: false },
  { pattern: /^(bit)(?:\((\d+)\))?$/, kind: 'bit', unlimited: 'varbit', bare: 1, exact: true },
  { pattern: /^(varbit|bit varying)(?:\((\d+)\))?$/, kind: 'bit', unlimited: 'varbit', bare: undefined, exact: false },
] as const;

/** The length limit of a declared type (of its elements, for an array); undefined when it has none. */
export function lengthLimit(type: string): LengthLimit | undefined {
  const base = normalType(type).replace(/(\[\d*\])+$/, '');
  for (const f of FAMILIES) {
    const m = f.pattern.exec(base);
    if (!m) continue;
    // `bpchar` alone is unlimited; `char` alone is char(1); `bit` alone is bit(1).
    const n = m[2] !== undefined ? Number(m[2]) : m[1] === 'bpchar' ? undefined : f.bare;
    if (n === undefined) return undefined;
    return { kind: f.kind, exact: f.exact, n, unlimited: f.unlimited };
  }
  return undefined;
}

/** The limit a domain's base type gives it: `typmod` as PostgreSQL stores it (`n + 4` for characters). */
export function domainLimit(baseType: string, typmod: number): LengthLimit | undefined {
  if (typmod < 0) return undefined;
  if (baseType === 'varchar') return { kind: 'character', exact: false, n: typmod - 4, unlimited: 'varchar' };
  if (baseType === 'bpchar') return { kind: 'character', exact: false, n: typmod - 4, unlimited: 'bpchar' };
  if (baseType === 'bit') return { kind: 'bit', exact: true, n: typmod, unlimited: 'varbit' };
  if (baseType === 'varbit') return { kind: 'bit', exact: false, n: typmod, unlimited: 'varbit' };
  return undefined;
}

/** The type staged text is cast to: `type` itself, or its unlimited form (arrays kept) when it has a limit. */
export function castType(type: string, limit: LengthLimit | undefined): string {
  if (!limit) return type;
  const arrays = /(\[\d*\])*$/.exec(normalType(type))![0];
  return `${limit.unlimited}${arrays}`;
}

/**
 * The text PostgreSQL stores for `text` in a column with `limit`, or undefined when the column
 * cannot hold it. Characters are counted as PostgreSQL counts them (code points, not UTF-16 units).
 */
export function fitText(text: string, limit: LengthLimit): string | undefined {
  if (limit.kind === 'bit') {
    // One spelling per value: plain binary digits ('B1010' and 'xA' are '1010').
    const digits = /^[bB]?[01]*$/.test(text)
      ? text.replace(/^[bB]/, '')
      : /^[xX][0-9a-fA-F]*$/.test(text)
        ? [...text.slice(1)].map((h) => parseInt(h, 16).toString(2).padStart(4, '0')).join('')
        : undefined;
    if (digits === undefined) return undefined;
    return (limit.exact ? digits.length === limit.n : digits.length <= limit.n) ? digits : undefined;
  }
  let fitted: string | undefined = text;
  if (text.length > limit.n) {
    // More than n UTF-16 units; PostgreSQL counts characters (code points).
    const chars = [...text];
    if (chars.length > limit.n) {
      // Assignment drops characters past n only when they are all spaces (and so does COPY).
      for (let i = limit.n; i < chars.length && fitted !== undefined; i++) if (chars[i] !== ' ') fitted = undefined;
      if (fitted !== undefined) fitted = chars.slice(0, limit.n).join('');
    }
  }
  // char(n) pads with spaces and compares without them: one spelling per value, unpadded.
  return fitted !== undefined && limit.unlimited === 'bpchar' ? fitted.replace(/ +$/, '') : fitted;
}
