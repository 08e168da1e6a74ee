import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../contracts/rate-limiter.js';
import { createVirtualClock, type VirtualClock } from '../clock/virtual-clock.js';
import { AbortedError } from '../errors.js';
import { maxInAnyWindow } from '../limiter/window-stats.js';

export interface RateLimiterHarness {
  limiter: RateLimiter;
  cleanup?(): Promise<void>;
}

export interface RateLimiterFactoryInput {
  limit: number;
  windowMs: number;
  /** Drive time with it when the implementation accepts a clock; otherwise it is a real clock suite. */
  clock: VirtualClock;
}

/**
 * The RateLimiter contract as one vitest suite. The factory gets a virtual clock; an adapter
 * that cannot run on it should pass `{ realClock: true }`, and the suite then keeps windows short.
 */
export function rateLimiterConformance(
  name: string,
  factory: (input: RateLimiterFactoryInput) => Promise<RateLimiterHarness>,
  flags: { realClock?: boolean } = {},
): void {
  describe(`RateLimiter conformance: ${name}`, () => {
    const windowMs = flags.realClock ? 400 : 60_000;
    const run = (limit: number, fn: (l: RateLimiter, clock: VirtualClock, advance: (ms: number) => Promise<void>) => Promise<void>) => async () => {
      const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
      const h = await factory({ limit, windowMs, clock });
      const advance = flags.realClock ? (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) : (ms: number) => clock.advance(ms);
      try {
        await fn(h.limiter, clock, advance);
      } finally {
        await h.limiter.close?.();
        await h.cleanup?.();
      }
    };
    const now = (clock: VirtualClock) => (flags.realClock ? Date.now() : clock.now());

    it('never grants more than the limit in any window, under a backlog', run(5, async (l, clock, advance) => {
      const grants: { at: number; cost: number }[] = [];
      const all = Array.from({ length: 17 }, () => l.acquire(1).then(() => void grants.push({ at: now(clock), cost: 1 })));
      await advance(windowMs * 4);
      await Promise.all(all);
      expect(grants).toHaveLength(17);
      expect(maxInAnyWindow(grants, windowMs)).toBeLessThanOrEqual(5);
    }));

    it('never grants more than the limit in any window when the backlog starts just before a window edge', run(5, async (l, clock, advance) => {
      // A fixed-window limiter aligned to the clock passes a backlog started on an edge; started
      // just before one, it grants the limit twice within one window.
      await advance(Math.round(windowMs * 0.9));
      const grants: { at: number; cost: number }[] = [];
      const all = Array.from({ length: 15 }, () => l.acquire(1).then(() => void grants.push({ at: now(clock), cost: 1 })));
      await advance(windowMs * 4);
      await Promise.all(all);
      expect(grants).toHaveLength(15);
      expect(maxInAnyWindow(grants, windowMs)).toBeLessThanOrEqual(5);
    }));

    it('grants in FIFO order, a large cost at the head not overtaken', run(4, async (l, clock, advance) => {
      const order: string[] = [];
      await l.acquire(3);
      const big = l.acquire(3).then(() => void order.push('big'));
      const small = l.acquire(1).then(() => void order.push('small'));
      await advance(windowMs * 3);
      await Promise.all([big, small]);
      expect(order).toEqual(['big', 'small']);
      void clock;
    }));

    it('rejects an aborted acquire, consumes nothing, and moves the queue up', run(2, async (l, clock, advance) => {
      await l.acquire(2);
      const controller = new AbortController();
      const aborted = l.acquire(1, controller.signal);
      const next = l.acquire(1);
      controller.abort();
      await expect(aborted).rejects.toBeInstanceOf(AbortedError);
      // Still only the first grant in the window: the aborted acquire was charged nothing.
      expect((await l.usage()).used).toBe(2);
      await advance(windowMs * 2);
      await next;
      void clock;
    }));

    it('freezes the budget until a penalty ends', run(10, async (l, clock, advance) => {
      const until = now(clock) + windowMs / 2;
      await l.penalize(until);
      expect((await l.usage()).frozenUntil).toBe(until);
      let grantedAt: number | undefined;
      const p = l.acquire(1).then(() => void (grantedAt = now(clock)));
      await advance(windowMs);
      await p;
      expect(grantedAt).toBeGreaterThanOrEqual(until);
    }));

    it('a penalty is only ever extended: an earlier one does not shorten it', run(10, async (l, clock, advance) => {
      const later = now(clock) + windowMs / 2;
      await l.penalize(later);
      await l.penalize(now(clock) + windowMs / 4);
      expect((await l.usage()).frozenUntil).toBe(later);
      let grantedAt: number | undefined;
      const p = l.acquire(1).then(() => void (grantedAt = now(clock)));
      await advance(windowMs);
      await p;
      expect(grantedAt).toBeGreaterThanOrEqual(later);
    }));

    it('rejects a cost above the limit at once', run(3, async (l) => {
      await expect(l.acquire(4)).rejects.toThrow(/limit/);
    }));

    it('reports usage within the window', run(3, async (l) => {
      await l.acquire(1);
      await l.acquire(2);
      const usage = await l.usage();
      expect(usage).toMatchObject({ limit: 3, windowMs, used: 3 });
    }));
  });
}
