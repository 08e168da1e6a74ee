import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryFS, PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { itemsTable, randomSchema } from './helpers.js';

type Item = { id: string; name: string; price: number };

/**
 * What a write does on PGlite, seen from within its transaction: a trigger on the mapped table
 * records the statement that inserted the rows and the WAL zero-filling setting in force.
 * - Staging: COPY from '/dev/blob' needs a superuser or pg_read_server_files; any other role stages
 *   through `unnest`. Asked at every write: the session's role may change.
 * - On PGlite's in-memory file systems, write transactions skip zero-filling new WAL segments (see
 *   database.ts), where the current role may set it.
 */
describe('PGlite: staging by role, WAL zero-filling by file system', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const open = async (options?: string | { fs: MemoryFS | NodeFS }) => {
    const db = typeof options === 'object' ? await PGlite.create(options) : await PGlite.create(options);
    cleanups.push(() => db.close());
    return db;
  };
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidesync-pglite-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  /**
   * A store on `db` with the recording trigger, initialised as the session's user. `role`, when
   * given, may use the schema: the caller switches to it with SET ROLE whenever it likes.
   */
  async function storeOn(db: PGlite, role?: string, storeFirst = false): Promise<{ store: PostgresStore<Item[]>; write(id: string): Promise<{ setting: string; statement: string }> }> {
    const schema = randomSchema();
    const store = createPostgresStore<Item[]>({ client: db, schema, tables: [itemsTable], autoMigrate: true });
    // `storeFirst`: the store's init is the first use of the database (it creates the schema).
    if (storeFirst) await store.init();
    await db.exec(`
      CREATE SCHEMA IF NOT EXISTS ${schema};
      CREATE TABLE ${schema}.seen (n serial, setting text, statement text);
      CREATE FUNCTION ${schema}.note_setting() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN INSERT INTO ${schema}.seen (setting, statement) VALUES (current_setting('wal_init_zero'), split_part(current_query(), ' ', 1)); RETURN NULL; END $$;
    `);
    await store.init();
    await db.exec(`CREATE TRIGGER note AFTER INSERT ON ${schema}.items FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.note_setting()`);
    if (role) await db.exec(`GRANT ALL ON SCHEMA ${schema} TO ${role}; GRANT ALL ON ALL TABLES IN SCHEMA ${schema} TO ${role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`);
    cleanups.push(() => store.close());
    return {
      store,
      async write(id) {
        // A new scope each time: its rows are inserted (the trigger fires), never diffed.
        const result = await store.write({ scopes: [{ key: `k:${id}`, scope: id, job: 'j', data: [{ id, name: 'one', price: 1.5 }], fetchedAt: 1 }] });
        expect(result.inserted).toBe(1);
        expect(await store.readScope(id)).toEqual([{ id, name: 'one', price: 1.5, tags: null }]);
        const { rows } = await db.query<{ setting: string; statement: string }>(`SELECT setting, statement FROM ${schema}.seen ORDER BY n DESC LIMIT 1`);
        return rows[0]!;
      },
    };
  }

  it('in memory (no data directory, memory://, a MemoryFS): off inside the write, and only there', async () => {
    for (const options of [undefined, 'memory://tidesync-test', { fs: new MemoryFS() }]) {
      const db = await open(options);
      expect(await (await storeOn(db)).write('a')).toEqual({ setting: 'off', statement: 'COPY' });
      // SET LOCAL: the session's own setting is untouched.
      expect((await db.query<{ s: string }>(`SELECT current_setting('wal_init_zero') AS s`)).rows[0]!.s).toBe('on');
    }
  });

  it('in memory from new PGlite(), not yet started when the store first uses it: off as well', async () => {
    const db = new PGlite();
    cleanups.push(() => db.close());
    expect(await (await storeOn(db, undefined, true)).write('a')).toEqual({ setting: 'off', statement: 'COPY' });
  });

  it('in memory from PGlite\'s CommonJS build (its own classes): off as well', async () => {
    const { PGlite: PGliteCjs } = createRequire(import.meta.url)('@electric-sql/pglite') as { PGlite: typeof PGlite };
    expect(PGliteCjs).not.toBe(PGlite);
    const db = await PGliteCjs.create();
    cleanups.push(() => db.close());
    expect(await (await storeOn(db)).write('a')).toEqual({ setting: 'off', statement: 'COPY' });
  });

  it('on disk (a data directory, or a NodeFS given as fs): left as it is', async () => {
    expect(await (await storeOn(await open(await tempDir()))).write('a')).toEqual({ setting: 'on', statement: 'COPY' });
    expect(await (await storeOn(await open({ fs: new NodeFS(await tempDir()) }))).write('a')).toEqual({ setting: 'on', statement: 'COPY' });
  });

  it('follows the session role from write to write: COPY and no zero-filling only where the role may', async () => {
    const db = await open();
    await db.exec(`
      CREATE ROLE tidesync_plain;
      CREATE ROLE tidesync_reader; GRANT pg_read_server_files TO tidesync_reader;
      CREATE ROLE tidesync_tuner; GRANT SET ON PARAMETER wal_init_zero TO tidesync_tuner;
    `);
    const { write } = await storeOn(db, 'tidesync_plain, tidesync_reader, tidesync_tuner');
    // Initialised and first written as the superuser…
    expect(await write('a')).toEqual({ setting: 'off', statement: 'COPY' });
    // …then each role gets what it may: nothing, COPY, or no zero-filling.
    await db.exec('SET ROLE tidesync_plain');
    expect(await write('b')).toEqual({ setting: 'on', statement: 'INSERT' });
    await db.exec('RESET ROLE; SET ROLE tidesync_reader');
    expect(await write('c')).toEqual({ setting: 'on', statement: 'COPY' });
    await db.exec('RESET ROLE; SET ROLE tidesync_tuner');
    expect(await write('d')).toEqual({ setting: 'off', statement: 'INSERT' });
    await db.exec('RESET ROLE');
    expect(await write('e')).toEqual({ setting: 'off', statement: 'COPY' });
  });
});
