import {
  StoreRejectedError,
  SyncError,
  emptyWriteResult,
  errorMessage,
  isStoreRejection,
  parseOptions,
  stableStringify,
  type DeadLetter,
  type KeyFailure,
  type KeyState,
  type Store,
  type WriteResult,
} from '@tidesync/core';
import { z } from 'zod';

export type Row = Record<string, unknown>;

const optionsSchema = z.object({
  /** Turns a scope's fetched data into rows. Default: the data itself, which must be an array of rows. */
  rows: z.custom<(data: unknown, scope: string) => Row[]>((v) => typeof v === 'function').optional(),
  /** Identity of a row within its scope. Default: its `id` field. */
  rowKey: z.custom<(row: Row) => string>((v) => typeof v === 'function').optional(),
});

export type MemoryStoreOptions<D> = {
  rows?: (data: D, scope: string) => Row[];
  rowKey?: (row: Row) => string;
};

export interface MemoryStore<D = unknown> extends Store<D> {
  /** Rows of one scope, in insertion order (copies). */
  readScope(scope: string): Row[];
  /** Every scope and its row count. */
  scopes(): Map<string, number>;
  forgetKeys(keys: readonly string[]): Promise<void>;
}

interface StoredRow {
  row: Row;
  /** Serialised once on write, so comparing a re-sync costs one stringify per incoming row. */
  fingerprint: string;
}

const defaultRows = (data: unknown, scope: string): Row[] => {
  if (!Array.isArray(data)) throw new StoreRejectedError(`scope ${scope}: data must be an array of rows`);
  return data as Row[];
};

const defaultRowKey = (row: Row): string => {
  const id = row.id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new StoreRejectedError('row has no string or number `id`; pass `rowKey`');
  }
  return String(id);
};

/**
 * The reference Store: everything the contract promises, in memory. A write computes every
 * scope's new rows first and installs them only when the whole batch was accepted, which is what
 * makes it atomic.
 */
export function createMemoryStore<D = unknown>(options: MemoryStoreOptions<D> = {}): MemoryStore<D> {
  const o = parseOptions('memory store options', optionsSchema, options);
  const toRows = (o.rows ?? defaultRows) as (data: unknown, scope: string) => Row[];
  const rowKey = o.rowKey ?? defaultRowKey;

  const data = new Map<string, Map<string, StoredRow>>();
  const keyStates = new Map<string, KeyState>();
  const paused = new Set<string>();
  const lastTicks = new Map<string, number>();
  const deadLetters = new Map<string, DeadLetter>();

  const stateOf = (key: string): KeyState =>
    keyStates.get(key) ?? { key, lastSuccessAt: undefined, lastAttemptAt: undefined, lastError: undefined, consecutiveFailures: 0 };

  return {
    async write(batch) {
      const result: WriteResult = emptyWriteResult();
      const replaced = new Map<string, Map<string, StoredRow>>();
      // A scope named twice: its last occurrence is the truth.
      const lastOfScope = new Map(batch.scopes.map((s) => [s.scope, s]));
      for (const scope of lastOfScope.values()) {
        const previous = data.get(scope.scope) ?? new Map<string, StoredRow>();
        const next = new Map<string, StoredRow>();
        let rows: Row[];
        try {
          rows = toRows(scope.data, scope.scope);
        } catch (err) {
          // The mapping could not make rows of this scope's data: the data's fault, not the store's.
          throw isStoreRejection(err) ? err : new StoreRejectedError(`scope ${scope.scope}: rows() failed: ${errorMessage(err)}`, { cause: err });
        }
        // As the Postgres store: a mapping that gives no array is refused, and nothing is written.
        if (!Array.isArray(rows)) throw new StoreRejectedError(`scope ${scope.scope}: data must be an array of rows`);
        for (const row of rows) {
          let id: string;
          try {
            id = rowKey(row);
          } catch (err) {
            throw isStoreRejection(err) ? err : new StoreRejectedError(`scope ${scope.scope}: rowKey() failed: ${errorMessage(err)}`, { cause: err });
          }
          if (next.has(id)) {
            throw new SyncError('STORE_CONFLICT', `scope ${scope.scope}: two rows with identity "${id}"`);
          }
          const fingerprint = stableStringify(row);
          const old = previous.get(id);
          if (!old) result.inserted++;
          else if (old.fingerprint !== fingerprint) result.updated++;
          else {
            result.unchanged++;
            next.set(id, old);
            continue;
          }
          next.set(id, { row: structuredClone(row), fingerprint });
        }
        for (const id of previous.keys()) if (!next.has(id)) result.deleted++;
        replaced.set(scope.scope, next);
      }
      // Everything that can throw ran above without touching shared state; what follows cannot
      // fail, so the batch lands whole or not at all.
      for (const [scope, rows] of replaced) {
        if (rows.size === 0) data.delete(scope);
        else data.set(scope, rows);
      }
      // One key twice in a batch counts its latest fetch, as the Postgres store does.
      const latest = new Map<string, number>();
      for (const s of batch.scopes) latest.set(s.key, Math.max(s.fetchedAt, latest.get(s.key) ?? Number.NEGATIVE_INFINITY));
      for (const [key, fetchedAt] of latest) {
        keyStates.set(key, {
          ...stateOf(key),
          lastSuccessAt: Math.max(fetchedAt, stateOf(key).lastSuccessAt ?? 0),
          lastAttemptAt: fetchedAt,
          lastError: undefined,
          consecutiveFailures: 0,
        });
      }
      return result;
    },

    async readKeyStates(keys) {
      const out = new Map<string, KeyState>();
      for (const key of keys) {
        const state = keyStates.get(key);
        if (state) out.set(key, { ...state });
      }
      return out;
    },

    async forgetKeys(keys) {
      for (const key of keys) {
        const state = keyStates.get(key);
        if (state) keyStates.set(key, { ...state, lastSuccessAt: undefined });
      }
    },

    async recordFailures(failures: readonly KeyFailure[]) {
      for (const f of failures) {
        const state = stateOf(f.key);
        keyStates.set(f.key, {
          ...state,
          lastAttemptAt: f.at,
          lastError: f.error,
          consecutiveFailures: state.consecutiveFailures + 1,
        });
      }
    },

    async readPaused() {
      return [...paused];
    },
    async writePaused(target, isPaused) {
      if (isPaused) paused.add(target);
      else paused.delete(target);
    },

    async readLastTick(id) {
      return lastTicks.get(id);
    },
    async writeLastTick(id, at) {
      lastTicks.set(id, at);
    },

    async addDeadLetter(entry) {
      deadLetters.set(entry.key, structuredClone(entry));
    },
    async listDeadLetters() {
      return [...deadLetters.values()].map((d) => structuredClone(d));
    },
    async removeDeadLetters(keys) {
      for (const key of keys) deadLetters.delete(key);
    },

    readScope(scope) {
      return [...(data.get(scope)?.values() ?? [])].map((r) => structuredClone(r.row));
    },
    scopes() {
      return new Map([...data].map(([scope, rows]) => [scope, rows.size]));
    },
  };
}
