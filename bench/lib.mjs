// Shared helpers of the benchmarks: deterministic randomness, statistics, markdown tables.

/** mulberry32: a tiny seeded PRNG, so every run simulates the same world. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const mean = (xs) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmt = {
  int: (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n)),
  pct: (x, digits = 2) => (Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : String(x)),
  ratio: (x, digits = 3) => (Number.isFinite(x) ? `${x.toFixed(digits)}×` : String(x)),
  min: (ms, digits = 1) => (Number.isFinite(ms) ? `${(ms / 60_000).toFixed(digits)} min` : String(ms)),
  ms: (ms, digits = 1) => `${ms.toFixed(digits)} ms`,
  mb: (bytes, digits = 1) => `${(bytes / 1024 / 1024).toFixed(digits)} MB`,
};

/** Whether this module is the script node was asked to run. */
export const isMain = (meta) => process.argv[1] && new URL(meta.url).pathname === process.argv[1];
