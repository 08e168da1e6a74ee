/**
 * The most cost found inside any half-open window of `windowMs` over a log of events — the number
 * the RateLimiter guarantee is about. Used to check the guarantee where requests arrive (tests,
 * benchmarks, simulators), not just where they are granted.
 */
export function maxInAnyWindow(events: readonly { at: number; cost?: number }[], windowMs: number): number {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    sum += sorted[hi]!.cost ?? 1;
    while (sorted[hi]!.at - sorted[lo]!.at >= windowMs) sum -= sorted[lo++]!.cost ?? 1;
    best = Math.max(best, sum);
  }
  return best;
}
