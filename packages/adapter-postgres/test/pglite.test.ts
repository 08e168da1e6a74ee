import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { itemsTable, randomSchema } from './helpers.js';

/**
 * What a write does on PGlite, seen from within its transaction: a trigger on the mapped table
 * records the statement that inserted the rows and the WAL zero-filling setting in force.
 * - Staging: COPY from '/dev/blob' needs a superuser or pg_read_server_files; any other role stages
 *   through `unnest`.
 * - On a PGlite whose files live in memory, write transactions skip zero-filling new WAL segments
 *   (see database.ts), where the role may set it.
 */
describe('PGlite: staging by role, WAL zero-filling by storage', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** Writes one scope through a store on `db` (as `role`, when given); what the write's transaction saw. */
  async function insideWrite(db: PGlite, role?: string): Promise<{ setting: string; statement: string }> {
    const schema = randomSchema();
    await db.exec(`
      CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.seen (setting text, statement text);
      CREATE FUNCTION ${schema}.note_setting() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN INSERT INTO ${schema}.seen VALUES (current_setting('wal_init_zero'), split_part(current_query(), ' ', 1)); RETURN NULL; END $$;
    `);
    if (role) await db.exec(`GRANT CREATE ON DATABASE postgres TO ${role}; GRANT ALL ON SCHEMA ${schema} TO ${role}; GRANT ALL ON ${schema}.seen TO ${role}; SET ROLE ${role}`);
    const store = createPostgresStore<{ id: string; name: string; price: number }[]>({ client: db, schema, tables: [itemsTable], autoMigrate: true });
    await store.init();
    await db.exec(`CREATE TRIGGER note AFTER INSERT ON ${schema}.items FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.note_setting()`);
    const result = await store.write({ scopes: [{ key: 'k:a', scope: 'a', job: 'j', data: [{ id: '1', name: 'one', price: 1.5 }], fetchedAt: 1 }] });
    expect(result.inserted).toBe(1);
    expect(await store.readScope('a')).toEqual([{ id: '1', name: 'one', price: 1.5, tags: null }]);
    const { rows } = await db.query<{ setting: string; statement: string }>(`SELECT setting, statement FROM ${schema}.seen`);
    expect(rows).toHaveLength(1);
    await store.close();
    return rows[0]!;
  }

  const open = async (dataDir?: string) => {
    const db = await PGlite.create(dataDir);
    cleanups.push(() => db.close());
    return db;
  };

  it('in memory (no data directory, memory://): off inside the write, and only there', async () => {
    for (const dataDir of [undefined, 'memory://tidesync-test']) {
      const db = await open(dataDir);
      expect(await insideWrite(db)).toEqual({ setting: 'off', statement: 'COPY' });
      // SET LOCAL: the session's own setting is untouched.
      expect((await db.query<{ s: string }>(`SELECT current_setting('wal_init_zero') AS s`)).rows[0]!.s).toBe('on');
    }
  });

  it('on disk (a data directory): left as it is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidesync-pglite-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    expect(await insideWrite(await open(dir))).toEqual({ setting: 'on', statement: 'COPY' });
  });

  it('a role without file access stages through unnest; granted pg_read_server_files, through COPY', async () => {
    const db = await open();
    await db.exec(`CREATE ROLE tidesync_app`);
    expect(await insideWrite(db, 'tidesync_app')).toEqual({ setting: 'on', statement: 'INSERT' });
    await db.exec(`RESET ROLE; CREATE ROLE tidesync_reader; GRANT pg_read_server_files TO tidesync_reader`);
    expect((await insideWrite(db, 'tidesync_reader')).statement).toBe('COPY');
  });

  it('a role that may not set wal_init_zero writes with it as it is; one granted SET skips zero-filling', async () => {
    const db = await open();
    await db.exec(`CREATE ROLE tidesync_app`);
    expect((await insideWrite(db, 'tidesync_app')).setting).toBe('on');
    await db.exec(`RESET ROLE; CREATE ROLE tidesync_granted; GRANT SET ON PARAMETER wal_init_zero TO tidesync_granted`);
    expect((await insideWrite(db, 'tidesync_granted')).setting).toBe('off');
  });
});
