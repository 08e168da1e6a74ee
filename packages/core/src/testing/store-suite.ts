import { describe, expect, it } from 'vitest';
import type { Store } from '../contracts/store.js';
import { SyncError, isStoreRejection } from '../errors.js';

/** The row shape the Store suite writes: configure the store under test to key rows by `id`. */
export interface ConformanceRow {
  id: string;
  name: string;
  /** A decimal: stores must not round it. */
  price: number;
  tags: string[];
}

export interface StoreHarness {
  store: Store<ConformanceRow[]>;
  /** The rows of a scope as stored, in any order. */
  readScope(scope: string): Promise<ConformanceRow[]>;
  /** A second Store instance over the same storage, as after a restart (when `persistent`). */
  reopen?(): Promise<Store<ConformanceRow[]>>;
  cleanup?(): Promise<void>;
}

export interface StoreCapabilityFlags {
  /** State outlives the instance: `reopen` gives a new instance that must see it. */
  persistent?: boolean;
  /** The store offers `capabilities.leaderLock`; `reopen` gives a competing instance. */
  leaderLock?: boolean;
  /** The store offers `forgetKeys` (checked on a reopened instance too when `persistent`). */
  forgetKeys?: boolean;
}

const row = (id: string, price: number, name = `item ${id}`): ConformanceRow => ({ id, name, price, tags: [id] });
const sortRows = (rows: ConformanceRow[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));

/**
 * The Store contract, as one vitest suite. Every Store adapter calls it first in its own tests:
 * `storeConformance('postgres', async () => ({ store, readScope, reopen, cleanup }), { persistent: true })`.
 */
