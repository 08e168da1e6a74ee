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

  it('rejects bad options with a SyncConfigError naming each field', () => {
    expect(() => createMemoryStore({ rows: 'nope' as never, rowKey: 3 as never })).toThrow(SyncConfigError);
    try {
      createMemoryStore({ rows: 'nope' as never, rowKey: 3 as never });
    } catch (err) {
      expect((err as SyncConfigError).issues.map((i) => i.path)).toEqual(['rows', 'rowKey']);
    }
  });
});
