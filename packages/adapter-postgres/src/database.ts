/**
 * Database — one shape over the clients this store accepts: a node-postgres `Pool`, a single
 * connected node-postgres `Client` (or anything else with `query(text, params)`), a PGlite
 * instance, or a connection string (then a `pg` Pool is created, owned and closed here).
 *
 * Guarantees:
 * - `transaction(fn)` runs every statement of `fn` on one connection between BEGIN and COMMIT, and
 *   rolls back when `fn` throws. A connection that broke mid-transaction is destroyed, never handed
 *   back to a pool.
 * - On a single connection (PGlite, a lone Client) transactions are serialised in-process, because
 *   two interleaved BEGINs on one session would merge into one transaction.
 * - A client that was given to us is never closed; only a pool we created is.
 * - On a PGlite whose file system is PGlite's own in-memory one (`MemoryFS`: no data directory,
 *   `memory://`; `IdbFs`: `idb://`, memory synced to IndexedDB), each transaction creates new WAL
 *   segments without zero-filling them (`wal_init_zero = off`, for that transaction alone, when
 *   the current role may set it — asked in the same statement, so a role change is honoured and
 *   a role that may not never fails). Zero-filling reserves disk space for WAL; in memory there is
 *   none to reserve, and that file system grows a file by copying it whole, so zero-filling a 16 MB
 *   segment cost a large write some 5% of its time. Any other file system (a data directory, a
 *   custom `fs`, a wrapper we cannot see into) keeps the setting.
 * - Connection strings never appear in errors or logs (see `redactConnectionString`).
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { redactConnectionString, SyncError } from '@tidesync/core';

/** The least a client must offer. */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<unknown>;
}

export interface Rows<R> {
  rows: R[];
}

export type CopyFormat = 'text' | 'binary';
const copySql = (target: string, columns: string, source: string, format: CopyFormat = 'text') =>
  `COPY ${target} (${columns}) FROM ${source}${format === 'binary' ? ' (FORMAT binary)' : ''}`;

/** Statements on one connection inside one transaction. */
export interface Tx {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Rows<R>>;
  /**
   * Loads COPY `data` (chunks of whole rows; text format, UTF-8, or binary format with its header
   * and trailer) into `target (columns)`; absent when the client cannot COPY. On a server
   * connection `data` is pulled as the socket takes it (PGlite reads it whole first); an error it
   * throws aborts the COPY.
   */
  copyIn?(target: string, columns: string, data: Iterable<Uint8Array>, format?: CopyFormat): Promise<void>;
}

/** A connection kept for a session-level advisory lock. */
export interface HeldSession {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Rows<R>>;
  /** Whether the connection has reported an error (e.g. the server ended it). */
  readonly broken: boolean;
  /** Give the connection back; `destroy` when it must not be reused. */
  release(destroy: boolean): void;
}

export type DatabaseKind = 'pglite' | 'pool' | 'client';

export interface Database {
  readonly kind: DatabaseKind;
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Rows<R>>;
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** A dedicated connection (pool), the single session (client), or undefined (PGlite: one embedded session). */
  holdSession(): Promise<HeldSession | undefined>;
  close(): Promise<void>;
}

// Structural views of the clients we recognise; the packages themselves stay optional peers.
interface PgPoolClient extends Queryable {
  release(err?: Error | boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}
interface PgPool extends Queryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  totalCount: number;
}
interface PGliteLike extends Queryable {
  transaction<T>(fn: (tx: PGliteTx) => Promise<T>): Promise<T>;
  exec(text: string): Promise<unknown>;
  /** PGlite's file system (`MemoryFS`, `IdbFs`, `NodeFS`, …), set once `waitReady` resolves. */
  readonly fs?: object;
  readonly waitReady?: Promise<void>;
}
interface PGliteTx {
  query(text: string, params?: unknown[], options?: { blob?: Blob }): Promise<unknown>;
}

const isPGlite = (c: Queryable): c is PGliteLike =>
  typeof (c as Partial<PGliteLike>).transaction === 'function' && typeof (c as Partial<PGliteLike>).exec === 'function';
