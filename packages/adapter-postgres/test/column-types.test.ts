import { describe, expect, it } from 'vitest';
import { castType, domainLimit, fitText, lengthLimit } from '../src/column-types.js';

describe('length-limited types, in every spelling', () => {
  it.each([
    ['varchar(10)', 'character', 10, 'varchar'],
    ['VARCHAR (10)', 'character', 10, 'varchar'],
    ['character varying(4)', 'character', 4, 'varchar'],
    ['char varying(4)', 'character', 4, 'varchar'],
    ['nchar varying(4)', 'character', 4, 'varchar'],
    ['national char varying(4)', 'character', 4, 'varchar'],
    ['national character varying(4)', 'character', 4, 'varchar'],
    ['char(3)', 'character', 3, 'bpchar'],
    ['character(3)', 'character', 3, 'bpchar'],
    ['nchar(3)', 'character', 3, 'bpchar'],
    ['national character(3)', 'character', 3, 'bpchar'],
    ['char', 'character', 1, 'bpchar'],
    ['bpchar(2)', 'character', 2, 'bpchar'],
    ['bit(8)', 'bit', 8, 'varbit'],
    ['bit', 'bit', 1, 'varbit'],
    ['bit varying(5)', 'bit', 5, 'varbit'],
    ['varbit(5)', 'bit', 5, 'varbit'],
  ])('%s: %s, at most %i, cast as %s', (type, kind, n, unlimited) => {
    expect(lengthLimit(type)).toMatchObject({ kind, n, unlimited });
    expect(castType(type, lengthLimit(type))).toBe(unlimited);
  });

  it('keeps array brackets in the cast', () => {
    expect(castType('character(3)[]', lengthLimit('character(3)[]'))).toBe('bpchar[]');
    expect(castType('varchar(10)[][]', lengthLimit('varchar(10)[][]'))).toBe('varchar[][]');
  });

  it.each(['varchar', 'character varying', 'bpchar', 'varbit', 'text', 'numeric(12,2)', 'timestamptz(3)', 'time(3)', 'float(24)', 'char_code', 'integer[]'])('%s has no limit and is cast as declared', (type) => {
    expect(lengthLimit(type)).toBeUndefined();
    expect(castType(type, lengthLimit(type))).toBe(type);
  });

  it('reads a domain limit from its base type and typmod', () => {
    expect(domainLimit('varchar', 7)).toMatchObject({ kind: 'character', n: 3, unlimited: 'varchar' });
    expect(domainLimit('bpchar', 5)).toMatchObject({ kind: 'character', n: 1, unlimited: 'bpchar' });
    expect(domainLimit('bit', 4)).toMatchObject({ kind: 'bit', n: 4, exact: true });
    expect(domainLimit('varchar', -1)).toBeUndefined();
    expect(domainLimit('int4', -1)).toBeUndefined();
  });
});

describe('fitText: the text a length-limited column stores, or undefined', () => {
  const varchar3 = lengthLimit('varchar(3)')!;
  it.each([
    ['abc', 'abc'],
    ['ab', 'ab'],
    ['abc   ', 'abc'],
    ['abcd', undefined],
    ['ab c ', undefined],
    ['éé😀', 'éé😀'], // three characters, four UTF-16 units
    ['éé😀 ', 'éé😀'],
    ['éé😀x', undefined],
  ])('varchar(3): %j → %j', (text, fitted) => {
    expect(fitText(text, varchar3)).toBe(fitted);
  });

  it.each([
    ['char(3)', 'ab ', 'ab'],
    ['char(3)', 'ab    ', 'ab'],
    ['char(3)', 'abcd', undefined],
    ['bit(4)', '1010', '1010'],
    ['bit(4)', '101', undefined],
    ['bit(4)', 'xA', '1010'],
    ['bit(8)', 'X0f', '00001111'],
    ['bit(4)', 'B1010', '1010'],
    ['varbit(4)', '101', '101'],
    ['varbit(4)', '10101', undefined],
    ['bit(4)', '1012', undefined],
  ])('%s: %j → %j', (type, text, fitted) => {
    expect(fitText(text, lengthLimit(type)!)).toBe(fitted);
  });
});
