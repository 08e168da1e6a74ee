import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test, type TestingModule } from '@nestjs/testing';
import { SyncConfigError, createVirtualClock, type Source, type VirtualClock } from '@tidesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import { SyncHealthIndicator } from '../src/health/index.js';
import { SyncEngine, SyncModule, type SyncModuleOptions } from '../src/index.js';
import { planIds, recordingSource, switchableStore, type SwitchableStore } from './fixtures.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

interface Setup {
  clock: VirtualClock;
  store: SwitchableStore;
  moduleRef: TestingModule;
  indicator: SyncHealthIndicator;
  engine: SyncEngine;
}

/** The layout the README recommends: a global SyncModule, the indicator in a Terminus module. */
async function setup(overrides: Partial<SyncModuleOptions> = {}): Promise<Setup> {
  const clock = createVirtualClock();
  const store = switchableStore();
  @Module({ imports: [TerminusModule], providers: [SyncHealthIndicator], exports: [SyncHealthIndicator] })
  class HealthModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [
      SyncModule.forRoot({
        source: recordingSource(),
        store,
        clock,
        logger: false,
        flushMs: 0,
        isGlobal: true,
        jobs: [{ name: 'today', schedule: '*/15 * * * *', plan: () => planIds('today', [1, 2, 3]) }],
        ...overrides,
      }),
      HealthModule,
    ],
  }).compile();
  // The drain deadline runs on the engine's clock: a virtual one must be moved for close() to end.
  closers.push(async () => {
    const closing = moduleRef.close();
    await clock.advance(60_000);
    await closing;
  });
  await moduleRef.init();
  return { clock, store, moduleRef, indicator: moduleRef.get(SyncHealthIndicator), engine: moduleRef.get(SyncEngine) };
}