const isPool = (c: Queryable): c is PgPool =>
  typeof (c as Partial<PgPool>).connect === 'function' && typeof (c as Partial<PgPool>).totalCount === 'number';

const rowsOf = <R>(result: unknown): Rows<R> => ({ rows: ((result as { rows?: R[] }).rows ?? []) as R[] });

// Kept here for its importers: the one redaction rule lives in core.
export { redactConnectionString };

export function createDatabase(client: Queryable | string, onPoolError: (err: Error) => void): Database {
  if (typeof client === 'string') return ownedPool(client, onPoolError);
  if (isPGlite(client)) return pgliteDatabase(client);
  if (isPool(client)) return poolDatabase(client, false);
  return singleClientDatabase(client);
}

/** Runs `fn` between BEGIN and COMMIT on `conn`; a failed ROLLBACK means the connection is gone. */
async function inTransaction<T>(conn: Queryable, fn: (tx: Tx) => Promise<T>): Promise<{ value: T } | { error: unknown; broken: boolean }> {
  const tx: Tx = {
    query: async (text, params) => rowsOf(await conn.query(text, params)),
    copyIn: (target, columns, data, format) => pgCopyIn(conn, copySql(target, columns, 'STDIN', format), data),
  };
  try {
    // READ COMMITTED whatever the role's or database's default: a writer that waited for a scope
    // lock must see what the previous holder committed (its statements take fresh snapshots), or
    // it would diff against rows from before that commit and keep rows the later truth dropped.
    await conn.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    const value = await fn(tx);
    await conn.query('COMMIT');
    return { value };
  } catch (error) {
    try {
      await conn.query('ROLLBACK');
      return { error, broken: false };
    } catch {
      return { error, broken: true };
    }
  }
}

type CopyFrom = (sql: string) => NodeJS.WritableStream;
let copyFromLoader: Promise<CopyFrom | undefined> | undefined;

/** pg-copy-streams is an optional peer: without it, staging falls back to `unnest`. */
export function loadPgCopyStreams(): Promise<CopyFrom | undefined> {
  copyFromLoader ??= import('pg-copy-streams').then(
    (m) => ((m as { from?: CopyFrom }).from ?? (m as { default?: { from?: CopyFrom } }).default?.from),
    () => undefined,
  );
  return copyFromLoader;
}

async function pgCopyIn(conn: Queryable, sql: string, data: Iterable<Uint8Array>): Promise<void> {
  const from = await loadPgCopyStreams();
  if (!from) throw new SyncError('STORE_FAILED', 'COPY staging needs the pg-copy-streams package');
  const stream = (conn as unknown as { query(s: NodeJS.WritableStream): NodeJS.WritableStream }).query(from(sql));
  // Pulled chunk by chunk: Node encodes the next rows while the server parses these. A throw from
  // `data` destroys the stream, which sends CopyFail, so the server rejects the whole COPY.
  await pipeline(Readable.from(data, { objectMode: false }), stream);
}

function poolDatabase(pool: PgPool, owned: boolean): Database {
  return {
    kind: 'pool',
    query: async (text, params) => rowsOf(await pool.query(text, params)),
    async transaction(fn) {
      const conn = await pool.connect();
      // A checked-out client emits 'error' when the server ends its session; without a listener
      // that event would crash the host process.
      let failed: Error | undefined;
      const onError = (err: Error) => void (failed = err);
      conn.on('error', onError);
      const outcome = await inTransaction(conn, fn);
      conn.off('error', onError);
      const broken = 'broken' in outcome && outcome.broken;
      conn.release(broken || failed ? (failed ?? true) : undefined);
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    },
    async holdSession() {
      const conn = await pool.connect();
      let broken = false;
      const onError = () => void (broken = true);
      conn.on('error', onError);
      return {
        query: async (text, params) => rowsOf(await conn.query(text, params)),
        get broken() {
          return broken;
        },
        release(destroy) {
          conn.off('error', onError);
          conn.release(destroy || broken ? true : undefined);
        },
      };
    },
    async close() {
      if (owned) await pool.end();
    },
  };
}

