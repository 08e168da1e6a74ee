/**
 * The service's database: embedded PGlite persisted under a data directory when no DATABASE_URL
 * is given, a node-postgres pool otherwise. Both answer `query(text, params) → { rows }` (all the
 * read queries and adapter-postgres need) and `transaction(fn)` (the products repository's delete).
 * Every failure of the database itself surfaces as `StorageUnavailableError` (a 503, never a 500).
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { redactConnectionString } from '@tidesync/adapter-postgres';
import { errorMessage } from '@tidesync/core';
import pg from 'pg';

export interface Db {
  /** The client handed to adapter-postgres (a pg Pool or the PGlite instance). */
  readonly client: pg.Pool | PGlite;
  readonly kind: 'pglite' | 'postgres';
  /** For logs: where the data lives, without any password. */
  readonly description: string;
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /** Runs `fn`'s statements in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (query: Db['query']) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A query of the service's own failed: the database is down, restarting or unreachable. */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

const unavailable = (err: unknown): StorageUnavailableError =>
  err instanceof StorageUnavailableError
    ? err
    : new StorageUnavailableError(`database query failed: ${redactConnectionString(errorMessage(err))}`, { cause: err });

const guarded = <R>(run: () => Promise<{ rows: R[] }>): Promise<{ rows: R[] }> =>
  run().catch((err: unknown) => {
    throw unavailable(err);
  });

export interface OpenDbOptions {
  databaseUrl: string | undefined;
  /** PGlite's directory; `memory://` keeps it in memory (tests). */
  dataDir: string;
  onPoolError?: (message: string) => void;
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
    // An idle client losing its server must not crash the process; the pool replaces it.
    pool.on('error', (err) => options.onPoolError?.(redactConnectionString(err.message)));
    return {
      client: pool,
      kind: 'postgres',
      description: `PostgreSQL ${redactConnectionString(options.databaseUrl)}`,
      query: (text, params) => guarded(() => pool.query(text, params) as never),
      async transaction(fn) {
        let conn: pg.PoolClient;
        try {
          conn = await pool.connect();
        } catch (err) {
          throw unavailable(err);
        }
        // A checked-out client has no pool listener: a session the server ends between two
        // statements would emit an unhandled 'error' and take the process down.
        let failed: Error | undefined;
        const onError = (err: Error) => void (failed = err);
        conn.on('error', onError);
        let broken = false;
        try {
          // Spelled out: remove() relies on each statement taking a new snapshot after the locks
          // the previous one took, which a server defaulting to REPEATABLE READ would not do.
          await guarded(() => conn.query('BEGIN ISOLATION LEVEL READ COMMITTED') as never);
          const value = await fn((text, params) => guarded(() => conn.query(text, params) as never));
          await guarded(() => conn.query('COMMIT') as never);
          return value;
        } catch (err) {
          // A failed ROLLBACK means the connection is gone: it must not go back to the pool.
          await conn.query('ROLLBACK').catch(() => void (broken = true));
          throw err;
        } finally {
          conn.off('error', onError);
          conn.release(failed ?? broken);
        }
      },
      close: () => pool.end(),
    };
  }
  const inMemory = options.dataDir.startsWith('memory://');
  const dir = inMemory ? options.dataDir : resolve(options.dataDir, 'pglite');
  if (!inMemory) await mkdir(dir, { recursive: true });
  // In memory, PGlite's file system copies a whole file each time PostgreSQL preallocates space
  // for it (bulk loads slow down with the table's size); writing the new pages instead avoids it.
  // See adapter-postgres's README, "PGlite storage".
  const db = await PGlite.create(dir, inMemory ? { postgresqlconf: ['file_extend_method = write_zeros'] } : {});
  return {
    client: db,
    kind: 'pglite',
    description: inMemory ? 'embedded PGlite (in memory)' : `embedded PGlite at ${dir}`,
    query: (text, params) => guarded(() => db.query(text, params) as never),
    // fn's statements are guarded one by one; what fails around them (BEGIN, COMMIT, a closed
    // PGlite) is the database's failure too. Errors of fn's own making pass through unchanged.
    transaction: async (fn) => {
      let own: { error: unknown } | undefined;
      try {
        return await db.transaction(async (tx) => {
          try {
            return await fn((text, params) => guarded(() => tx.query(text, params) as never));
          } catch (error) {
            own = { error };
            throw error;
          }
        });
      } catch (err) {
        throw own ? own.error : unavailable(err);
      }
    },
    close: () => db.close(),
  };
}