export function storeConformance(name: string, factory: () => Promise<StoreHarness>, flags: StoreCapabilityFlags = {}): void {
  describe(`Store conformance: ${name}`, () => {
    const withHarness = (fn: (h: StoreHarness) => Promise<void>) => async () => {
      const h = await factory();
      try {
        await h.store.init?.();
        await fn(h);
      } finally {
        await h.store.close?.();
        await h.cleanup?.();
      }
    };
    const write = (h: StoreHarness, scopes: Record<string, ConformanceRow[]>, fetchedAt = 1_000) =>
      h.store.write({
        scopes: Object.entries(scopes).map(([scope, data]) => ({ key: `key:${scope}`, scope, job: 'job', data, fetchedAt })),
      });

    it('inserts a new scope and reads it back exactly, decimals included', withHarness(async (h) => {
      const result = await write(h, { a: [row('1', 242.14), row('2', 73)] });
      expect(result).toEqual({ inserted: 2, updated: 0, unchanged: 0, deleted: 0 });
      expect(sortRows(await h.readScope('a'))).toEqual([row('1', 242.14), row('2', 73)]);
    }));

    it('replaces a scope: updates changed rows, inserts new, deletes missing, leaves unchanged alone', withHarness(async (h) => {
      await write(h, { a: [row('1', 10), row('2', 20), row('3', 30)] });
      const result = await write(h, { a: [row('1', 10), row('2', 21.5), row('4', 40)] });
      expect(result).toEqual({ inserted: 1, updated: 1, unchanged: 1, deleted: 1 });
      expect(sortRows(await h.readScope('a'))).toEqual([row('1', 10), row('2', 21.5), row('4', 40)]);
    }));

    it('counts an identical re-sync as unchanged', withHarness(async (h) => {
      await write(h, { a: [row('1', 10), row('2', 20)] });
      expect(await write(h, { a: [row('1', 10), row('2', 20)] })).toEqual({ inserted: 0, updated: 0, unchanged: 2, deleted: 0 });
    }));

    it('touches only the scopes in the batch', withHarness(async (h) => {
      await write(h, { a: [row('1', 1)], b: [row('1', 2), row('2', 3)] });
      const result = await write(h, { a: [] });
      expect(result).toEqual({ inserted: 0, updated: 0, unchanged: 0, deleted: 1 });
      expect(await h.readScope('a')).toEqual([]);
      expect(sortRows(await h.readScope('b'))).toEqual([row('1', 2), row('2', 3)]);
    }));

    it('writes a scope named twice in one batch once, from its last occurrence', withHarness(async (h) => {
      await write(h, { a: [row('1', 1), row('2', 2)] });
      const result = await h.store.write({
        scopes: [
          { key: 'key:a', scope: 'a', job: 'job', data: [row('1', 100), row('9', 9)], fetchedAt: 2_000 },
          { key: 'key:a2', scope: 'a', job: 'job', data: [row('1', 1), row('3', 3)], fetchedAt: 2_500 },
        ],
      });
      expect(result).toEqual({ inserted: 1, updated: 0, unchanged: 1, deleted: 1 });
      expect(sortRows(await h.readScope('a'))).toEqual([row('1', 1), row('3', 3)]);
      const states = await h.store.readKeyStates(['key:a', 'key:a2']);
      expect(states.get('key:a')?.lastSuccessAt).toBe(2_000);
      expect(states.get('key:a2')?.lastSuccessAt).toBe(2_500);
    }));

    it('keeps the same row id apart in different scopes', withHarness(async (h) => {
      await write(h, { a: [row('1', 1)], b: [row('1', 2)] });
      expect(await h.readScope('a')).toEqual([row('1', 1)]);
      expect(await h.readScope('b')).toEqual([row('1', 2)]);
    }));

    it('rejects a batch whole when one scope holds two rows with one identity', withHarness(async (h) => {
      await write(h, { a: [row('1', 1)] });
      const err = await write(h, { a: [row('1', 5)], b: [row('x', 1), row('x', 2)] }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SyncError);
      // Told apart from a store that is away: the engine charges a rejection to the key at fault.
      expect((err as SyncError).code).toBe('STORE_CONFLICT');
      expect(await h.readScope('a')).toEqual([row('1', 1)]);
      expect(await h.readScope('b')).toEqual([]);
      const states = await h.store.readKeyStates(['key:a', 'key:b']);
      expect(states.get('key:a')?.lastSuccessAt).toBe(1_000);
      expect(states.has('key:b')).toBe(false);
    }));

    it('rejects a batch whole, as a rejection, when one scope\'s data is not rows', withHarness(async (h) => {
      await write(h, { a: [row('1', 1)] });
      const err = await write(h, { a: [row('1', 5)], b: { not: 'rows' } as unknown as ConformanceRow[] }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SyncError);
      expect(isStoreRejection(err)).toBe(true);
      expect(await h.readScope('a')).toEqual([row('1', 1)]);
      expect((await h.store.readKeyStates(['key:b'])).has('key:b')).toBe(false);
    }));

    it('records success state with the batch and failures without touching data', withHarness(async (h) => {
      await write(h, { a: [row('1', 1)] }, 5_000);
      await h.store.recordFailures([{ key: 'key:a', job: 'job', at: 6_000, error: 'boom' }]);
      await h.store.recordFailures([{ key: 'key:a', job: 'job', at: 7_000, error: 'boom again' }]);
      const state = (await h.store.readKeyStates(['key:a', 'never'])).get('key:a');
      expect(state).toMatchObject({ key: 'key:a', lastSuccessAt: 5_000, lastAttemptAt: 7_000, lastError: 'boom again', consecutiveFailures: 2 });
      expect(await h.readScope('a')).toEqual([row('1', 1)]);
      await write(h, { a: [row('1', 1)] }, 8_000);
      expect((await h.store.readKeyStates(['key:a'])).get('key:a')).toMatchObject({ lastSuccessAt: 8_000, consecutiveFailures: 0 });
    }));

    it('returns no state for keys it never saw', withHarness(async (h) => {
      expect((await h.store.readKeyStates(['nope'])).size).toBe(0);
      expect((await h.store.readKeyStates([])).size).toBe(0);
    }));

    it('keeps pause state, last ticks and dead letters', withHarness(async (h) => {
      await h.store.writePaused('*', true);
      await h.store.writePaused('today', true);
      await h.store.writePaused('today', false);
      expect((await h.store.readPaused()).sort()).toEqual(['*']);
      expect(await h.store.readLastTick('today')).toBeUndefined();
      await h.store.writeLastTick('today', 900_000);
      await h.store.writeLastTick('today', 1_800_000);
      expect(await h.store.readLastTick('today')).toBe(1_800_000);
      const letter = { key: 'k', scope: 's', job: 'j', payload: { productId: 14 }, attempts: 5, error: 'gave up', at: 1 };
      await h.store.addDeadLetter(letter);
      await h.store.addDeadLetter({ ...letter, attempts: 6 });
      expect(await h.store.listDeadLetters()).toEqual([{ ...letter, attempts: 6 }]);
      await h.store.removeDeadLetters(['k']);
      expect(await h.store.listDeadLetters()).toEqual([]);
    }));

    it('writes many scopes in one batch', withHarness(async (h) => {
      const scopes: Record<string, ConformanceRow[]> = {};
      for (let s = 0; s < 50; s++) scopes[`s${s}`] = Array.from({ length: 20 }, (_, i) => row(String(i), i + 0.25));
      expect(await write(h, scopes)).toEqual({ inserted: 1_000, updated: 0, unchanged: 0, deleted: 0 });
      expect(await h.readScope('s49')).toHaveLength(20);
    }));

    if (flags.forgetKeys) {
      it('forgets a key\'s last success and nothing else', withHarness(async (h) => {
        expect(typeof h.store.forgetKeys).toBe('function');
        await write(h, { a: [row('1', 1)], b: [row('2', 2)] }, 5_000);
        await h.store.recordFailures([{ key: 'key:a', job: 'job', at: 6_000, error: 'boom' }]);
        await h.store.forgetKeys!(['key:a', 'never seen']);
        const states = await h.store.readKeyStates(['key:a', 'key:b', 'never seen']);
        expect(states.get('key:a')).toMatchObject({ lastSuccessAt: undefined, lastAttemptAt: 6_000, lastError: 'boom', consecutiveFailures: 1 });
        expect(states.get('key:b')).toMatchObject({ lastSuccessAt: 5_000 });
        expect(states.has('never seen')).toBe(false);
        expect(await h.readScope('a')).toEqual([row('1', 1)]);
        if (flags.persistent) {
          const again = await h.reopen!();
          try {
            await again.init?.();
            expect((await again.readKeyStates(['key:a'])).get('key:a')?.lastSuccessAt).toBeUndefined();
          } finally {
            await again.close?.();
          }
        }
        // A later success counts again, even one fetched before the last forgotten one.
        await write(h, { a: [row('1', 1)] }, 4_000);
        expect((await h.store.readKeyStates(['key:a'])).get('key:a')?.lastSuccessAt).toBe(4_000);
      }));
    }

    if (flags.persistent) {
      it('a new instance on the same storage sees data and sync state', withHarness(async (h) => {
        await write(h, { a: [row('1', 9.99)] }, 4_000);
        await h.store.writePaused('today', true);
        await h.store.writeLastTick('today', 123_000);
        const letter = { key: 'key:b', scope: 'b', job: 'job', payload: { n: 1 }, attempts: 5, error: 'gave up', at: 4_500 };
        await h.store.addDeadLetter(letter);
        const again = await h.reopen!();
        try {
          await again.init?.();
          expect((await again.readKeyStates(['key:a'])).get('key:a')?.lastSuccessAt).toBe(4_000);
          expect(await again.readPaused()).toEqual(['today']);
          expect(await again.readLastTick('today')).toBe(123_000);
          expect(await again.listDeadLetters()).toEqual([letter]);
          expect(await again.write({ scopes: [{ key: 'key:a', scope: 'a', job: 'job', data: [row('1', 9.99)], fetchedAt: 5_000 }] })).toEqual({
            inserted: 0,
            updated: 0,
            unchanged: 1,
            deleted: 0,
          });
        } finally {
          await again.close?.();
        }
      }));
    }

    if (flags.leaderLock) {
      it('lets one instance lead at a time and hands leadership over on release', withHarness(async (h) => {
        const other = await h.reopen!();
        try {
          await other.init?.();
          const mine = h.store.capabilities!.leaderLock!;
          const theirs = other.capabilities!.leaderLock!;
          expect(await mine.acquire()).toBe(true);
          expect(await mine.acquire()).toBe(true);
          expect(await theirs.acquire()).toBe(false);
          await mine.release();
          expect(await theirs.acquire()).toBe(true);
          expect(await mine.acquire()).toBe(false);
          await theirs.release();
        } finally {
          await other.close?.();
        }
      }));
    }
  });
}