function ownedPool(connectionString: string, onPoolError: (err: Error) => void): Database {
  let inner: Promise<Database> | undefined;
  const get = () =>
    (inner ??= import('pg').then(
      (m) => {
        const pg = ((m as { default?: unknown }).default ?? m) as { Pool: new (o: object) => PgPool };
        const pool = new pg.Pool({ connectionString });
        // Idle clients that lose their server emit on the pool: report, never crash.
        pool.on('error', onPoolError);
        return poolDatabase(pool, true);
      },
      (err: unknown) => {
        throw new SyncError('STORE_FAILED', 'a connection string needs the `pg` package installed', { cause: err });
      },
    ));
  return {
    kind: 'pool',
    query: async (text, params) => (await get()).query(text, params),
    transaction: async (fn) => (await get()).transaction(fn),
    holdSession: async () => (await get()).holdSession(),
    async close() {
      if (inner) await (await inner).close();
    },
  };
}

/** Serialises async work: each call starts after the previous one settled. */
export function serialiser() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
}

function singleClientDatabase(client: Queryable): Database {
  const exclusive = serialiser();
  return {
    kind: 'client',
    // Autocommit statements also wait, or they would land inside another caller's transaction.
    query: (text, params) => exclusive(async () => rowsOf(await client.query(text, params))),
    transaction: (fn) =>
      exclusive(async () => {
        const outcome = await inTransaction(client, fn);
        if ('error' in outcome) throw outcome.error;
        return outcome.value;
      }),
    async holdSession() {
      return {
        query: (text, params) => exclusive(async () => rowsOf(await client.query(text, params))),
        broken: false,
        release() {},
      };
    },
    async close() {},
  };
}

function pgliteDatabase(db: PGliteLike): Database {
  let inMemory: Promise<boolean> | undefined;
  return {
    kind: 'pglite',
    query: async (text, params) => rowsOf(await db.query(text, params)),
    // PGlite's own transaction() holds its exclusive lock for the whole callback.
    transaction: async (fn) => {
      const skipWalZeroing = await (inMemory ??= filesInMemory(db));
      return db.transaction(async (tx) => {
        if (skipWalZeroing) await tx.query(SKIP_WAL_ZEROING);
        return fn({
          query: async (text, params) => rowsOf(await tx.query(text, params)),
          async copyIn(target, columns, data, format) {
            // PGlite reads the data whole from one blob.
            await tx.query(copySql(target, columns, `'/dev/blob'`, format), [], { blob: new Blob([...data]) });
          },
        });
      });
    },
    async holdSession() {
      return undefined;
    },
    async close() {},
  };
}

/** `wal_init_zero = off` for this transaction, when the current role may set it; a no-op otherwise. */
const SKIP_WAL_ZEROING = `SELECT CASE WHEN has_parameter_privilege('wal_init_zero', 'SET') THEN set_config('wal_init_zero', 'off', true) END`;

/**
 * Whether `db` keeps its files in PGlite's in-memory file systems, told by class. PGlite ships
 * an ESM and a CommonJS build, each with its own classes, and `db` may come from either: both are
 * asked. A PGlite this process cannot load (another copy, a bundle) gets no for an answer, which
 * only keeps PostgreSQL's default.
 */
async function filesInMemory(db: PGliteLike): Promise<boolean> {
  // `new PGlite()` sets its file system while it starts; a first transaction may come before.
  await db.waitReady?.catch(() => undefined);
  if (!db.fs) return false;
  const isMemoryFs = (build: { MemoryFS?: unknown; IdbFs?: unknown }) =>
    [build.MemoryFS, build.IdbFs].some((fs) => typeof fs === 'function' && db.fs instanceof fs);
  try {
    if (isMemoryFs(await import('@electric-sql/pglite'))) return true;
  } catch {
    // not loadable as ESM from here
  }
  try {
    // Loaded only when the ESM classes did not match: the CommonJS build is not small.
    return isMemoryFs(createRequire(import.meta.url)('@electric-sql/pglite') as { MemoryFS?: unknown; IdbFs?: unknown });
  } catch {
    return false; // not loadable as CommonJS from here either
  }
}
