/**
 * Staging — turns a batch's mapped rows into what the database loads: COPY text, COPY binary
 * (PGlite, where every column has an exact binary form), or one text array per column for `unnest`.
 *
 * Guarantees:
 * - Before a transaction opens, `stageBatch` checks the batch's shape: every scope's mapped rows
 *   give an array for every table, and every scope column has a value its column can hold (scope
 *   texts fitted to their column, see `column-types.ts`).
 * - Every row is checked as it is encoded — every key column has a value, every value fits its
 *   column kind, no scope holds two rows with one key (as stored) — and the error names the
 *   scope, the table and the column. On the COPY path that happens while the text streams into the
 *   database, so a bad row aborts the batch's transaction and nothing of the batch lands.
 * - The text outputs hold the same text for every value (see `encode.ts`), and the binary output
 *   only values whose binary form stores exactly that (see `copy-binary.ts`), so every path stores
 *   identical data.
 *
 * COPY text is produced as UTF-8 bytes (see `copy-buffer.ts`), in chunks as the connection takes
 * them, so on a server connection Node encodes the next rows while PostgreSQL parses the previous
 * ones, and the batch's text never sits in memory whole (PGlite takes it as one blob). The per-row
 * loops run once per value of every batch: the COPY loops build no per-row arrays or line strings
 * (only each value's own text), and duplicate keys are found by comparing each key with the one
 * before while rows come in key order, with nested maps of the key texts once they do not
 * (`KeyCheck`), never with a concatenated identity string per row.
 */
import { StoreRejectedError, SyncError, errorMessage, isStoreRejection, type ScopeWrite } from '@tidesync/core';
import { fitText, normalType } from './column-types.js';
import { BINARY_HEADER, BINARY_TRAILER } from './copy-binary.js';
import { CopyBuffer } from './copy-buffer.js';
import { encodeValue, numberText } from './encode.js';
import type { ColumnPlan, Row, TablePlan } from './table-mapping.js';

/** Per table, the batch's rows ready to encode. */
export interface StagedTable {
  plan: TablePlan;
  rowCount: number;
  /** Text arrays of the fetched scopes, one per scope column. */
  scopeParams: string[][];
  /** Each scope's rows with its scope columns' texts. */
  parts: StagedScope[];
}

interface StagedScope {
  scope: string;
  scopeText: string[];
  rows: readonly Row[];
}

export interface Stager {
  /** Mapped rows as a user's `rows` function returns them: an array (one table) or `{ [table]: rows }`. */
  toRows(data: unknown, scope: string): Row[] | Record<string, Row[]>;
  /** The scope columns' values for a scope key. */
  scopeValues(scope: string): Record<string, unknown>;
}

export function stageBatch<D>(plans: readonly TablePlan[], stager: Stager, scopes: readonly ScopeWrite<D>[]): StagedTable[] {
  const staged: StagedTable[] = plans.map((plan) => ({ plan, rowCount: 0, scopeParams: plan.scopeCols.map(() => []), parts: [] }));
  // Two scope keys with the same scope values (`p14` and `p014` under a Number() mapping) would
  // write one scope twice, under two locks, with their rows mixed: refuse the batch.
  const scopeOwners = plans.map(() => new Map<string, string>());
  for (const sw of scopes) {
    // The user's mappings failing on one scope's data is that scope's fault, not the store's.
    const values = rejectingThrows(sw.scope, 'scopeValues()', () => stager.scopeValues(sw.scope));
    const mapped = rejectingThrows(sw.scope, 'rows()', () => stager.toRows(sw.data, sw.scope));
    if (Array.isArray(mapped) && plans.length > 1) throw new StoreRejectedError(`scope ${sw.scope}: rows() must return { [table]: rows } when several tables are mapped`);
    if (!mapped || typeof mapped !== 'object') throw new StoreRejectedError(`scope ${sw.scope}: data must be an array of rows`);
    const perTable: Record<string, Row[] | undefined> = Array.isArray(mapped) ? { [plans[0]!.name]: mapped } : mapped;
    for (const [ti, t] of staged.entries()) {
      const rows = perTable[t.plan.name];
      if (!Array.isArray(rows)) throw new StoreRejectedError(`scope ${sw.scope}: no array of rows for table ${t.plan.name} (return [] for none)`);
      const scopeText = scopeTexts(t.plan, values, sw.scope);
      const owners = scopeOwners[ti]!;
      const identity = scopeText.join('\u0000');
      const owner = owners.get(identity);
      if (owner !== undefined) {
        throw new SyncError('STORE_CONFLICT', `scopes ${owner} and ${sw.scope} both map to (${scopeText.join(', ')}) in table ${t.plan.name}`);
      }
      owners.set(identity, sw.scope);
      scopeText.forEach((text, i) => t.scopeParams[i]!.push(text));
      t.parts.push({ scope: sw.scope, scopeText, rows });
      t.rowCount += rows.length;
    }
  }
  return staged;
}

