import type { RetryPolicy } from './options.js';

/**
 * Delay before try number `attempt + 1`: exponential from `baseDelayMs`, capped at `maxDelayMs`,
 * with the `jitter` share of it drawn at random so failed keys do not retry in lockstep.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const exact = Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** Math.max(0, attempt - 1));
  const fixed = exact * (1 - policy.jitter);
  return Math.round(fixed + random() * (exact - fixed));
}
