import { SyncError } from '@tidesync/core';
import { describe, expect, it } from 'vitest';
import { arrayColumns, binaryCopy, copyChunks, scopeIdentities, stageBatch } from '../src/stage.js';
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

describe('duplicate keys: rows in key order and out of it, on every encoder', () => {
  const plan = planTable('s', { name: 't', columns: { scope: 'text', a: 'text', b: 'integer', v: 'numeric' }, key: ['a', 'b'], scope: ['scope'] });
  const staged = (rows: Record<string, unknown>[]) =>
    stageBatch([plan], { toRows: (data) => data as Record<string, unknown>[], scopeValues: (scope) => ({ scope }) }, [
      { key: 'k', scope: 'x', job: 'j', data: rows, fetchedAt: 1 },
    ])[0]!;
  const encoders = {
    'COPY text': (rows: Record<string, unknown>[]) => [...copyChunks(staged(rows))],
    'COPY binary': (rows: Record<string, unknown>[]) => {
      const chunks = binaryCopy(staged(rows));
      expect(chunks, 'these rows have a binary form').toBeDefined();
      return chunks;
    },
    unnest: (rows: Record<string, unknown>[]) => arrayColumns(staged(rows)),
  };
  const row = (a: string, b: number) => ({ a, b, v: 1 });
  const refused = (encode: (rows: Record<string, unknown>[]) => unknown, rows: Record<string, unknown>[]) => {
    try {
      encode(rows);
    } catch (err) {
      expect(err).toBeInstanceOf(SyncError);
      expect((err as SyncError).code).toBe('STORE_CONFLICT');
      return (err as Error).message;
    }
    return undefined;
  };

  it.each(Object.entries(encoders))('%s: accepts distinct keys in any order, refuses a repeat wherever it falls', (_name, encode) => {
    const ordered = [row('a', 1), row('a', 2), row('b', 1), row('b', 10), row('c', 0)];
    expect(refused(encode, ordered)).toBeUndefined();
    expect(refused(encode, [...ordered].reverse())).toBeUndefined();
    expect(refused(encode, [ordered[2]!, ordered[0]!, ordered[4]!, ordered[1]!, ordered[3]!])).toBeUndefined();
    // Next to its twin, in order.
    expect(refused(encode, [...ordered.slice(0, 3), row('b', 1), ...ordered.slice(3)])).toMatch(/key \(b, 1\)/);
    // After the order breaks: the twin came before the break.
    expect(refused(encode, [...ordered, row('a', 5), row('a', 2)])).toMatch(/key \(a, 2\)/);
    // The break itself is the repeat of an earlier row.
    expect(refused(encode, [...ordered, row('a', 1)])).toMatch(/key \(a, 1\)/);
    // Equal in the first column only, or the last only: distinct.
    expect(refused(encode, [row('a', 1), row('a', 2), row('b', 2), row('b', 1)])).toBeUndefined();
  });
});

describe('scope identity: spellings of one stored scope are one scope', () => {
  const stage = (scopeType: string, scopes: string[]) => {
    const plan = planTable('s', { name: 't', columns: { shop: scopeType, id: 'integer' }, key: ['id'], scope: ['shop'] });
    return stageBatch([plan], { toRows: (data) => data as Record<string, unknown>[], scopeValues: (scope) => ({ shop: scope }) },
      scopes.map((scope) => ({ key: `k:${scope}`, scope, job: 'j', data: [], fetchedAt: 1 })));
  };

  it.each([
    ['varchar(5)', 'north', 'north  '],
    ['char(3)', 'ab', 'ab '],
    ['bit(4)', '1010', 'B1010'],
    ['bit(4)', '1010', 'xA'],
  ])('%s: %j and %j in one batch are refused; apart, they lock one identity', (type, one, other) => {
    let err: unknown;
    try {
      stage(type, [one, other]);
    } catch (e) {
      err = e;
    }
    expect((err as SyncError).code).toBe('STORE_CONFLICT');
    expect((err as Error).message).toMatch(/both map to/);
    expect(scopeIdentities(stage(type, [other])[0]!)).toEqual(scopeIdentities(stage(type, [one])[0]!));
  });

  it('distinct scopes keep distinct identities', () => {
    expect(scopeIdentities(stage('varchar(5)', ['north', 'south'])[0]!)).toHaveLength(2);
    expect(new Set(scopeIdentities(stage('varchar(5)', ['north', 'nort'])[0]!)).size).toBe(2);
    expect(new Set(scopeIdentities(stage('char(3)', ['ab', ' ab'])[0]!)).size).toBe(2);
  });
});
