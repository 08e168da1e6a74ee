/**
 * Table mapping — which tables a scope writes, and the SQL that replaces a scope in each.
 *
 * A table is declared by name, columns (with PostgreSQL types), key columns (a row's identity
 * within its scope) and scope columns (which scope a row belongs to). Its primary key is
 * scope columns + key columns. Scope columns are filled from `scopeValues(scope)`, never from the
 * rows, so a scope that is fetched empty still says which rows to delete.
 *
 * The apply statement guarantees, per table and batch:
 * - a row whose values are all NOT DISTINCT from the stored row is not written (no new tuple, no
 *   dead tuple, no WAL for it);
 * - changed rows are updated, new rows inserted, and rows of the batch's scopes that are absent
 *   from the staged rows deleted; rows of any other scope are not read for writing;
 * - it is one statement, so its parts see one snapshot and return exact counts.
 */
import { z } from 'zod';
import { identifierMessage, isIdentifier, isTypeName, qualified, quoteIdent } from './identifiers.js';
import { columnKind, type ColumnKind } from './encode.js';

export type Row = Record<string, unknown>;

export type ColumnSpec =
  | string
  | {
      /** A PostgreSQL type: `text`, `integer`, `numeric(12,2)`, `date`, `text[]`, `jsonb`, … */
      type: string;
      /** Turns the value the driver returns into what `readScope` gives back (e.g. `Number` for numeric). */
      read?: (value: unknown) => unknown;
    };

export interface TableMapping {
  name: string;
  columns: Record<string, ColumnSpec>;
  /** A row's identity within its scope. */
  key: readonly string[];
  /**
   * Columns that say which scope a row belongs to, filled from `scopeValues(scope)`.
   * Default `['scope']`: one `text` column holding the scope string (added if not declared).
   */
  scope?: readonly string[];
}

export interface ColumnPlan {
  name: string;
  q: string;
  type: string;
  kind: ColumnKind;
  read: ((value: unknown) => unknown) | undefined;
}

export interface TablePlan {
  name: string;
  /** `"schema"."table"` */
  target: string;
  scopeCols: ColumnPlan[];
  keyCols: ColumnPlan[];
  valueCols: ColumnPlan[];
  /** scope, then key, then value columns: the staging column order. */
  all: ColumnPlan[];
}

export const DEFAULT_SCOPE_COLUMN = 'scope';
export const RESERVED_PREFIX = 'tidesync_';

const columnSpec = z.union([
  z.string(),
  z.object({
    type: z.string(),
    read: z.custom<(value: unknown) => unknown>((v) => v === undefined || typeof v === 'function', { message: 'expected a function' }).optional(),
  }),
]);

const identifier = z.string().refine(isIdentifier, { message: identifierMessage });

export const tableMappingSchema = z
  .object({
    name: identifier.refine((n) => !n.toLowerCase().startsWith(RESERVED_PREFIX), { message: `names starting with "${RESERVED_PREFIX}" are reserved for sync state` }),
    columns: z.record(z.string(), columnSpec),
    key: z.array(z.string()).min(1, { message: 'declare at least one key column' }),
    scope: z.array(z.string()).min(1, { message: 'declare at least one scope column (or leave scope out)' }).optional(),
  })
  .superRefine((table, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const typeOf = (col: string) => {
      const spec = table.columns[col];
      return typeof spec === 'string' ? spec : spec?.type;
    };
    for (const [col, spec] of Object.entries(table.columns)) {
      if (!isIdentifier(col)) issue(['columns', col], `column name ${identifierMessage}`);
      const type = typeof spec === 'string' ? spec : spec.type;
      if (!isTypeName(type)) issue(['columns', col], `"${type}" is not a PostgreSQL type name`);
      // `json` has no equality operator, so unchanged rows could not be recognised.
      else if (type.trim().toLowerCase() === 'json') issue(['columns', col], 'use jsonb instead of json (json cannot be compared, so unchanged rows would be rewritten)');
    }
    const scope = table.scope ?? [DEFAULT_SCOPE_COLUMN];
    const seen = new Set<string>();
    for (const [part, cols] of [['key', table.key], ['scope', scope]] as const) {
      cols.forEach((col, i) => {
        const path = table.scope || part === 'key' ? [part, i] : [part];
        const type = typeOf(col);
        const defaulted = part === 'scope' && !table.scope && type === undefined;
        if (seen.has(col)) issue(path, `column "${col}" is listed twice in key/scope`);
        seen.add(col);
        if (!defaulted && type === undefined) issue(path, `${part} column "${col}" is not declared in columns`);
        else if (type !== undefined && columnKind(type) !== 'scalar') issue(path, `${part} column "${col}" must have a scalar type, not ${type}`);
      });
    }
  });

function columnPlan(name: string, spec: ColumnSpec): ColumnPlan {
  const type = typeof spec === 'string' ? spec : spec.type;
  return { name, q: quoteIdent(name), type, kind: columnKind(type), read: typeof spec === 'string' ? undefined : spec.read };
}

export function planTable(schema: string, table: TableMapping): TablePlan {
  const scopeNames = table.scope ?? [DEFAULT_SCOPE_COLUMN];
  const col = (name: string) => columnPlan(name, table.columns[name] ?? 'text');
  const scopeCols = scopeNames.map(col);
  const keyCols = table.key.map(col);
  const taken = new Set([...scopeNames, ...table.key]);
  const valueCols = Object.keys(table.columns)
    .filter((name) => !taken.has(name))
    .map(col);
  return { name: table.name, target: qualified(schema, table.name), scopeCols, keyCols, valueCols, all: [...scopeCols, ...keyCols, ...valueCols] };
}