/**
 * The identity of each scope of a staged table as the database sees it — scope column names and
 * fitted texts — for the scope locks: two spellings of one stored scope (`'north '` and `'north'`
 * in a varchar(5)) take one lock, and tables scoped by the same columns share it (one lock per
 * scope, not per table).
 */
export const scopeIdentities = (t: StagedTable): string[] => {
  const columns = t.plan.scopeCols.map((c) => c.name).join(',');
  return t.parts.map((p) => `${columns}\u0000${p.scopeText.join('\u0000')}`);
};

/** Bytes per yielded COPY chunk (whole rows): big enough to amortise a write, small enough to overlap. */
const COPY_CHUNK_BYTES = 64 * 1024;
const TAB = 0x09;
const NEWLINE = 0x0a;

/** The table's rows as COPY text-format bytes, in chunks of whole rows. */
export function* copyChunks(t: StagedTable): Generator<Buffer> {
  const out = new CopyBuffer(COPY_CHUNK_BYTES + 16 * 1024);
  for (const part of t.parts) {
    // Duplicate keys are checked over the whole scope, which may span chunks.
    const keys = new KeyCheck(t.plan, part.rows);
    const prefix = new CopyBuffer(256);
    part.scopeText.forEach((text, i) => {
      if (i > 0) prefix.byte(TAB);
      prefix.text(text);
    });
    const prefixBytes = prefix.take();
    for (let from = 0; from < part.rows.length; ) {
      from = copyLines(t.plan, part, prefixBytes, keys, from, out);
      if (out.length >= COPY_CHUNK_BYTES) yield out.take();
    }
  }
  if (out.length > 0) yield out.take();
}

/**
 * The table's rows in COPY binary format (chunks of whole rows, header first, trailer last), or
 * undefined when a value has no exact binary form (see `copy-binary.ts`): then the caller uses
 * `copyChunks`. The rows get the same checks as in `copyChunks`, and the checks throw the same errors.
 */
export function binaryCopy(t: StagedTable): Buffer[] | undefined {
  if (!t.plan.binaryCopy) return undefined;
  const chunks: Buffer[] = [];
  const out = new CopyBuffer(COPY_CHUNK_BYTES + 16 * 1024);
  out.bytes(BINARY_HEADER);
  const { plan } = t;
  const fields = plan.all.length;
  const keyTexts: string[] = new Array<string>(plan.keyCols.length);
  for (const part of t.parts) {
    // Every row of a scope starts alike: its field count, then the scope columns' fields.
    const head = new CopyBuffer(256);
    head.int16(fields);
    for (const [i, c] of plan.scopeCols.entries()) if (!c.binary!(head, part.scopeText[i])) return undefined;
    const rowHead = head.take();
    const keys = new KeyCheck(plan, part.rows);
    let column: ColumnPlan | undefined;
    try {
      for (const row of part.rows) {
        out.bytes(rowHead);
        for (let k = 0; k < plan.keyCols.length; k++) {
          column = plan.keyCols[k]!;
          const text = keyText(row, column);
          keyTexts[k] = text;
          if (!column.binary!(out, text)) return undefined;
        }
        if (!keys.add(keyTexts)) throw duplicate(plan, part.scope, keyTexts);
        for (const c of plan.valueCols) {
          column = c;
          const value = row[c.name];
          if (value === null || value === undefined) out.int32(-1);
          else if (!c.binary!(out, value)) return undefined;
        }
        if (out.length >= COPY_CHUNK_BYTES) chunks.push(out.take());
      }
    } catch (err) {
      throw rowError(err, plan, part.scope, column);
    }
  }
  out.bytes(BINARY_TRAILER);
  chunks.push(out.take());
  return chunks;
}

/** The table's rows as one text array per column, for `unnest`. */
export function arrayColumns(t: StagedTable): (string | null)[][] {
  const columns: (string | null)[][] = t.plan.all.map(() => []);
  for (const part of t.parts) arrayRows(t.plan, part, columns);
  return columns;
}

