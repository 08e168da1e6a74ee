import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AbortedError, createSlidingWindowLimiter, createVirtualClock } from '../src/index.js';
import { maxInAnyWindow } from '../src/testing/index.js';

type Op =
  | { kind: 'acquire'; at: number; cost: number; abortAfter: number | undefined }
  | { kind: 'penalize'; at: number; forMs: number };

const op = (limit: number, horizon: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      at: fc.integer({ min: 0, max: horizon }),
      cost: fc.integer({ min: 1, max: limit }),
      abortAfter: fc.option(fc.integer({ min: 0, max: horizon }), { nil: undefined }),
    }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('penalize' as const), at: fc.integer({ min: 0, max: horizon }), forMs: fc.integer({ min: 1, max: Math.max(1, Math.floor(horizon / 4)) }) }) },
  );

describe('sliding window limiter, as a property', () => {
  it('never grants more than the limit in any window, whatever arrives, aborts or is penalised', async () => {
    const scenario = fc
      .record({ limit: fc.integer({ min: 1, max: 12 }), windowMs: fc.integer({ min: 100, max: 60_000 }), margin: fc.integer({ min: 0, max: 300 }) })
      .chain((p) => fc.record({ p: fc.constant(p), ops: fc.array(op(p.limit, p.windowMs * 5), { minLength: 1, maxLength: 60 }) }));
    await fc.assert(
      fc.asyncProperty(scenario, async ({ p: { limit, windowMs, margin }, ops }) => {
          const clock = createVirtualClock({ start: 1_000_000 });
          const limiter = createSlidingWindowLimiter({ limit, windowMs, safetyMarginMs: margin, clock });
          const horizon = windowMs * 5;
          const grants: { at: number; cost: number }[] = [];
          const penalties: { from: number; until: number; grantedBefore: number }[] = [];
          const pending: Promise<void>[] = [];
          for (const o of ops) {
            clock.setTimer(() => {
              if (o.kind === 'penalize') {
                const until = clock.now() + o.forMs;
                penalties.push({ from: clock.now(), until, grantedBefore: grants.length });
                void limiter.penalize(until);
                return;
              }
              const controller = new AbortController();
              if (o.abortAfter !== undefined) clock.setTimer(() => controller.abort(), o.abortAfter);
              pending.push(
                limiter.acquire(o.cost, controller.signal).then(
                  () => void grants.push({ at: clock.now(), cost: o.cost }),
                  (err) => {
                    if (!(err instanceof AbortedError)) throw err;
                  },
                ),
              );
            }, o.at);
          }
          await clock.advance(horizon + windowMs * 100);
          await Promise.all(pending);
          // Exact: no window (widened by nothing) ever holds more than the limit...
          expect(maxInAnyWindow(grants, windowMs + margin)).toBeLessThanOrEqual(limit);
          // ...and nothing is granted while a penalty is in force.
          // (A grant made at the very instant of a penalty, before it, is not "while in force".)
          for (const p of penalties) for (const g of grants.slice(p.grantedBefore)) expect(g.at >= p.from && g.at < p.until).toBe(false);
          // Every acquire that was not aborted was eventually granted.
          const aborted = ops.filter((o) => o.kind === 'acquire' && o.abortAfter !== undefined).length;
          const acquires = ops.filter((o) => o.kind === 'acquire').length;
          expect(grants.length).toBeGreaterThanOrEqual(acquires - aborted);
      }),
      { numRuns: 150, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
  });

  it('uses the budget fully under a backlog: limit per window, FIFO', async () => {
    const clock = createVirtualClock({ start: 0 });
    const limiter = createSlidingWindowLimiter({ limit: 30, windowMs: 60_000, safetyMarginMs: 250, clock });
    const grants: { at: number; cost: number }[] = [];
    const order: number[] = [];
    const all = Array.from({ length: 30 * 60 }, (_, i) =>
      limiter.acquire(1).then(() => {
        grants.push({ at: clock.now(), cost: 1 });
        order.push(i);
      }),
    );
    await clock.advance(3_600_000);
    await Promise.all(all.slice(0, 1));
    const inHour = grants.filter((g) => g.at < 3_600_000).length;
    // 60 windows of 60.25 s fit 59.75 times into an hour: 30 × 59.75 ≈ 1792 grants, ≥ 0.98 × 1800.
    expect(inHour / 1800).toBeGreaterThanOrEqual(0.98);
    expect(maxInAnyWindow(grants, 60_000)).toBe(30);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('close rejects who waits and keeps the window: acquired again afterwards, the limit still holds', async () => {
    const clock = createVirtualClock({ start: 0 });
    const limiter = createSlidingWindowLimiter({ limit: 2, windowMs: 1_000, safetyMarginMs: 0, clock });
    const grants: { at: number; cost: number }[] = [];
    const take = () => limiter.acquire(1).then(() => grants.push({ at: clock.now(), cost: 1 }));
    await take();
    await take();
    const waiting = take(); // arms the timer for t = 1000
    await limiter.close();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    // Acquired again before the window has moved: granted when it has, not before, and not never.
    const later = [take(), take(), take()];
    await clock.advance(500);
    expect(grants).toHaveLength(2);
    await clock.advance(2_000);
    await Promise.all(later);
    expect(grants.map((g) => g.at)).toEqual([0, 0, 1_000, 1_000, 2_000]);
    expect(maxInAnyWindow(grants, 1_000)).toBe(2);
  });
});
