import { storeConformance, type ConformanceRow } from '@tidesync/core/testing';
import { SyncConfigError } from '@tidesync/core';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/index.js';

storeConformance('memory', async () => {
  const store = createMemoryStore<ConformanceRow[]>();
  return {
    store,
    readScope: async (scope) => store.readScope(scope) as unknown as ConformanceRow[],
    reopen: async () => store,
  };
}, { persistent: true, forgetKeys: true });

describe('createMemoryStore', () => {
  it('maps fetched data into rows with a custom mapping and identity', async () => {
    const store = createMemoryStore<{ slots: Array<{ time: string; left: number }> }>({
      rows: (data, scope) => data.slots.map((s) => ({ scope, time: s.time, left: s.left })),
      rowKey: (row) => String(row.time),
    });
    const write = (left: number) =>
      store.write({ scopes: [{ key: 'k', scope: 'p14:2026-11-28', job: 'today', data: { slots: [{ time: '09:00', left }] }, fetchedAt: 1 }] });
    expect(await write(5)).toEqual({ inserted: 1, updated: 0, unchanged: 0, deleted: 0 });
    expect(await write(4)).toEqual({ inserted: 0, updated: 1, unchanged: 0, deleted: 0 });
    expect(store.readScope('p14:2026-11-28')).toEqual([{ scope: 'p14:2026-11-28', time: '09:00', left: 4 }]);
    expect(store.scopes()).toEqual(new Map([['p14:2026-11-28', 1]]));
  });

  it('rejects data that is not rows, and changes nothing', async () => {
    const store = createMemoryStore();
    await expect(store.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: { not: 'rows' }, fetchedAt: 1 }] })).rejects.toThrow(/array of rows/);
    expect(store.scopes().size).toBe(0);
  });

  it('a rows() that throws or gives no array is a rejection of the data (STORE_REJECTED), and changes nothing', async () => {
    const throwing = createMemoryStore({ rows: () => { throw new Error('mapping bug'); } });
    await expect(throwing.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [], fetchedAt: 1 }] })).rejects.toMatchObject({ code: 'STORE_REJECTED', message: expect.stringMatching(/mapping bug/) });
    const nothing = createMemoryStore({ rows: () => undefined as never });
    await expect(nothing.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [], fetchedAt: 1 }] })).rejects.toMatchObject({ code: 'STORE_REJECTED' });
    expect(nothing.scopes().size).toBe(0);
  });

  it('stores rows holding BigInt values, and sees them unchanged on a re-sync', async () => {
    const store = createMemoryStore();
    const write = () => store.write({ scopes: [{ key: 'k', scope: 's', job: 'j', data: [{ id: 'a', big: 2n ** 70n }], fetchedAt: 1 }] });
    expect(await write()).toMatchObject({ inserted: 1 });
    expect(await write()).toMatchObject({ unchanged: 1 });
  });

  it('one key twice in a batch: its latest fetch is its last attempt, as in the Postgres store', async () => {
    const store = createMemoryStore();
    await store.write({
      scopes: [
        { key: 'k', scope: 's1', job: 'j', data: [], fetchedAt: 200 },
        { key: 'k', scope: 's2', job: 'j', data: [], fetchedAt: 100 },
      ],
    });
    expect((await store.readKeyStates(['k'])).get('k')).toMatchObject({ lastSuccessAt: 200, lastAttemptAt: 200 });
  });

  it('rejects bad options with a SyncConfigError naming each field', () => {
    expect(() => createMemoryStore({ rows: 'nope' as never, rowKey: 3 as never })).toThrow(SyncConfigError);
    try {
      createMemoryStore({ rows: 'nope' as never, rowKey: 3 as never });
    } catch (err) {
      expect((err as SyncConfigError).issues.map((i) => i.path)).toEqual(['rows', 'rowKey']);
    }
  });
});