describe('SyncHealthIndicator', () => {
  it('is up when the store answers and the engine runs, with freshness in the details', async () => {
    const { indicator, engine, clock } = await setup();
    await engine.trigger('today');
    await clock.advance(1_000);
    const result = await indicator.isHealthy('sync');
    expect(result).toEqual({
      sync: {
        status: 'up',
        state: 'running',
        store: 'up',
        staleKeys: 0,
        deadlineMisses: 0,
        recentDeadlineMisses: 0,
        deadLetters: 0,
        jobs: { today: { keys: 3, stale: 0, lagMs: 0, deadlineMisses: 0 } },
      },
    });
  });

  it('is down when the store refuses, and when it does not answer in time', async () => {
    const { indicator, store } = await setup({ health: { storeTimeoutMs: 50 } });
    store.mode = 'down';
    const refused = await indicator.isHealthy();
    expect(refused.tidesync).toMatchObject({ status: 'down', store: 'down', problems: ['store unreachable: connection refused'] });

    store.mode = 'hang';
    const hung = await indicator.isHealthy();
    expect(hung.tidesync).toMatchObject({ status: 'down', problems: ['store unreachable: no answer within 50 ms'] });
  });

  it('checks during a hung status share one read instead of queueing one each', async () => {
    const { indicator, engine } = await setup({ health: { statusTimeoutMs: 20 } });
    let reads = 0;
    engine.status = () => {
      reads++;
      return new Promise(() => {});
    };
    for (let i = 0; i < 5; i++) expect((await indicator.isHealthy()).tidesync.status).toBe('down');
    expect(reads).toBe(1);
  });

  it('is down, not thrown, when the store throws at once (a closed pool)', async () => {
    const { indicator, store } = await setup();
    store.readPaused = () => {
      throw new Error('pool is closed');
    };
    const result = await indicator.isHealthy();
    expect(result.tidesync).toMatchObject({ status: 'down', store: 'down', problems: ['store unreachable: pool is closed'] });
  });

  it('is down, not hung, when the engine status does not answer (a shared queue whose server is away)', async () => {
    const { indicator, engine } = await setup({ health: { statusTimeoutMs: 50 } });
    engine.status = () => new Promise(() => {});
    const result = await indicator.isHealthy();
    expect(result.tidesync).toMatchObject({
      status: 'down',
      store: 'up',
      problems: ['engine status: no answer within 50 ms (its queue or rate limiter may be unreachable)'],
    });
  });

  it('is down when stale keys pass the configured threshold', async () => {
    // Nothing ever gets fresh: fetches end only when the engine aborts them.
    const pending: Source = {
      fetch: (_task, { signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    };
    const { indicator, engine, clock } = await setup({ source: pending, health: { maxStaleKeys: 2 } });
    await engine.trigger('today');
    await clock.advance(1_000);
    const result = await indicator.isHealthy();
    expect(result.tidesync).toMatchObject({ status: 'down', staleKeys: 3, problems: ['3 stale keys (max 2)'] });
    // A per-call threshold overrides the module default (e.g. a laxer liveness probe).
    expect((await indicator.isHealthy('tidesync', { maxStaleKeys: 3 })).tidesync.status).toBe('up');
  });

  it('is down when deadline misses pass the configured threshold', async () => {
    // Each fetch takes 2 s of (virtual) time, longer than the 1 s freshness target: the second
    // round of fetches lands after the deadline set by the first.
    const clockRef: { clock?: VirtualClock } = {};
    const slow: Source = { fetch: async (task) => (await clockRef.clock!.sleep(2_000), [{ id: 1, key: task.key }]) };
    const { indicator, engine, clock } = await setup({
      source: slow,
      jobs: [{ name: 'today', schedule: '*/15 * * * *', freshFor: 1_000, plan: () => planIds('today', [1]) }],
      health: { maxDeadlineMisses: 0 },
    });
    clockRef.clock = clock;
    await engine.trigger('today');
    await clock.advance(3_000);
    expect((await indicator.isHealthy()).tidesync.status).toBe('up');
    await engine.trigger('today');
    await clock.advance(3_000);
    const result = await indicator.isHealthy();
    expect(result.tidesync).toMatchObject({
      status: 'down',
      deadlineMisses: 1,
      recentDeadlineMisses: 1,
      problems: ['1 deadline misses in the last 3600000 ms (max 0)'],
    });
  });

  it('counts deadline misses within a window: a bad hour long past does not keep it down', async () => {
    const clockRef: { clock?: VirtualClock } = {};
    const slow: Source = { fetch: async (task) => (await clockRef.clock!.sleep(2_000), [{ id: 1, key: task.key }]) };
    const { indicator, engine, clock } = await setup({
      source: slow,
      jobs: [{ name: 'today', schedule: '0 0 1 1 *', freshFor: 1_000, plan: () => planIds('today', [1, 2]) }],
      health: { maxDeadlineMisses: 1, deadlineMissWindowMs: 30 * 60_000 },
    });
    clockRef.clock = clock;
    await engine.trigger('today');
    await clock.advance(5_000);
    await engine.trigger('today');
    await clock.advance(5_000);
    expect((await indicator.isHealthy()).tidesync).toMatchObject({ status: 'down', recentDeadlineMisses: 2 });
    // Half an hour on, the misses have left the window; the total since start still shows them.
    await clock.advance(30 * 60_000);
    expect((await indicator.isHealthy()).tidesync).toMatchObject({ status: 'up', deadlineMisses: 2, recentDeadlineMisses: 0 });
    // A per-call window reaches back as far as it asks, up to a day.
    expect((await indicator.isHealthy('tidesync', { deadlineMissWindowMs: 2 * 60 * 60_000 })).tidesync).toMatchObject({ status: 'down', recentDeadlineMisses: 2 });
    await expect(indicator.isHealthy('tidesync', { deadlineMissWindowMs: 2 * 86_400_000 })).rejects.toThrow(/deadlineMissWindowMs: late fetches are kept for 86400000 ms/);
  });

  it('rejects invalid per-check overrides with every problem listed, instead of passing the check', async () => {
    const { indicator } = await setup();
    const err = await indicator.isHealthy('tidesync', { deadlineMissWindowMs: Number.NaN, maxDeadlineMisses: -1, storeTimeoutMs: '2s' as unknown as number, maxStaleKey: 3 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncConfigError);
    const paths = (err as SyncConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['', 'deadlineMissWindowMs', 'maxDeadlineMisses', 'storeTimeoutMs']);
    // A window too long is listed with the other problems.
    const both = await indicator.isHealthy('tidesync', { deadlineMissWindowMs: 2 * 86_400_000, maxDeadlineMisses: -1 }).catch((e: unknown) => e);
    expect((both as SyncConfigError).issues.map((i) => i.path).sort()).toEqual(['deadlineMissWindowMs', 'maxDeadlineMisses']);
  });

  it('refuses a maxDeadlineMisses the kept late fetches could never exceed, in the module and per check', async () => {
    // The check keeps at most 100,000 late fetches: a limit of that many could never trip.
    await expect(setup({ health: { maxDeadlineMisses: 100_000 } })).rejects.toThrow(/health\.maxDeadlineMisses: must be below 100,000/);
    const { indicator } = await setup({ health: { maxDeadlineMisses: 99_999 } });
    expect((await indicator.isHealthy()).tidesync.status).toBe('up');
    const err = await indicator.isHealthy('tidesync', { maxDeadlineMisses: 1e6 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncConfigError);
    expect((err as SyncConfigError).issues).toEqual([expect.objectContaining({ path: 'maxDeadlineMisses', message: expect.stringMatching(/could never trip/) })]);
  });

  it('is down while the engine is not running, unless told otherwise', async () => {
    const { indicator } = await setup({ autoStart: false });
    expect((await indicator.isHealthy()).tidesync).toMatchObject({ status: 'down', state: 'idle', problems: ['engine is idle'] });
    expect((await indicator.isHealthy('tidesync', { requireRunning: false })).tidesync.status).toBe('up');
  });
});
