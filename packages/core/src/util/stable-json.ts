/**
 * JSON with object keys sorted, so two structurally equal values serialise identically — the
 * memory store's "did this row change?" test.
 */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    // JSON has no BigInt (stringify throws): a tagged form no JSON value can take.
    if (typeof v === 'bigint') return { '\u0000bigint': v.toString() };
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}
