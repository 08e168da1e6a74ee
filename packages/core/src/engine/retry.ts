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

/** Shortest freeze one rate-limit answer causes, whatever reset it names. */
const MIN_RATE_LIMIT_PENALTY_MS = 1_000;

/**
 * When a rate-limited budget thaws, from the reset the remote named (`RateLimitedError.until`),
 * within bounds. Never past `maxMs` from now: a reset years away (milliseconds read as seconds)
 * would stop every job for good on one misread answer, and a reset that is no number at all (a
 * source's bug) counts as that far. Never less than a second (or `maxMs`, if shorter): a reset
 * already past (a clock behind ours, seconds read as milliseconds) would send the task straight
 * back to a remote that just refused it, over and over. `requested` is the remote's reset when
 * it was a finite number that `until` replaced.
 */
export function rateLimitThaw(reset: unknown, now: number, maxMs: number): { until: number; requested?: number } {
  const asked = typeof reset === 'number' && !Number.isNaN(reset) ? reset : Infinity;
  const until = Math.max(Math.min(asked, now + maxMs), now + Math.min(MIN_RATE_LIMIT_PENALTY_MS, maxMs));
  return until !== asked && Number.isFinite(reset) ? { until, requested: reset as number } : { until };
}
