/**
 * The service's database: embedded PGlite persisted under a data directory when no DATABASE_URL
 * is given, a node-postgres pool otherwise. Both answer `query(text, params) → { rows }`, which is
 * all the read queries, the products repository and adapter-postgres need.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { redactConnectionString } from '@tidesync/adapter-postgres';
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

const guarded = <R>(run: () => Promise<{ rows: R[] }>): Promise<{ rows: R[] }> =>
  run().catch((err: unknown) => {
    throw new StorageUnavailableError(`database query failed: ${redactConnectionString(err instanceof Error ? err.message : String(err))}`, { cause: err });
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
          return guarded(() => Promise.reject(err)) as never;
        }
        let broken = false;
        try {
          await guarded(() => conn.query('BEGIN') as never);
          const value = await fn((text, params) => guarded(() => conn.query(text, params) as never));
          await guarded(() => conn.query('COMMIT') as never);
          return value;
        } catch (err) {
          // A failed ROLLBACK means the connection is gone: it must not go back to the pool.
          await conn.query('ROLLBACK').catch(() => void (broken = true));
          throw err;
        } finally {
          conn.release(broken);
        }
      },
      close: () => pool.end(),
    };
  }
  const inMemory = options.dataDir.startsWith('memory://');
  const dir = inMemory ? options.dataDir : resolve(options.dataDir, 'pglite');
  if (!inMemory) await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  return {
    client: db,
    kind: 'pglite',
    description: inMemory ? 'embedded PGlite (in memory)' : `embedded PGlite at ${dir}`,
    query: (text, params) => guarded(() => db.query(text, params) as never),
    transaction: (fn) => db.transaction((tx) => fn((text, params) => guarded(() => tx.query(text, params) as never))),
    close: () => db.close(),
  };
}
