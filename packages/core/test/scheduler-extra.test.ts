import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { createCronScheduler, createSyncEngine, createVirtualClock } from '../src/index.js';
import { MIN, keysPlan, recordingSource } from './helpers.js';

describe('scheduler jitter and leadership through the store', () => {
  it('fires each occurrence late by up to jitterMs, never early, and keeps the occurrence time', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const draws = [0.9, 0.1, 0.5];
    const scheduler = createCronScheduler({ clock, random: () => draws.shift() ?? 0 });
    const fired: Array<{ at: number; scheduledAt: number }> = [];
    scheduler.add(
      { id: 'j', cron: '*/15 * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 60_000, catchUp: false },
      async (tick) => void fired.push({ at: clock.now(), scheduledAt: tick.scheduledAt }),
    );
    await scheduler.start();
    await clock.advance(46 * MIN);
    await scheduler.stop();
    expect(fired.map((f) => f.at - f.scheduledAt)).toEqual([54_000, 6_000, 30_000]);
    expect(fired.map((f) => f.scheduledAt - Date.UTC(2026, 10, 28))).toEqual([15 * MIN, 30 * MIN, 45 * MIN]);
  });

  it('fires ticks only while the store says this instance leads', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    let leading = false;
    const store = Object.assign(createMemoryStore(), {
      capabilities: { leaderLock: { acquire: async () => leading, release: async () => {} } },
    });
    const { arrivals, source } = recordingSource(clock);
    const engine = createSyncEngine({ clock, store, source, flushMs: 0, jobs: [{ name: 'j', schedule: '*/15 * * * *', plan: keysPlan('k', 1) }] });
    const skipped: string[] = [];
    engine.on('tick:skipped', (e) => skipped.push(e.reason));
    await engine.start();
    await clock.advance(30 * MIN);
    expect(arrivals).toHaveLength(0);
    expect(skipped).toEqual(['not-leader', 'not-leader']);
    leading = true;
    await clock.advance(15 * MIN);
    expect(arrivals).toHaveLength(1);
    await engine.stop();
  });

  it('fires an occurrence that spring-forward skips once, at the first instant after the gap', async () => {
    // America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day.
    const clock = createVirtualClock({ start: Date.UTC(2026, 2, 7, 12, 0, 0) });
    const scheduler = createCronScheduler({ clock });
    const fired: number[] = [];
    scheduler.add(
      { id: 'j', cron: '30 2 * * *', timezone: 'America/New_York', overlap: 'skip', jitterMs: 0, catchUp: false },
      async (tick) => void fired.push(tick.scheduledAt),
    );
    await scheduler.start();
    await clock.advanceTo(Date.UTC(2026, 2, 9, 12, 0, 0));
    await scheduler.stop();
    expect(fired.map((at) => new Date(at).toISOString())).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: the day still gets its run, an hour late by the wall clock
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });
});
