import { z } from 'zod';
import { AbortedError } from '../errors.js';
import type { Clock, TimerHandle } from '../contracts/clock.js';
import type { RateLimiter, RateLimiterUsage } from '../contracts/rate-limiter.js';
import { createSystemClock } from '../clock/system-clock.js';
import { implementing, nonNegativeInt, parseOptions, positiveInt } from '../util/options.js';
import { FifoWaiters, invalidCost } from './fifo-waiters.js';

const optionsSchema = z.object({
  /** Most cost granted in any window. */
  limit: positiveInt,
  /** Window length in ms (60_000 for "per minute"). */
  windowMs: positiveInt,
  /**
   * Extra ms each grant stays in the window. The remote counts arrivals, which land a few ms after
   * the grant and unevenly; without a margin a window filled exactly to the limit can look
   * over-full there. 250 ms costs 0.4% of a per-minute budget.
   */
  safetyMarginMs: nonNegativeInt.default(250),
  clock: implementing<Clock>('a Clock', ['now', 'setTimer', 'sleep']).optional(),
});

export type SlidingWindowLimiterOptions = z.input<typeof optionsSchema>;


/**
 * The in-process RateLimiter: an exact sliding window over the log of grants. Memory is one
 * entry per grant still inside the window (at most `limit`), whatever the backlog.
 */
export function createSlidingWindowLimiter(options: SlidingWindowLimiterOptions): RateLimiter {
  const o = parseOptions('sliding window limiter options', optionsSchema, options);
  const clock = o.clock ?? createSystemClock();
  const span = o.windowMs + o.safetyMarginMs;

  // Grant log, oldest first; `head` skips expired entries so expiry is O(1) amortised.
  let grantAt: number[] = [];
  let grantCost: number[] = [];
  let head = 0;
  let used = 0;
  let frozenUntil = 0;

  const waiters = new FifoWaiters(() => pump());
  let timer: TimerHandle | undefined;
  let timerAt = Number.POSITIVE_INFINITY;

  const expire = (now: number) => {
    while (head < grantAt.length && grantAt[head]! <= now - span) {
      used -= grantCost[head]!;
      head++;
    }
    if (head > 1024 && head * 2 > grantAt.length) {
      grantAt = grantAt.slice(head);
      grantCost = grantCost.slice(head);
      head = 0;
    }
  };


  const arm = (at: number) => {
    if (timer && timerAt <= at) return;
    timer?.cancel();
    timerAt = at;
    timer = clock.setTimer(() => {
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      pump();
    }, at - clock.now());
  };

  /** Grant waiters from the head while the window allows; otherwise sleep until it will. */
  const pump = () => {
    const now = clock.now();
    expire(now);
    for (let w = waiters.first(); w; w = waiters.first()) {
      if (now < frozenUntil) return arm(frozenUntil);
      if (used + w.cost > o.limit) {
        // The head fits once enough of the oldest grants have left the window.
        let excess = used + w.cost - o.limit;
        let i = head;
        let at = now;
        while (excess > 0) {
          excess -= grantCost[i]!;
          at = grantAt[i]! + span;
          i++;
        }
        return arm(at);
      }
      grantAt.push(now);
      grantCost.push(w.cost);
      used += w.cost;
      waiters.grant(w);
    }
  };

  return {
    acquire(cost = 1, signal) {
      const invalid = invalidCost(cost, o.limit);
      if (invalid) return Promise.reject(invalid);
      const granted = waiters.join(cost, signal);
      pump();
      return granted;
    },

    penalize(untilEpochMs) {
      // Only ever extends: NaN (an unreadable reset) compares false both ways and must not thaw it.
      if (!(untilEpochMs > frozenUntil)) return;
      frozenUntil = untilEpochMs;
      pump();
    },

    usage(): RateLimiterUsage {
      const now = clock.now();
      expire(now);
      let inWindow = 0;
      for (let i = head; i < grantAt.length; i++) if (grantAt[i]! > now - o.windowMs) inWindow += grantCost[i]!;
      return {
        limit: o.limit,
        windowMs: o.windowMs,
        used: inWindow,
        waiting: waiters.waiting,
        frozenUntil: frozenUntil > now ? frozenUntil : undefined,
      };
    },

    // Releases the timer and rejects whoever waits. The window and any penalty stay: an engine
    // restarted after stop() acquires again from the same limiter, and its budget must still hold.
    async close() {
      timer?.cancel();
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      waiters.rejectAll(new AbortedError('The rate limiter was closed'));
    },
  };
}
