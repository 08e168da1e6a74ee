import { createMemoryStore } from '@tidesync/adapter-memory';
import {
  createSyncEngine,
  createVirtualClock,
  type FetchContext,
  type JobDefinition,
  type QueuedTask,
  type SyncEngineOptions,
  type SyncEvents,
  type VirtualClock,
} from '../src/index.js';

export const SEC = 1_000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export interface Arrival {
  key: string;
  at: number;
  attempt: number;
}

export type Behaviour = (task: QueuedTask<{ n: number }>, ctx: FetchContext, clock: VirtualClock) => Promise<unknown>;

/** A source on the virtual clock that records every arrival and answers per `behaviour`. */
export function recordingSource(clock: VirtualClock, behaviour?: Behaviour) {
  const arrivals: Arrival[] = [];
  return {
    arrivals,
    source: {
      async fetch(task: QueuedTask<{ n: number }>, ctx: FetchContext) {
        arrivals.push({ key: task.key, at: clock.now(), attempt: ctx.attempt });
        if (behaviour) return behaviour(task, ctx, clock);
        return [{ id: task.key, value: clock.now() }];
      },
    },
  };
}

/** Plan `count` keys named `${prefix}:${i}`. */
export const keysPlan =
  (prefix: string, count: number): JobDefinition<{ n: number }>['plan'] =>
  () =>
    Array.from({ length: count }, (_, i) => ({ key: `${prefix}:${i}`, payload: { n: i } }));

export function setup(
  opts: Partial<Omit<SyncEngineOptions<{ n: number }, unknown>, 'clock'>> & { start?: number; behaviour?: Behaviour; clock?: VirtualClock } = {},
) {
  // A clock of the test's own, for parts (a limiter, say) it builds before the engine.
  const clock = opts.clock ?? createVirtualClock({ start: opts.start ?? Date.UTC(2026, 10, 28, 0, 0, 0) });
  const { arrivals, source } = recordingSource(clock, opts.behaviour);
  const store = createMemoryStore();
  const { start: _s, behaviour: _b, ...rest } = opts;
  const engine = createSyncEngine<{ n: number }, unknown>({
    source,
    store,
    clock,
    random: () => 0.5,
    flushMs: 0,
    ...rest,
  });
  const seen: { [K in keyof SyncEvents]?: SyncEvents[K][] } = {};
  const record = <K extends keyof SyncEvents>(event: K) => {
    const list: SyncEvents[K][] = [];
    seen[event] = list as never;
    engine.on(event, (p) => list.push(p));
    return list;
  };
  return { clock, arrivals, source, store, engine, record };
}
