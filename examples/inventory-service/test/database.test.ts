import { describe, expect, it } from 'vitest';
import { openDb, StorageUnavailableError } from '../src/database.js';
import { sleep, TEST_DATABASE_URL } from './helpers.js';

describe('Db.transaction', () => {
  it('on PGlite: commits, rolls back on a throw, passes the caller\'s own error through', async () => {
    const db = await openDb({ databaseUrl: undefined, dataDir: 'memory://' });
    try {
      await db.query('CREATE TABLE t (n integer)');
      await db.transaction(async (q) => void (await q('INSERT INTO t VALUES (1)')));
      const mine = new Error('mine');
      await expect(db.transaction(async (q) => {
        await q('INSERT INTO t VALUES (2)');
        throw mine;
      })).rejects.toBe(mine);
      await expect(db.transaction((q) => q('INSERT INTO nowhere VALUES (1)'))).rejects.toBeInstanceOf(StorageUnavailableError);
      expect((await db.query<{ n: number }>('SELECT n FROM t')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it.skipIf(!TEST_DATABASE_URL)('on PostgreSQL: a session ended between two statements is a StorageUnavailableError, not a crash', async () => {
    const db = await openDb({ databaseUrl: TEST_DATABASE_URL, dataDir: 'memory://' });
    try {
      const outcome = db.transaction(async (q) => {
        const { rows } = await q<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // Another session ends this one while the transaction waits between statements: the
        // checked-out client emits 'error', which would be unhandled without a listener.
        await db.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await sleep(200);
        await q('SELECT 1');
      });
      await expect(outcome).rejects.toBeInstanceOf(StorageUnavailableError);
      // The pool goes on with a fresh connection.
      expect(await db.transaction(async (q) => (await q<{ one: number }>('SELECT 1 AS one')).rows[0]!.one)).toBe(1);
    } finally {
      await db.close();
    }
  });
});
