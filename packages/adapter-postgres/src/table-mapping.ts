/**
 * Table mapping — which tables a scope writes, and the SQL that replaces a scope in each.
 *
 * A table is declared by name, columns (with PostgreSQL types), key columns (a row's identity
 * within its scope) and scope columns (which scope a row belongs to). Its primary key is
 * scope columns + key columns. Scope columns are filled from `scopeValues(scope)`, never from the
 * rows, so a scope that is fetched empty still says which rows to delete.
 *
 * The apply statements (see `tableStatements`) guarantee, per table and batch:
 * - a row whose values are all NOT DISTINCT from the stored row is not written (no new tuple, no
 *   dead tuple, no WAL for it);
 * - changed rows are updated, new rows inserted, and rows of the batch's scopes that are absent
 *   from the staged rows deleted; rows of any other scope are not read for writing;
 * - they run inside the batch's transaction while it holds the batch's scope locks, so what they
 *   compare against cannot change under them (for writers that take those locks) and their counts
 *   are exact.
 */
import { z } from 'zod';
import { identifierMessage, isIdentifier, isTypeName, qualified, quoteIdent } from './identifiers.js';
import { binaryEncoder, type BinaryEncoder } from './copy-binary.js';
import { castType, lengthLimit, normalType, type LengthLimit } from './column-types.js';
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
  /** An integer type: a string value is staged in canonical decimal form ('01' → '1'). */
  integer: boolean;
  read: ((value: unknown) => unknown) | undefined;
  /**
   * The length limit of a character or bit type (see `column-types.ts`), and the type staged text
   * is cast to. Set from the declared type; for a domain, from the catalog when the store
   * initialises (the only fields of a plan that change after it is built).
   */
  limit: LengthLimit | undefined;
  cast: string;
  /** The column's binary COPY encoder, where its type has a simple binary form (see `copy-binary.ts`). */
  binary: BinaryEncoder | undefined;
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
  /**
   * Whether the staging table carries the target's primary key. The batch's own duplicate check
   * compares key texts, which is exact for `text`/`varchar` keys and for integer keys (their texts
   * are made canonical, see `stage.ts`); for any other key type two texts can name one value (1.0
   * and 1 in a `numeric` key, two spellings of one instant), so the database checks instead.
   */
  stagingKey: boolean;
  /** Every column has a binary COPY encoder: the table may be COPYed in binary format. */
  binaryCopy: boolean;
}

/** Key column types whose text, as staged, identifies the value exactly. */
const TEXT_EXACT = /^(text|varchar|character varying|smallint|integer|int|int2|int4|bigint|int8)(\(\d+\))?$/;
/** Integer key types: a string value is staged in canonical decimal form. */
export const INTEGER_TYPE = /^(smallint|integer|int|int2|int4|bigint|int8)$/;


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
      if (!isTypeName(type)) issue(['columns', col], `"${type}" is not a PostgreSQL type name (a type only: constraints such as NOT NULL belong in the table's own DDL)`);
      // `json` has no equality operator, so unchanged rows could not be recognised.
      else if (/^json(\s*\[\d*\])*$/.test(type.trim().toLowerCase())) {
        issue(['columns', col], `use ${type.trim().toLowerCase().replace('json', 'jsonb')} instead of ${type.trim()} (json cannot be compared, so unchanged rows would be rewritten)`);
      }
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
  const limit = lengthLimit(type);
  return {
    name,
    q: quoteIdent(name),
    type,
    kind: columnKind(type),
    limit,
    cast: castType(type, limit),
    integer: INTEGER_TYPE.test(normalType(type)),
    read: typeof spec === 'string' ? undefined : spec.read,
    binary: binaryEncoder(normalType(type)),
  };
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
  const stagingKey = keyCols.some((c) => !TEXT_EXACT.test(normalType(c.type)));
  const all = [...scopeCols, ...keyCols, ...valueCols];
  return { name: table.name, target: qualified(schema, table.name), scopeCols, keyCols, valueCols, all, stagingKey, binaryCopy: all.every((c) => c.binary) };
}

