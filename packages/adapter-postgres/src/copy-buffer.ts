/**
 * COPY data as bytes — text format, or the pieces of binary format — written field by field into one
 * growing buffer.
 *
 * Guarantees:
 * - `text(s)` writes COPY's four escapes (backslash, newline, carriage return, tab as `\\`, `\n`,
 *   `\r`, `\t`) and every other character as UTF-8, exactly as `TextEncoder` encodes it (a lone
 *   surrogate becomes U+FFFD). `raw(s)` writes the same UTF-8 without the escapes; the integer and
   float writers write big-endian, as binary COPY reads them.
 * - `take()` hands over the bytes written so far and starts an empty buffer; what it returned is
 *   never written to again, so a stream may hold it.
 *
 * Why bytes and not strings: a batch's COPY text built as strings is assembled from millions of
 * small pieces, joined, then encoded to UTF-8 again by the Blob or the socket — three passes over
 * every byte, and garbage for each. Here each character is looked at once. On PGlite, which runs in
 * Node's own thread, that time is not hidden behind the database's.
 */

const BACKSLASH = 0x5c;
const EMPTY = Buffer.alloc(0);

export class CopyBuffer {
  // Allocated on the first write after construction or `take()`, never for nothing.
  private buf: Buffer = EMPTY;
  private pos = 0;

  constructor(private readonly capacity = 1 << 16) {}

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.pos;
  }

  /** One field's text, with COPY's escapes, as UTF-8. */
  text(s: string): void {
    this.utf8(s, true);
  }

  /** A string as UTF-8, without escapes (a binary-format field). */
  raw(s: string): void {
    this.utf8(s, false);
  }

  private utf8(s: string, escape: boolean): void {
    const n = s.length;
    // A UTF-16 unit takes at most 3 bytes (an escaped ASCII character 2, a surrogate pair 4 for 2 units).
    this.reserve(3 * n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        if (escape && (c === BACKSLASH || c === 0x0a || c === 0x0d || c === 0x09)) {
          b[p++] = BACKSLASH;
          b[p++] = c === BACKSLASH ? BACKSLASH : c === 0x0a ? 0x6e /* n */ : c === 0x0d ? 0x72 /* r */ : 0x74 /* t */;
        } else {
          b[p++] = c;
        }
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        b[p++] = 0xf0 | (cp >> 18);
        b[p++] = 0x80 | ((cp >> 12) & 0x3f);
        b[p++] = 0x80 | ((cp >> 6) & 0x3f);
        b[p++] = 0x80 | (cp & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    this.pos = p;
  }

  /** A big-endian 16-bit integer (binary format). */
  int16(v: number): void {
    this.reserve(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  /** A big-endian 32-bit integer (binary format). */
  int32(v: number): void {
    this.reserve(4);
    this.setInt32(this.pos, v);
    this.pos += 4;
  }

  /** A big-endian 64-bit integer (binary format). */
  int64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  /** A big-endian IEEE double (binary format). */
  float64(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Overwrites the 32-bit integer at `at` (a field's length, known once its bytes are written). */
  setInt32(at: number, v: number): void {
    // Byte by byte: cheaper than Buffer's range-checked writeInt32BE in a loop this hot.
    const b = this.buf;
    b[at] = v >> 24;
    b[at + 1] = v >> 16;
    b[at + 2] = v >> 8;
    b[at + 3] = v;
  }

  /** Text known to hold only ASCII characters COPY does not escape (a number's digits). */
  ascii(s: string): void {
    const n = s.length;
    this.reserve(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Bytes already in COPY form (a scope's prefix, computed once). */
  bytes(src: Uint8Array): void {
    const n = src.length;
    this.reserve(n);
    // A scope's prefix, once per row, is a few bytes: a loop beats set()'s fixed cost there.
    if (n <= 32) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = src[i]!;
      this.pos = p;
    } else {
      this.buf.set(src, this.pos);
      this.pos += n;
    }
  }

  /** One byte: a tab between fields, a newline after a row. */
  byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  /** The bytes written so far; the buffer starts empty again. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.capacity, this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
