/**
 * SQL identifiers and type names that come from options.
 *
 * Guarantee: nothing a user puts in a schema, table, column or type name reaches SQL unless it
 * matched the strict patterns below, and identifiers are double-quoted on top of that. A name with
 * a quote, a semicolon, whitespace or a comment marker is rejected at construction time
 * (`SyncConfigError`), never discovered at the first write.
 */

/** Letters, digits, `_`; not starting with a digit; at most 63 bytes (PostgreSQL's NAMEDATALEN). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * A PostgreSQL type as written in DDL: words (`double precision`, `timestamp with time zone`),
 * an optional numeric modifier (`numeric(12,2)`, `varchar(40)`), and array brackets.
 */
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\d+( ?, ?\d+)?\))?(\[\])*$/;

export const isIdentifier = (name: string): boolean => IDENTIFIER.test(name);
/**
 * Words that start a column constraint, never part of a type. A type string is used wherever the
 * store needs the column's type — casts of staged text, its temporary tables — so `integer not
 * null` would break those (and a NOT NULL copied to the diff table would refuse deletions).
 */
const CONSTRAINT_WORDS = new Set(['not', 'null', 'unique', 'primary', 'references', 'check', 'default', 'generated', 'constraint', 'collate']);

export const isTypeName = (type: string): boolean =>
  TYPE_NAME.test(type) && type.length <= 100 && !type.toLowerCase().split(/[ ([]/).some((word) => CONSTRAINT_WORDS.has(word));

export const identifierMessage = 'must be a plain SQL identifier: letters, digits and _, not starting with a digit, at most 63 characters';

/**
 * Quote an identifier. Validated names never contain `"`, but quoting doubles it anyway so this
 * function is safe on its own.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."name"` */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
