import { describe, expect, it } from 'vitest';
import { copyValue, encodeValue, numberText } from '../src/encode.js';

/** Seeded, so a failure names a value that can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every value whose text differs from `String`'s. */
const mismatches = (values: Iterable<number>) => [...values].filter((v) => numberText(v) !== String(v)).map((v) => [v, numberText(v), String(v)]);

describe('numberText: the same text as String(n), faster for decimals of two fraction digits', () => {
  it('edge cases: signs, zeros, float artefacts, magnitudes around the fast path\'s bound', () => {
    const cases = [
      0, -0, 1, -1, 0.1, 0.2, 0.1 + 0.2, 0.29, 1.005, 1.015, 2.675, -0.01, -0.05, -0.5, 0.5, 0.05, 0.01, 0.99, 9.99, 10.1, 242.14, 242.1,
      123.45, -123.45, 1e-7, 5e-7, 0.001, 0.015, 1e15, 1e21, 1.5e21, 2 ** 40 - 0.25, 2 ** 40 - 0.5, 2 ** 40 + 0.5, 2 ** 40 - 0.01, 2 ** 39 + 0.01,
      2 ** 39 + 0.07, -(2 ** 39) - 0.07, 2 ** 53, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, Number.EPSILON,
    ];
    expect(mismatches(cases)).toEqual([]);
  });

  it('a million random prices and other doubles', () => {
    const next = random(20261129);
    const values: number[] = [];
    for (let i = 0; i < 250_000; i++) {
      values.push(Math.round(next() * 2_000_000) / 100); // prices up to 20,000.00
      values.push(-Math.round(next() * 1e9) / 100); // negative, larger
      values.push(Math.round((next() - 0.5) * 2 ** 41) / 100); // around the bound
      values.push((next() - 0.5) * 10 ** Math.floor(next() * 30 - 10)); // arbitrary doubles
    }
    expect(mismatches(values)).toEqual([]);
  });

  it('both encoders use it: the COPY field and the unnest text of a number agree', () => {
    for (const v of [242.14, -0.05, 0.1 + 0.2, 7, 1e21]) {
      expect(copyValue(v, 'scalar')).toBe(String(v));
      expect(encodeValue(v, 'scalar')).toBe(String(v));
    }
  });
});