export function createTableSql(plan: TablePlan): string {
  const cols = plan.all.map((c) => `${c.q} ${c.type}${c.kind === 'scalar' && isPart(plan, c) ? ' NOT NULL' : ''}`);
  const pk = [...plan.scopeCols, ...plan.keyCols].map((c) => c.q).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${plan.target} (${cols.join(', ')}, PRIMARY KEY (${pk}))`;
}

const isPart = (plan: TablePlan, c: ColumnPlan) => plan.scopeCols.includes(c) || plan.keyCols.includes(c);

const columnList = (cols: readonly ColumnPlan[], alias?: string) => cols.map((c) => (alias ? `${alias}.${c.q}` : c.q)).join(', ');
const equal = (cols: readonly ColumnPlan[], a: string, b: string) => cols.map((c) => `${a}.${c.q} = ${b}.${c.q}`).join(' AND ');

/** The batch's scopes, as a row set: `$first..` are text arrays, one per scope column. */
function fetchedScopes(plan: TablePlan, first = 1): string {
  const names = plan.scopeCols.map((_, i) => `c${i}`);
  // Unlimited casts (`c.cast`): a value the column cannot hold must match no stored scope, never
  // be cut into another scope's name. Scope texts are fitted before they get here (`fitText`), so
  // a value PostgreSQL stores with its surplus spaces dropped is compared as stored.
  const casts = plan.scopeCols.map((c, i) => `u.c${i}::${c.cast}`).join(', ');
  const arrays = plan.scopeCols.map((_, i) => `$${first + i}::text[]`).join(', ');
  return `SELECT ${casts} FROM unnest(${arrays}) AS u(${names.join(', ')})`;
}

/** Staged rows from text arrays `$first..`, one per column, cast back to the column types. */
function unnestSource(plan: TablePlan, first: number): string {
  const casts = plan.all.map((c, i) => `u.c${i}::${c.cast} AS ${c.q}`).join(', ');
  const arrays = plan.all.map((_, i) => `$${first + i}::text[]`).join(', ');
  return `SELECT ${casts} FROM unnest(${arrays}) AS u(${plan.all.map((_, i) => `c${i}`).join(', ')})`;
}

// The diff table's two flags. A user's column name is a plain identifier, so it can never be one of these.
const HAD = quoteIdent('tidesync:had');
const HAS = quoteIdent('tidesync:has');

/**
 * The statements that replace the batch's scopes in one table. A batch is applied in steps, on
 * one connection inside the batch's transaction:
 *
 * 1. `emptySql` (see `batchEmptySql`, one statement for all the tables) — whether no scope of the
 *    batch has a row in the table yet. Then the rows go straight in (`COPY` into the table, or
 *    `insertFromUnnest`): nothing can be updated or deleted, and staging would only copy them twice.
 * 2. Otherwise the rows are staged into `staging` (COPY, or `stageFromUnnest`), and `diffSql`
 *    ($1..$k) compares them with the stored rows of the batch's scopes in one join, writing
 *    only the differences — new, changed and missing rows — into the `diff` table. It returns
 *    `{ n }`, the number of differences; an unchanged re-sync stops here, having written nothing.
 * 3. `applySql` writes the differences: UPDATE of changed rows (still guarded by IS DISTINCT
 *    FROM), INSERT of new ones, DELETE of missing ones, all by primary key, and returns
 *    `{ inserted, updated, deleted }`.
 *
 * Why a diff table rather than one statement over the staged rows: each part of a one-statement
 * apply joins every staged row with the target again (three joins, planned without statistics on
 * a fresh temporary table); here the full comparison happens once, and the writes join only the
 * rows that differ, whose count the planner can see.
 */
export interface TableStatements {
  staging: TempTable;
  diff: TempTable;
  stageFromUnnest: string;
  insertFromUnnest: string;
  diffSql: string;
  applySql: string;
}

export interface TempTable {
  /** `pg_temp."…"`, ready for SQL. */
  name: string;
  createSql: string;
}

export function tableStatements(plan: TablePlan, index: number): TableStatements {
  const id = [...plan.scopeCols, ...plan.keyCols];
  const first = id[0]!.q;
  const cols = columnList(plan.all);
  const layout = plan.all.map((c) => `${c.name}:${c.type}`).join(',');
  // Where key texts do not identify values exactly (`stagingKey`), the staging table has the
  // target's primary key: two rows that the database sees as one identity fail the load instead of
  // reaching one stored row. Elsewhere the batch's text check is exact and the index would only
  // cost (~15% of a staged write on PGlite).
  const stagingColumns = plan.all.map((c) => `${c.q} ${c.type}`);
  // The key's columns are in the name: two mappings with one column layout but different keys
  // (two stores on one session) must not share a staging table and so one primary key.
  const staging = plan.stagingKey
    ? tempTable(`tidesync_stage_${index}_${shortHash(`${layout}|pk(${id.map((c) => c.name).join(',')})`)}`, [...stagingColumns, `PRIMARY KEY (${columnList(id)})`])
    : tempTable(`tidesync_stage_${index}_${shortHash(layout)}`, stagingColumns);
  const diff = tempTable(`tidesync_diff_${index}_${shortHash(layout)}`, [...stagingColumns, `${HAD} boolean`, `${HAS} boolean`]);
  const sc = `WITH sc AS MATERIALIZED (${fetchedScopes(plan)})`;
  // Reads of the target are limited to the batch's scopes, so the primary key's scope prefix
  // drives them: the cost follows the batch, not the table.
  const inBatch = `(${columnList(plan.scopeCols, 't')}) IN (SELECT * FROM sc)`;
  const stored = `SELECT ${columnList([...id, ...plan.valueCols], 't')} FROM ${plan.target} AS t WHERE ${inBatch}`;
  // Row-wise IS DISTINCT FROM treats NULL = NULL as equal: an unchanged row is never a difference.
  const changed = plan.valueCols.length > 0 ? ` OR (${columnList(plan.valueCols, 'c')}) IS DISTINCT FROM (${columnList(plan.valueCols, 's')})` : '';
  const diffSql =
    `${sc}, d AS (INSERT INTO ${diff.name} (${cols}, ${HAD}, ${HAS}) ` +
    `SELECT ${id.map((c) => `coalesce(s.${c.q}, c.${c.q})`).join(', ')}${plan.valueCols.map((c) => `, s.${c.q}`).join('')}, c.${first} IS NOT NULL, s.${first} IS NOT NULL ` +
    `FROM ${staging.name} AS s FULL JOIN (${stored}) AS c ON ${equal(id, 's', 'c')} ` +
    `WHERE c.${first} IS NULL OR s.${first} IS NULL${changed} RETURNING 1) SELECT count(*)::int AS n FROM d`;
  const parts: string[] = [];
  if (plan.valueCols.length > 0) {
    const sets = plan.valueCols.map((c) => `${c.q} = d.${c.q}`).join(', ');
    parts.push(
      `upd AS (UPDATE ${plan.target} AS t SET ${sets} FROM ${diff.name} AS d WHERE d.${HAD} AND d.${HAS} AND ${equal(id, 't', 'd')} ` +
        `AND (${columnList(plan.valueCols, 't')}) IS DISTINCT FROM (${columnList(plan.valueCols, 'd')}) RETURNING 1)`,
    );
  }
  parts.push(`ins AS (INSERT INTO ${plan.target} (${cols}) SELECT ${columnList(plan.all, 'd')} FROM ${diff.name} AS d WHERE NOT d.${HAD} RETURNING 1)`);
  parts.push(`del AS (DELETE FROM ${plan.target} AS t USING ${diff.name} AS d WHERE NOT d.${HAS} AND ${equal(id, 't', 'd')} RETURNING 1)`);
  const updated = plan.valueCols.length > 0 ? '(SELECT count(*) FROM upd)::int' : '0';
  return {
    staging,
    diff,
    stageFromUnnest: `INSERT INTO ${staging.name} (${cols}) ${unnestSource(plan, 1)}`,
    insertFromUnnest: `INSERT INTO ${plan.target} (${cols}) ${unnestSource(plan, 1)}`,
    diffSql,
    applySql: `WITH ${parts.join(', ')} SELECT (SELECT count(*) FROM ins)::int AS inserted, ${updated} AS updated, (SELECT count(*) FROM del)::int AS deleted`,
  };
}

/**
 * One statement asking, for every mapped table, whether no scope of the batch has a row in it yet:
 * `{ e0, e1, … }` in the order of `plans`. Its parameters are each table's scope arrays in turn
 * (`StagedTable.scopeParams`, flattened). One round trip for all the tables, after the scope locks
 * are held (PostgreSQL; PGlite runs one transaction at a time): in READ COMMITTED the statement's
 * snapshot then sees every write that held them before.
 */
export function batchEmptySql(plans: readonly TablePlan[]): string {
  let next = 1;
  const ctes: string[] = [];
  const checks: string[] = [];
  plans.forEach((plan, i) => {
    ctes.push(`sc${i} AS MATERIALIZED (${fetchedScopes(plan, next)})`);
    next += plan.scopeCols.length;
    checks.push(`NOT EXISTS (SELECT 1 FROM ${plan.target} AS t WHERE (${columnList(plan.scopeCols, 't')}) IN (SELECT * FROM sc${i})) AS e${i}`);
  });
  return `WITH ${ctes.join(', ')} SELECT ${checks.join(', ')}`;
}

/**
 * A temporary table created once per session and emptied by every commit. The name carries a hash
 * of the column layout, so two mappings on one pooled session never share one.
 */
function tempTable(name: string, columns: string[]): TempTable {
  return { name: `pg_temp.${quoteIdent(name)}`, createSql: `CREATE TEMP TABLE IF NOT EXISTS ${quoteIdent(name)} (${columns.join(', ')}) ON COMMIT DELETE ROWS` };
}

function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

export function readScopeSql(plan: TablePlan): string {
  const where = plan.scopeCols.map((c, i) => `${c.q} = $${i + 1}::text::${c.cast}`).join(' AND ');
  return `SELECT ${columnList([...plan.keyCols, ...plan.valueCols])} FROM ${plan.target} WHERE ${where}`;
}