function scopeTexts(plan: TablePlan, values: Record<string, unknown>, scope: string): string[] {
  return plan.scopeCols.map((c) => {
    // '014' and 14 are one stored scope: one identity for the batch check and one lock.
    const canonical = canonicalInteger(values[c.name], c) ?? canonicalScopeText(values[c.name], c);
    if (canonical !== undefined) return canonical;
    let text: string | null;
    try {
      text = encodeValue(values[c.name], c.kind);
    } catch (err) {
      throw new StoreRejectedError(`scope ${scope}: scope column ${c.name}: ${errorMessage(err)}`);
    }
    if (text === null) throw new StoreRejectedError(`scope ${scope}: scopeValues gave no value for ${plan.name}.${c.name}`);
    if (!c.limit) return text;
    // Compared with stored scopes before it is stored: fitted to the column as storing it would.
    const fitted = fitText(text, c.limit);
    if (fitted === undefined) throw new StoreRejectedError(`scope ${scope}: scope column ${plan.name}.${c.name}: "${text}" does not fit type ${c.type}`);
    return fitted;
  });
}

/** Appends COPY rows of `part.rows` from `from` on until `out` holds a chunk's worth; returns where it stopped. */
function copyLines(plan: TablePlan, part: StagedScope, prefix: Uint8Array, keys: KeyCheck, from: number, out: CopyBuffer): number {
  const { rows, scope } = part;
  const keyTexts: string[] = new Array<string>(plan.keyCols.length);
  let column: ColumnPlan | undefined;
  let i = from;
  try {
    for (; i < rows.length && out.length < COPY_CHUNK_BYTES; i++) {
      const row = rows[i]!;
      out.bytes(prefix);
      for (let k = 0; k < plan.keyCols.length; k++) {
        column = plan.keyCols[k]!;
        const text = keyText(row, column);
        keyTexts[k] = text;
        out.byte(TAB);
        out.text(text);
      }
      if (!keys.add(keyTexts)) throw duplicate(plan, scope, keyTexts);
      for (const c of plan.valueCols) {
        column = c;
        out.byte(TAB);
        const value = row[c.name];
        // A finite number's text never holds a character COPY escapes, and most values are numbers.
        if (typeof value === 'number' && c.kind === 'scalar' && Number.isFinite(value)) out.ascii(numberText(value));
        else {
          const text = encodeValue(value, c.kind);
          if (text === null) out.ascii(NULL_FIELD);
          else out.text(text);
        }
      }
      out.byte(NEWLINE);
    }
  } catch (err) {
    throw rowError(err, plan, scope, column);
  }
  return i;
}

/** COPY's NULL in text format. */
const NULL_FIELD = '\\N';

/** Appends one text per column per row to the column arrays that `unnest` takes. */
function arrayRows(plan: TablePlan, part: StagedScope, columns: (string | null)[][]): void {
  const { rows, scope, scopeText } = part;
  const nScope = scopeText.length;
  const nKey = plan.keyCols.length;
  const keys = new KeyCheck(plan, rows);
  const keyTexts: string[] = new Array<string>(nKey);
  let column: ColumnPlan | undefined;
  try {
    for (const row of rows) {
      for (let k = 0; k < nKey; k++) {
        column = plan.keyCols[k]!;
        keyTexts[k] = keyText(row, column);
      }
      if (!keys.add(keyTexts)) throw duplicate(plan, scope, keyTexts);
      // Values are encoded before anything is appended, so a bad value leaves the arrays aligned.
      const texts = plan.valueCols.map((c) => {
        column = c;
        return encodeValue(row[c.name], c.kind);
      });
      for (let j = 0; j < nScope; j++) columns[j]!.push(scopeText[j]!);
      for (let k = 0; k < nKey; k++) columns[nScope + k]!.push(keyTexts[k]!);
      for (let v = 0; v < texts.length; v++) columns[nScope + nKey + v]!.push(texts[v]!);
    }
  } catch (err) {
    throw rowError(err, plan, scope, column);
  }
}

/**
 * An integer column's value given as non-canonical text ('01', ' +7'), in canonical form, so that
 * '01' and 1 are one value to the batch's checks, as they are to the database; undefined for
 * anything else (text that is not an integer goes as it is, and the database rejects it).
 */
function canonicalInteger(value: unknown, c: ColumnPlan): string | undefined {
  return c.integer && typeof value === 'string' && CANONICAL_INTEGER_NOT.test(value) && INTEGER_TEXT.test(value) ? BigInt(value.trim()).toString() : undefined;
}

const BOOLEAN_TEXT: Record<string, string> = { t: 'true', true: 'true', y: 'true', yes: 'true', on: 'true', '1': 'true', f: 'false', false: 'false', n: 'false', no: 'false', off: 'false', '0': 'false' };

/**
 * A scope value in the form the database stores it, for types where two spellings name one value
 * and the scope is given in another: a uuid in capitals or braces, a boolean as 't' or 'yes', a
 * `Date` in a date column (stored as its UTC date). Undefined where the text as given is used.
 */
