/**
 * Shared test doubles: a source that records what it fetched, a memory store that can be made
 * unreachable, and a source whose fetches finish only when released (for drain tests).
 */
import { createMemoryStore, type MemoryStore } from '@tidesync/adapter-memory';
import { AbortedError, type QueuedTask, type Source } from '@tidesync/core';

export interface RecordingSource extends Source {
  fetched: string[];
}

/** Returns one row per fetch, so every fetched key becomes a visible scope in the store. */
export function recordingSource(): RecordingSource {
  const fetched: string[] = [];
  return {
    fetched,
    async fetch(task: QueuedTask) {
      fetched.push(task.key);
      return [{ id: 1, key: task.key }];
    },
  };
}

export interface SwitchableStore extends MemoryStore {
  mode: 'up' | 'down' | 'hang';
}

/** A memory store whose reads fail (`down`) or never answer (`hang`) on demand. */
export function switchableStore(): SwitchableStore {
  const inner = createMemoryStore();
  const store = Object.create(inner) as SwitchableStore;
  store.mode = 'up';
  store.readPaused = () => {
    if (store.mode === 'down') return Promise.reject(new Error('connection refused'));
    if (store.mode === 'hang') return new Promise<string[]>(() => {});
    return inner.readPaused();
  };
  return store;
}

export interface GatedSource extends Source {
  started: Promise<void>;
  release(): void;
  outcome: 'pending' | 'finished' | 'aborted';
}

/** The first fetch blocks until `release()` or until its signal aborts. */
export function gatedSource(): GatedSource {
  let onStart!: () => void;
  let onRelease!: () => void;
  const released = new Promise<void>((resolve) => (onRelease = resolve));
  const source: GatedSource = {
    started: new Promise<void>((resolve) => (onStart = resolve)),
    release: () => onRelease(),
    outcome: 'pending',
    async fetch(task, { signal }) {
      onStart();
      const aborted = new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(new AbortedError()), { once: true }),
      );
      try {
        await Promise.race([released, aborted]);
        source.outcome = 'finished';
        return [{ id: 1, key: task.key }];
      } catch (err) {
        source.outcome = 'aborted';
        throw err;
      }
    },
  };
  return source;
}

/** A plan covering the given ids, one key per id. */
export const planIds = (prefix: string, ids: readonly number[]) => ids.map((id) => ({ key: `${prefix}:${id}`, payload: { id } }));
