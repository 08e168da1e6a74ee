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
 *   (surplus trailing spaces dropped from a character value), or undefined when the column cannot
 *   hold it. Scope and key texts are fitted before they are compared — in SQL against stored rows,
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
    const bits = /^[bB]?[01]*$/.test(text) ? text.replace(/^[bB]/, '').length : /^[xX][0-9a-fA-F]*$/.test(text) ? 4 * (text.length - 1) : -1;
    if (bits < 0) return undefined;
    return (limit.exact ? bits === limit.n : bits <= limit.n) ? text : undefined;
  }
  if (text.length <= limit.n) return text; // at most n UTF-16 units: at most n characters
  const chars = [...text];
  if (chars.length <= limit.n) return text;
  // Assignment drops characters past n only when they are all spaces (and so does COPY).
  for (let i = limit.n; i < chars.length; i++) if (chars[i] !== ' ') return undefined;
  return chars.slice(0, limit.n).join('');
}
