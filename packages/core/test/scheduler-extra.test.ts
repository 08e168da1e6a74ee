import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { createCronScheduler, createSyncEngine, createVirtualClock } from '../src/index.js';
import { parseCron } from '../src/scheduler/cron.js';
import { HOUR, MIN, SEC, keysPlan, recordingSource } from './helpers.js';

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

  it('a jitter longer than the gap between occurrences skips none of them', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const scheduler = createCronScheduler({ clock, random: () => 0.9 });
    const fired: number[] = [];
    scheduler.add(
      { id: 'j', cron: '0,5 * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 10 * MIN, catchUp: false },
      async (tick) => void fired.push((tick.scheduledAt - Date.UTC(2026, 10, 28)) / MIN),
    );
    await scheduler.start();
    await clock.advance(2 * 60 * MIN);
    await scheduler.stop();
    // Each fires 9 minutes late: 01:00 fires at 01:09, after 01:05, which must still fire.
    expect(fired).toEqual([5, 60, 65]);
  });

  it('bufferOne: a buffered tick replaced by a newer one is reported skipped', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const skipped: number[] = [];
    const scheduler = createCronScheduler({ clock, onSkip: (tick) => void skipped.push((tick.scheduledAt - Date.UTC(2026, 10, 28)) / MIN) });
    const ran: number[] = [];
    scheduler.add(
      { id: 'j', cron: '* * * * *', timezone: 'UTC', overlap: 'bufferOne', jitterMs: 0, catchUp: false },
      async (tick) => {
        ran.push((tick.scheduledAt - Date.UTC(2026, 10, 28)) / MIN);
        if (ran.length === 1) await clock.sleep(3.5 * MIN); // the first run outlasts three occurrences
      },
    );
    await scheduler.start();
    await clock.advance(5 * MIN + 1);
    await scheduler.stop();
    // 2 was buffered, then replaced by 3, then 3 by 4: every occurrence ran or was reported.
    expect(ran).toEqual([1, 4, 5]);
    expect(skipped).toEqual([2, 3]);
  });

  it('a start whose catch-up outlives a stop arms nothing', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    let answer!: () => void;
    const persistence = {
      readLastTick: () => new Promise<number | undefined>((resolve) => (answer = () => resolve(undefined))),
      writeLastTick: async () => {},
    };
    const scheduler = createCronScheduler({ clock, persistence });
    const fired: number[] = [];
    scheduler.add({ id: 'j', cron: '* * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 0, catchUp: true }, async (tick) => void fired.push(tick.scheduledAt));
    const starting = scheduler.start();
    await clock.flush();
    await scheduler.stop();
    answer();
    await starting;
    await clock.advance(10 * MIN);
    expect(fired).toEqual([]);
  });

  it('catches up, on a spring-forward day, the occurrence the gap moved — once, whatever the restarts', async () => {
    // Last ran 2026-03-07 02:30 EST; the service comes back on 03-08 after 03:30 EDT (the moved 02:30).
    expect(new Date(parseCron('30 2 * * *', 'America/New_York').prev(Date.UTC(2026, 2, 8, 12))).toISOString()).toBe('2026-03-08T07:30:00.000Z');
    const clock = createVirtualClock({ start: Date.UTC(2026, 2, 8, 10) });
    let last: number | undefined = Date.UTC(2026, 2, 7, 7, 30);
    const persistence = { readLastTick: async () => last, writeLastTick: async (_id: string, at: number) => void (last = at) };
    const catchUps: string[] = [];
    for (let restart = 0; restart < 2; restart++) {
      const scheduler = createCronScheduler({ clock, persistence });
      scheduler.add({ id: 'j', cron: '30 2 * * *', timezone: 'America/New_York', overlap: 'skip', jitterMs: 0, catchUp: true }, async (tick) => {
        if (tick.catchUp) catchUps.push(new Date(tick.scheduledAt).toISOString());
      });
      await scheduler.start();
      await clock.advance(HOUR);
      await scheduler.stop();
    }
    expect(catchUps).toEqual(['2026-03-08T07:30:00.000Z']);
  });

  it('an onSkip or onError that throws is logged, not an unhandled rejection, and ticks go on', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (f: Record<string, unknown>) => void warnings.push(String(f.callback)) };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const scheduler = createCronScheduler({
        clock,
        logger,
        isLeader: async () => false,
        // Thrown at once, then rejected (an async hook): both are logged.
        onSkip: (() => {
          let calls = 0;
          return () => {
            if (calls++ % 2 === 0) throw new Error('skip hook bug');
            return Promise.reject(new Error('async skip hook bug'));
          };
        })(),
      });
      scheduler.add({ id: 'j', cron: '* * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 0, catchUp: false }, async () => {});
      await scheduler.start();
      await clock.advance(3 * MIN);
      await new Promise((r) => setTimeout(r, 10));
      await scheduler.stop();
      expect(warnings).toEqual(['onSkip', 'onSkip', 'onSkip']);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('places every occurrence a spring-forward gap skips just after it, in half-hour-gap zones too', () => {
    const iso = (at: number) => new Date(at).toISOString();
    const walk = (cron: string, zone: string, from: number, count: number) => {
      const c = parseCron(cron, zone);
      const out: string[] = [];
      for (let at = from, i = 0; i < count; i++) out.push(iso((at = c.next(at))));
      return out;
    };
    // New York, 2026-03-08: 02:00 and 02:30 do not exist; they fire at 03:00 and 03:30 EDT.
    expect(walk('0,30 2 * * *', 'America/New_York', Date.UTC(2026, 2, 7, 12), 4)).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T07:30:00.000Z',
      '2026-03-09T06:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
    ]);
    // Lord Howe, 2026-10-04: 02:00 becomes 02:30 (a 30-minute gap); 02:15 fires at 02:45.
    expect(walk('15 2 * * *', 'Australia/Lord_Howe', Date.UTC(2026, 9, 2, 12), 3)).toEqual([
      '2026-10-02T15:45:00.000Z',
      '2026-10-03T15:45:00.000Z',
      '2026-10-04T15:15:00.000Z',
    ]);
    // prev() names the same occurrences.
    expect(iso(parseCron('0,30 2 * * *', 'America/New_York').prev(Date.UTC(2026, 2, 8, 7, 45)))).toBe('2026-03-08T07:30:00.000Z');
  });

  it('after a stall (the clock jumps hours past a timer) fires one tick, not one per missed occurrence', async () => {
    const base = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    let jump = 0;
    // A host suspended for 8 hours: the timer runs late, and now() says so.
    const clock = { ...base, now: () => base.now() + jump, setTimer: base.setTimer.bind(base), sleep: base.sleep.bind(base) };
    const scheduler = createCronScheduler({ clock });
    const fired: number[] = [];
    scheduler.add({ id: 'j', cron: '* * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 0, catchUp: false }, async (t) => void fired.push(t.scheduledAt));
    await scheduler.start();
    jump = 8 * 60 * MIN;
    await base.advance(MIN);
    await base.advance(10);
    await scheduler.stop();
    expect(fired).toHaveLength(1);
  });

  it('prev() never throws and always agrees with next(), around midnight and half-hour gaps', () => {
    const cases: Array<[string, string, number]> = [
      ['0 0 * * *', 'America/Santiago', Date.UTC(2026, 8, 5)],
      ['0 2 * * *', 'Australia/Lord_Howe', Date.UTC(2026, 9, 2)],
      ['15,45 2 * * *', 'Australia/Lord_Howe', Date.UTC(2026, 9, 2)],
      ['30 1 * * *', 'America/New_York', Date.UTC(2026, 9, 31)],
    ];
    for (const [cron, zone, from] of cases) {
      const c = parseCron(cron, zone);
      for (let before = from; before < from + 4 * 86_400_000; before += 7 * MIN) {
        const p = c.prev(before);
        expect(p).toBeLessThan(before);
        expect(c.next(p)).toBeGreaterThanOrEqual(before);
      }
    }
  });

  it('after stop, neither a buffered tick nor a catch-up whose read outlived the stop fires', async () => {
    const clock = createVirtualClock({ start: Date.UTC(2026, 10, 28) });
    const scheduler = createCronScheduler({ clock });
    const ran: number[] = [];
    scheduler.add({ id: 'j', cron: '* * * * *', timezone: 'UTC', overlap: 'bufferOne', jitterMs: 0, catchUp: false }, async (t) => {
      ran.push(t.scheduledAt);
      await clock.sleep(100 * SEC);
    });
    await scheduler.start();
    await clock.advance(2 * MIN + 1); // 00:01 runs, 00:02 is buffered
    await scheduler.stop();
    await clock.advance(5 * MIN);
    expect(ran).toEqual([Date.UTC(2026, 10, 28, 0, 1)]);

    let answer!: () => void;
    const late = createCronScheduler({
      clock,
      persistence: { readLastTick: () => new Promise((resolve) => (answer = () => resolve(clock.now() - 60 * MIN))), writeLastTick: async () => {} },
    });
    const fired: boolean[] = [];
    late.add({ id: 'k', cron: '*/15 * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 0, catchUp: true }, async (t) => void fired.push(t.catchUp));
    const starting = late.start();
    await clock.flush();
    await late.stop();
    answer();
    await starting;
    await clock.advance(MIN);
    expect(fired).toEqual([]);
  });
});
