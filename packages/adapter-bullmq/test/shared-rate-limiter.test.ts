import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { AbortedError, SyncConfigError, maxInAnyWindow, type RateLimiter } from '@tidesync/core';
import { rateLimiterConformance } from '@tidesync/core/testing';
import type { Backend } from '../src/connection.js';
import { createSharedRateLimiter } from '../src/shared-rate-limiter.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, testNamespace, type BackendKind } from './helpers.js';

const hex = () => randomBytes(5).toString('hex');
const budgetName = () => `budget.${hex()}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Kind = BackendKind;

/** A namespace of its own; `open()` is a separate connection into it — a separate "instance". */
function testSpace(kind: Kind) {
  const ns = testNamespace(kind);
  return { namespace: ns.namespace, open: () => ns.connect(), drop: () => ns.drop() };
}

/** `perInstance` acquires of cost 1 on every limiter at once; resolves with the host time of each grant. */
async function backlog(limiters: RateLimiter[], perInstance: number) {
  const grants: { at: number; cost: number; instance: number }[] = [];
  await Promise.all(
    limiters.flatMap((l, instance) =>
      Array.from({ length: perInstance }, () => l.acquire(1).then(() => void grants.push({ at: Date.now(), cost: 1, instance }))),
    ),
  );
  return grants;
}

/** Runs `fn` with `count` limiters, each on its own connection, and always cleans up. */
async function withInstances(
  kind: Kind,
  count: number,
  options: (i: number) => Parameters<typeof createSharedRateLimiter>[1],
  fn: (limiters: RateLimiter[], backends: Backend[]) => Promise<void>,
) {
  const space = testSpace(kind);
  const backends = Array.from({ length: count }, () => space.open());
  const limiters = backends.map((b, i) => createSharedRateLimiter(b, options(i)));
  try {
    await fn(limiters, backends);
  } finally {
    for (const l of limiters) await l.close?.();
    await space.drop();
  }
}

const kinds: { kind: Kind; url: string | undefined }[] = [
  { kind: 'Redis', url: TEST_REDIS_URL },
  { kind: 'PostgreSQL', url: TEST_DATABASE_URL },
];

for (const { kind, url } of kinds) {
  describe.skipIf(!url)(`shared rate limiter on ${kind}`, () => {
    rateLimiterConformance(
      `shared limiter on ${kind}`,
      async ({ limit, windowMs }) => {
        const space = testSpace(kind);
        const limiter = createSharedRateLimiter(space.open(), { name: budgetName(), limit, windowMs });
        return { limiter, cleanup: () => space.drop() };
      },
      { realClock: true },
    );

    const limit = 5;
    const windowMs = 500;
    const perInstance = 7;

    it('keeps one budget across three instances sharing a name', async () => {
      const name = budgetName();
      await withInstances(kind, 3, () => ({ name, limit, windowMs }), async (limiters) => {
        const grants = await backlog(limiters, perInstance);
        expect(grants).toHaveLength(3 * perInstance);
        for (let i = 0; i < 3; i++) expect(grants.filter((g) => g.instance === i)).toHaveLength(perInstance);
        expect(maxInAnyWindow(grants, windowMs)).toBeLessThanOrEqual(limit);
      });
    });

    it('(control) three separate names are three budgets, which the same check catches', async () => {
      await withInstances(kind, 3, () => ({ name: budgetName(), limit, windowMs }), async (limiters) => {
        const grants = await backlog(limiters, perInstance);
        expect(grants).toHaveLength(3 * perInstance);
        expect(maxInAnyWindow(grants, windowMs)).toBeGreaterThan(limit);
      });
    });

    it('a penalty on one instance freezes the others, including a head already waiting', async () => {
      const name = budgetName();
      await withInstances(kind, 3, () => ({ name, limit: 2, windowMs }), async ([a, b, c]) => {
        // Fill the window from A; B's head now waits for it to slide (~750 ms with the margin).
        await a!.acquire(2);
        const grantedAt: number[] = [];
        const waitingOnB = b!.acquire(1).then(() => void grantedAt.push(Date.now()));
        await sleep(100);
        const until = Date.now() + 1_500;
        await a!.penalize(until);
        expect((await c!.usage()).frozenUntil).toBe(until);
        expect((await b!.usage()).frozenUntil).toBe(until);
        // A shorter penalty does not shorten the freeze.
        await c!.penalize(until - 1_000);
        expect((await a!.usage()).frozenUntil).toBe(until);
        const later = [a!, c!].map((l) => l.acquire(1).then(() => void grantedAt.push(Date.now())));
        await Promise.all([waitingOnB, ...later]);
        expect(grantedAt).toHaveLength(3);
        for (const at of grantedAt) expect(at).toBeGreaterThanOrEqual(until);
      });
    });

    it('a penalty lasts as long as asked on a host whose clock runs behind the backend', async () => {
      const name = budgetName();
      const realNow = Date.now.bind(Date);
      // This host's clock runs 5 s behind the backend's: a 429 saying "in 2 s" comes as now + 2 s
      // on this clock, which the backend's clock has already passed.
      const behind = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 5_000);
      try {
        await withInstances(kind, 1, () => ({ name, limit: 10, windowMs }), async ([l]) => {
          await l!.penalize(Date.now() + 2_000);
          expect((await l!.usage()).frozenUntil).toBeGreaterThan(Date.now() + 1_800);
          const started = performance.now();
          await l!.acquire(1);
          expect(performance.now() - started).toBeGreaterThanOrEqual(1_900);
        });
      } finally {
        behind.mockRestore();
      }
    });

    it('close() rejects local waiters and leaves the backend usable', async () => {
      const name = budgetName();
      await withInstances(kind, 1, () => ({ name, limit: 1, windowMs }), async ([l], [backend]) => {
        await l!.acquire(1);
        const pending = [l!.acquire(1), l!.acquire(1)].map((p) => p.then(() => 'granted', (err: unknown) => err));
        await l!.close?.();
        for (const outcome of await Promise.all(pending)) expect(outcome).toBeInstanceOf(AbortedError);
        await expect(l!.acquire(1)).rejects.toBeInstanceOf(AbortedError);
        // Same budget from a new limiter on the same (still open) backend: the first grant counts.
        const again = createSharedRateLimiter(backend!, { name, limit: 1, windowMs });
        try {
          expect((await again.usage()).used).toBe(1);
          await again.acquire(1);
        } finally {
          await again.close?.();
        }
      });
    });

    it('hands back a grant that lands after its acquire was aborted', async () => {
      const name = budgetName();
      await withInstances(kind, 1, () => ({ name, limit: 1, windowMs }), async ([l]) => {
        await l!.usage(); // connection and (PostgreSQL) setup out of the way
        const controller = new AbortController();
        const aborted = l!.acquire(1, controller.signal);
        // The request is already on its way and the budget is free: the backend will say yes.
        controller.abort();
        await expect(aborted).rejects.toBeInstanceOf(AbortedError);
        // Well inside the window, so only the hand-back can bring `used` to 0.
        await expect.poll(async () => (await l!.usage()).used, { timeout: 300, interval: 20 }).toBe(0);
      });
    });

    it('keeps a waiter queued through backend errors and grants it once', async () => {
      const space = testSpace(kind);
      const real = space.open();
      const name = budgetName();
      let failures = 3;
      let calls = 0;
      // The backend as the limiter sees it, failing its first check-and-grant requests.
      const flaky: Backend =
        kind === 'Redis'
          ? (() => {
              // Define the limiter's scripts on the real client first, then intercept one.
              createSharedRateLimiter(real, { name, limit: 1, windowMs });
              const client = real.redis();
              const proxy = new Proxy(client, {
                get(target, prop) {
                  const v = Reflect.get(target, prop, target) as unknown;
                  if (prop === 'tidesyncLimiterAcquire' && typeof v === 'function') {
                    return (...args: unknown[]) => {
                      calls++;
                      if (failures-- > 0) return Promise.reject(new Error('connection reset (simulated)'));
                      return (v as (...a: unknown[]) => unknown).apply(target, args);
                    };
                  }
                  return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
                },
              });
              return { ...real, redis: () => proxy };
            })()
          : (() => {
              const db = real.pg();
              return {
                ...real,
                pg: () => ({
                  schema: db.schema,
                  query: ((text: string, params?: unknown[]) => {
                    // The check-and-grant call (not the setup, which also names the function).
                    if (text.startsWith('SELECT granted')) {
                      calls++;
                      if (failures-- > 0) return Promise.reject(new Error('connection reset (simulated)'));
                    }
                    return db.query(text, params);
                  }) as typeof db.query,
                }),
              };
            })();
      const limiter = createSharedRateLimiter(flaky, { name, limit: 1, windowMs, maxPollMs: 400 });
      try {
        const started = Date.now();
        await limiter.acquire(1);
        // 50 + 100 + 200 ms of backoff before the fourth call succeeds.
        expect(Date.now() - started).toBeGreaterThanOrEqual(300);
        expect(calls).toBe(4);
        expect(await limiter.usage()).toMatchObject({ used: 1, waiting: 0 });
      } finally {
        await limiter.close?.();
        await space.drop();
      }
    });
  });
}

describe('shared rate limiter options', () => {
  // Validation runs before the backend is touched, so no server is needed here.
  const noBackend = {} as Backend;

  it('lists every problem in one SyncConfigError', () => {
    let caught: unknown;
    try {
      createSharedRateLimiter(noBackend, { name: 'not a valid name!', limit: 0, windowMs: 1.5, safetyMarginMs: -1, maxPollMs: 0 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SyncConfigError);
    const paths = (caught as SyncConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['limit', 'maxPollMs', 'name', 'safetyMarginMs', 'windowMs']);
    expect((caught as Error).message).toMatch(/shared rate limiter options/);
  });

  it('rejects a missing or over-long name', () => {
    expect(() => createSharedRateLimiter(noBackend, { limit: 1, windowMs: 1000 } as never)).toThrow(SyncConfigError);
    expect(() => createSharedRateLimiter(noBackend, { name: 'x'.repeat(101), limit: 1, windowMs: 1000 })).toThrow(/name/);
  });
});
