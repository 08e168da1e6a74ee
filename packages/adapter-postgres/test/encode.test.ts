import { describe, expect, it } from 'vitest';
import { CopyBuffer } from '../src/copy-buffer.js';
import { encodeValue, numberText } from '../src/encode.js';

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

  it('is what the unnest path stores for a number', () => {
    for (const v of [242.14, -0.05, 0.1 + 0.2, 7, 1e21]) expect(encodeValue(v, 'scalar')).toBe(String(v));
  });
});

/** COPY text format's escapes, then UTF-8 as Node encodes strings: what `CopyBuffer.text` must write. */
const expected = (s: string) => Buffer.from(s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t'));
const written = (fill: (b: CopyBuffer) => void, capacity?: number) => {
  const b = new CopyBuffer(capacity);
  fill(b);
  return b.take();
};

describe('CopyBuffer: COPY text format as UTF-8 bytes', () => {
  it('escapes backslash, newline, carriage return and tab, and nothing else', () => {
    const s = `it's "quoted"; DROP TABLE x; --\ttab\nline\r\\N \\ {a,b} NULL`;
    expect(written((b) => b.text(s))).toEqual(expected(s));
    expect(written((b) => b.text('\\N')).toString()).toBe('\\\\N');
  });

  it('encodes every kind of character as UTF-8: two-, three- and four-byte ones, lone surrogates as U+FFFD', () => {
    for (const s of ['é', 'ñandú', '€ 12', '日本語', '😀 ok', 'a\u{10FFFF}b', '\uD800', 'x\uDC00y', '\uD83D', '\uD83Dz', '\u0080\u07FF\u0800\uFFFF']) {
      expect(written((b) => b.text(s))).toEqual(expected(s));
    }
  });

  it('random strings, grown from a tiny buffer, across several fields and takes', () => {
    const next = random(7);
    const alphabet = ['a', 'Z', '0', ' ', '\\', '\n', '\r', '\t', '"', 'é', '€', '😀', '\uD800', '\uDFFF', '\u0000'];
    const b = new CopyBuffer(4);
    for (let round = 0; round < 200; round++) {
      const fields = Array.from({ length: 1 + Math.floor(next() * 5) }, () =>
        Array.from({ length: Math.floor(next() * 40) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
      );
      fields.forEach((f, i) => {
        if (i > 0) b.byte(0x09);
        b.text(f);
      });
      b.byte(0x0a);
      const bytes = b.take();
      expect(bytes).toEqual(Buffer.concat([...fields.flatMap((f, i) => (i > 0 ? [Buffer.from('\t'), expected(f)] : [expected(f)])), Buffer.from('\n')]));
    }
  });

  it('take() hands over bytes that later writes never touch', () => {
    const b = new CopyBuffer(8);
    b.ascii('12.5');
    const first = b.take();
    b.ascii('99.99');
    b.bytes(Buffer.from('\tx'));
    expect(first.toString()).toBe('12.5');
    expect(b.take().toString()).toBe('99.99\tx');
  });
});
