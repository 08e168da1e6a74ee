import { SyncError } from '@tidesync/core';
import { describe, expect, it } from 'vitest';
import { copyChunks, stageBatch } from '../src/stage.js';
import { planTable, type TableMapping } from '../src/table-mapping.js';

const table = (key: string[]): TableMapping => ({ name: 't', columns: { scope: 'text', a: 'text', b: 'text', c: 'integer', v: 'numeric' }, key, scope: ['scope'] });
const encode = (key: string[], rows: Record<string, unknown>[]) => {
  const plan = planTable('s', table(key));
  const [staged] = stageBatch([plan], { toRows: (data) => data as Record<string, unknown>[], scopeValues: (scope) => ({ scope }) }, [
    { key: 'k', scope: 'x', job: 'j', data: rows, fetchedAt: 1 },
  ]);
  return Buffer.concat([...copyChunks(staged!)]).toString();
};

describe('COPY staging: duplicate keys within a scope', () => {
  it.each([[['a']], [['a', 'b']], [['a', 'b', 'c']]])('key %j: tuples differing in any one column are distinct; a repeated tuple is refused by name', (key) => {
    const rows = [
      { a: 'p', b: 'q', c: 1, v: 1.5 },
      { a: 'p2', b: 'q', c: 1, v: 2 },
      ...(key.length > 1 ? [{ a: 'p', b: 'q2', c: 1, v: 3 }] : []),
      ...(key.length > 2 ? [{ a: 'p', b: 'q', c: 2, v: 4 }] : []),
    ];
    expect(encode(key, rows).split('\n')).toHaveLength(rows.length + 1);
    let err: unknown;
    try {
      encode(key, [...rows, { ...rows[0]!, v: 9 }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).code).toBe('STORE_CONFLICT');
    expect((err as Error).message).toContain(`key (${['p', 'q', '1'].slice(0, key.length).join(', ')})`);
  });

  it('writes scope, key and value columns in order, tab-separated, \\N for null', () => {
    expect(encode(['a'], [{ a: 'p', b: null, c: 3, v: 12.5 }])).toBe('x\tp\t\\N\t3\t12.5\n');
  });
});