function canonicalScopeText(value: unknown, c: ColumnPlan): string | undefined {
  const type = normalType(c.type);
  if (type === 'uuid' && typeof value === 'string') {
    const hex = value.trim().replace(/^\{(.*)\}$/, '$1').replaceAll('-', '').toLowerCase();
    return /^[0-9a-f]{32}$/.test(hex) ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : undefined;
  }
  if ((type === 'boolean' || type === 'bool') && typeof value === 'string') return BOOLEAN_TEXT[value.trim().toLowerCase()];
  if (type === 'date' && value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString().slice(0, 10);
  return undefined;
}

function keyText(row: Row, c: ColumnPlan): string {
  const value = row[c.name];
  const integer = canonicalInteger(value, c);
  if (integer !== undefined) return integer;
  const text = encodeValue(value, c.kind);
  if (text === null) throw new Error('no value for a key column');
  // As it will be stored ('abc ' in a varchar(3) is 'abc'), so the duplicate check sees one key;
  // a text the column cannot hold goes as it is, for the database to reject.
  return c.limit ? (fitText(text, c.limit) ?? text) : text;
}

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
/** Anything but `0` or a minus-or-nothing digit run without a leading zero: needs canonicalising. */
const CANONICAL_INTEGER_NOT = /^(?!(0|-?[1-9]\d*)$)/;

const duplicate = (plan: TablePlan, scope: string, keyTexts: readonly string[]) =>
  new SyncError('STORE_CONFLICT', `scope ${scope}: two rows of ${plan.name} with key (${keyTexts.join(', ')})`);

const rejectingThrows = <T>(scope: string, what: string, fn: () => T): T => {
  try {
    return fn();
  } catch (err) {
    throw isStoreRejection(err) ? err : new StoreRejectedError(`scope ${scope}: ${what} failed: ${errorMessage(err)}`, { cause: err });
  }
};

function rowError(err: unknown, plan: TablePlan, scope: string, column: ColumnPlan | undefined): SyncError {
  // Whatever a row's value or a user's function threw is the data's fault (a SyncError of another
  // code included, which the engine would take for a store that is away).
  if (isStoreRejection(err)) return err as SyncError;
  return new StoreRejectedError(`scope ${scope}: ${plan.name}.${column?.name ?? '?'}: ${errorMessage(err)}`, { cause: err });
}

/**
 * Refuses a key tuple seen before in one scope; `add` is called once per row, in row order. Rows
 * usually arrive in key order (a partner lists slots by time): while every tuple is greater than
 * the one before, none can repeat, and one comparison per row decides — no set, no garbage. The
 * first row out of order builds a `KeySet` of the tuples so far (their texts computed again from
 * the rows), which decides from then on.
 */
class KeyCheck {
  private readonly previous: string[];
  private count = 0;
  private set: KeySet | undefined;

  constructor(
    private readonly plan: TablePlan,
    private readonly rows: readonly Row[],
  ) {
    this.previous = new Array<string>(plan.keyCols.length);
  }

  /** Records the row's key tuple; false when the scope had it already. */
  add(texts: readonly string[]): boolean {
    if (this.set) return this.set.add(texts);
    const n = texts.length;
    if (this.count > 0) {
      let k = 0;
      while (k < n && texts[k] === this.previous[k]) k++;
      if (k === n) return false;
      if (texts[k]! < this.previous[k]!) {
        this.set = this.replay();
        return this.set.add(texts);
      }
    }
    for (let j = 0; j < n; j++) this.previous[j] = texts[j]!;
    this.count++;
    return true;
  }

  private replay(): KeySet {
    const set = new KeySet(this.plan.keyCols.length);
    const texts = new Array<string>(this.plan.keyCols.length);
    for (let i = 0; i < this.count; i++) {
      for (let k = 0; k < texts.length; k++) texts[k] = keyText(this.rows[i]!, this.plan.keyCols[k]!);
      set.add(texts);
    }
    return set;
  }
}

/**
 * The key tuples seen in one scope. Nested maps keyed by each column's text, a set for the last
 * column: no identity string is built per row, and the texts (often the row's own strings) carry
 * their cached hashes.
 */
class KeySet {
  private readonly root: Map<string, unknown> | Set<string>;
  constructor(private readonly depth: number) {
    this.root = depth === 1 ? new Set<string>() : new Map<string, unknown>();
  }

  /** Adds the tuple; false when it was already there. */
  add(texts: readonly string[]): boolean {
    let level = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      const map = level as Map<string, Map<string, unknown> | Set<string>>;
      let next = map.get(texts[i]!);
      if (next === undefined) {
        next = i === last - 1 ? new Set<string>() : new Map<string, unknown>();
        map.set(texts[i]!, next);
      }
      level = next;
    }
    // The last column's texts are a Set: one lookup tells whether the add found the tuple there.
    const leaf = level as Set<string>;
    const size = leaf.size;
    return leaf.add(texts[last]!).size !== size;
  }
}
