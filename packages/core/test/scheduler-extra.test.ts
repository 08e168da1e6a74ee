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
});