export function createTableSql(plan: TablePlan): string {
  const cols = plan.all.map((c) => `${c.q} ${c.type}${c.kind === 'scalar' && isPart(plan, c) ? ' NOT NULL' : ''}`);
  const pk = [...plan.scopeCols, ...plan.keyCols].map((c) => c.q).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${plan.target} (${cols.join(', ')}, PRIMARY KEY (${pk}))`;
}

const isPart = (plan: TablePlan, c: ColumnPlan) => plan.scopeCols.includes(c) || plan.keyCols.includes(c);

const columnList = (cols: readonly ColumnPlan[], alias?: string) => cols.map((c) => (alias ? `${alias}.${c.q}` : c.q)).join(', ');
const equal = (cols: readonly ColumnPlan[], a: string, b: string) => cols.map((c) => `${a}.${c.q} = ${b}.${c.q}`).join(' AND ');

/** The batch's scopes, as a row set: `$1..$n` are text arrays, one per scope column. */
function fetchedScopes(plan: TablePlan): string {
  const names = plan.scopeCols.map((_, i) => `c${i}`);
  const casts = plan.scopeCols.map((c, i) => `u.c${i}::${c.type}`).join(', ');
  const arrays = plan.scopeCols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  return `SELECT ${casts} FROM unnest(${arrays}) AS u(${names.join(', ')})`;
}

/** Staged rows from text arrays `$first..`, one per column, cast back to the column types. */
export function unnestSource(plan: TablePlan, first: number): string {
  const casts = plan.all.map((c, i) => `u.c${i}::${c.type} AS ${c.q}`).join(', ');
  const arrays = plan.all.map((_, i) => `$${first + i}::text[]`).join(', ');
  return `SELECT ${casts} FROM unnest(${arrays}) AS u(${plan.all.map((_, i) => `c${i}`).join(', ')})`;
}

/**
 * One statement that replaces the batch's scopes in the table from the staged rows `source`
 * (a table name, or a subquery that becomes a materialised CTE). Parameters `$1..$k` are the
 * fetched scopes (k = number of scope columns). Returns one row `{ inserted, updated, deleted }`.
 */
export function applySql(plan: TablePlan, source: { table: string } | { query: string }): string {
  const id = [...plan.scopeCols, ...plan.keyCols];
  // Every read of the target is limited to the batch's scopes, so the primary key's scope prefix
  // drives it: the cost follows the batch, not the table.
  const inBatch = `(${columnList(plan.scopeCols, 't')}) IN (SELECT * FROM sc)`;
  const ctes = [`sc AS MATERIALIZED (${fetchedScopes(plan)})`];
  let from: string;
  if ('query' in source) {
    ctes.push(`s AS MATERIALIZED (${source.query})`);
    from = 's';
  } else {
    from = `${source.table} AS s`;
  }
  if (plan.valueCols.length > 0) {
    const sets = plan.valueCols.map((c) => `${c.q} = s.${c.q}`).join(', ');
    // Row-wise IS DISTINCT FROM treats NULL = NULL as equal: an unchanged row is never rewritten.
    ctes.push(
      `upd AS (UPDATE ${plan.target} AS t SET ${sets} FROM ${from} WHERE ${equal(id, 't', 's')} AND ${inBatch} ` +
        `AND (${columnList(plan.valueCols, 't')}) IS DISTINCT FROM (${columnList(plan.valueCols, 's')}) RETURNING 1)`,
    );
  }
  ctes.push(
    `ins AS (INSERT INTO ${plan.target} (${columnList(plan.all)}) SELECT ${columnList(plan.all, 's')} FROM ${from} ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${plan.target} AS t WHERE ${equal(id, 't', 's')} AND ${inBatch}) RETURNING 1)`,
  );
  ctes.push(
    `del AS (DELETE FROM ${plan.target} AS t WHERE ${inBatch} ` +
      `AND NOT EXISTS (SELECT 1 FROM ${from} WHERE ${equal(id, 't', 's')}) RETURNING 1)`,
  );
  const updated = plan.valueCols.length > 0 ? '(SELECT count(*) FROM upd)::int' : '0';
  return `WITH ${ctes.join(', ')} SELECT (SELECT count(*) FROM ins)::int AS inserted, ${updated} AS updated, (SELECT count(*) FROM del)::int AS deleted`;
}

/** Temp staging table, created once per session and emptied by every commit. */
export function stagingTable(plan: TablePlan, index: number): { name: string; createSql: string } {
  // The name carries a hash of the column layout, so two mappings on one pooled session never share one.
  const layout = plan.all.map((c) => `${c.name}:${c.type}`).join(',');
  const name = `tidesync_stage_${index}_${shortHash(layout)}`;
  const cols = plan.all.map((c) => `${c.q} ${c.type}`).join(', ');
  return { name: `pg_temp.${quoteIdent(name)}`, createSql: `CREATE TEMP TABLE IF NOT EXISTS ${quoteIdent(name)} (${cols}) ON COMMIT DELETE ROWS` };
}

function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

export function readScopeSql(plan: TablePlan): string {
  const where = plan.scopeCols.map((c, i) => `${c.q} = $${i + 1}::text::${c.type}`).join(' AND ');
  return `SELECT ${columnList([...plan.keyCols, ...plan.valueCols])} FROM ${plan.target} WHERE ${where}`;
}
