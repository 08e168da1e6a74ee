import { describe, expect, it } from 'vitest';
import type { Scheduler, ScheduleSpec, Tick } from '../contracts/scheduler.js';
import { createVirtualClock, type VirtualClock } from '../clock/virtual-clock.js';

export interface SchedulerFactoryInput {
  clock: VirtualClock;
  persistence: {
    readLastTick(id: string): Promise<number | undefined>;
    writeLastTick(id: string, at: number): Promise<void>;
  };
  isLeader?: () => boolean | Promise<boolean>;
  onSkip: (tick: Tick, reason: string) => void;
}

export interface SchedulerHarness {
  scheduler: Scheduler;
  cleanup?(): Promise<void>;
}

const MIN = 60_000;
const spec = (fields: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  id: 'job',
  cron: '*/15 * * * *',
  timezone: 'UTC',
  overlap: 'skip',
  jitterMs: 0,
  catchUp: true,
  ...fields,
});

export interface SchedulerConformanceFlags {
  /**
   * The scheduler runs on the wall clock (a distributed one schedules by its backend's time and
   * ignores the virtual clock). The suite then checks the same contract with seconds-field crons
   * and real waits, in about half a minute; leadership is left out (such schedulers elect
   * themselves).
   */
  realClock?: boolean;
}

/** The Scheduler contract as one vitest suite, on a virtual clock (or the real one, see the flags). */
export function schedulerConformance(
  name: string,
  factory: (input: SchedulerFactoryInput) => Promise<SchedulerHarness>,
  flags: SchedulerConformanceFlags = {},
): void {
  if (flags.realClock) return realClockSchedulerConformance(name, factory);
  describe(`Scheduler conformance: ${name}`, () => {
    const start = Date.UTC(2026, 10, 28, 0, 0, 0);
    const setup = async (opts: { lastTick?: number; isLeader?: () => boolean; at?: number } = {}) => {
      const clock = createVirtualClock({ start: opts.at ?? start });
      const saved = new Map<string, number>();
      if (opts.lastTick !== undefined) saved.set('job', opts.lastTick);
      const skips: string[] = [];
      const h = await factory({
        clock,
        persistence: { readLastTick: async (id) => saved.get(id), writeLastTick: async (id, at) => void saved.set(id, at) },
        isLeader: opts.isLeader,
        onSkip: (_tick, reason) => skips.push(reason),
      });
      return { clock, saved, skips, h };
    };

    it('fires once per occurrence for a whole day', async () => {
      const { clock, h } = await setup();
      const ticks: number[] = [];
      h.scheduler.add(spec(), async (t) => void ticks.push(t.scheduledAt));
      await h.scheduler.start();
      await clock.advance(24 * 60 * MIN);
      await h.scheduler.stop();
      expect(ticks).toHaveLength(96);
      expect(new Set(ticks).size).toBe(96);
      expect(ticks[0]).toBe(start + 15 * MIN);
      expect(ticks.every((t, i) => i === 0 || t - ticks[i - 1]! === 15 * MIN)).toBe(true);
      await h.cleanup?.();
    });

    it('goes on firing after a handler throws', async () => {
      const { clock, h } = await setup();
      const ticks: number[] = [];
      h.scheduler.add(spec(), async (t) => {
        ticks.push(t.scheduledAt);
        if (ticks.length === 1) throw new Error('handler bug');
      });
      await h.scheduler.start();
      await clock.advance(61 * MIN);
      await h.scheduler.stop();
      expect(ticks).toEqual([15, 30, 45, 60].map((m) => start + m * MIN));
      await h.cleanup?.();
    });

    it('follows the wall clock across DST: an occurrence spring-forward skips fires once, just after the gap', async () => {
      // America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT, so 02:30 does not exist that day.
      const { clock, h } = await setup({ at: Date.UTC(2026, 2, 7, 12) });
      const ticks: number[] = [];
      h.scheduler.add(spec({ cron: '30 2 * * *', timezone: 'America/New_York' }), async (t) => void ticks.push(t.scheduledAt));
      await h.scheduler.start();
      await clock.advanceTo(Date.UTC(2026, 2, 9, 12));
      await h.scheduler.stop();
      expect(ticks.map((t) => new Date(t).toISOString())).toEqual(['2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z']);
      await h.cleanup?.();
    });

    it('reports next and last occurrences', async () => {
      const { clock, h } = await setup();
      h.scheduler.add(spec({ cron: '0 */4 * * *' }), async () => {});
      await h.scheduler.start();
      expect(h.scheduler.nextTick('job')).toBe(start + 240 * MIN);
      await clock.advance(241 * MIN);
      expect(h.scheduler.lastTick('job')).toBe(start + 240 * MIN);
      expect(h.scheduler.nextTick('job')).toBe(start + 480 * MIN);
      await h.scheduler.stop();
      await h.cleanup?.();
    });

    it('skips an occurrence that fires while the previous tick still runs (overlap: skip)', async () => {
      const { clock, skips, h } = await setup();
      const ticks: number[] = [];
      h.scheduler.add(spec(), async (t) => {
        ticks.push(t.scheduledAt);
        await clock.sleep(20 * MIN);
      });
      await h.scheduler.start();
      await clock.advance(61 * MIN);
      await h.scheduler.stop();
      expect(ticks).toEqual([start + 15 * MIN, start + 45 * MIN]);
      expect(skips).toEqual(['overlap', 'overlap']);
      await h.cleanup?.();
    });

    it('keeps one pending tick while busy (overlap: bufferOne)', async () => {
      const { clock, h } = await setup();
      const ticks: Array<{ at: number; scheduledAt: number }> = [];
      h.scheduler.add(spec({ overlap: 'bufferOne' }), async (t) => {
        ticks.push({ at: clock.now(), scheduledAt: t.scheduledAt });
        if (ticks.length === 1) await clock.sleep(40 * MIN);
      });
      await h.scheduler.start();
      await clock.advance(60 * MIN);
      await h.scheduler.stop();
      // 00:15 runs until 00:55; 00:30 is dropped for 00:45, which runs at 00:55; 01:00 on time.
      expect(ticks.map((t) => t.scheduledAt)).toEqual([start + 15 * MIN, start + 45 * MIN, start + 60 * MIN]);
      expect(ticks[1]!.at).toBe(start + 55 * MIN);
      await h.cleanup?.();
    });

    it('makes up once for occurrences missed while down', async () => {
      const { clock, saved, h } = await setup({ lastTick: start - 3 * 60 * MIN });
      const ticks: Tick[] = [];
      h.scheduler.add(spec(), async (t) => void ticks.push(t));
      await h.scheduler.start();
      expect(ticks).toHaveLength(1);
      expect(ticks[0]).toMatchObject({ catchUp: true, scheduledAt: start });
      expect(saved.get('job')).toBe(start);
      await clock.advance(15 * MIN);
      expect(ticks).toHaveLength(2);
      expect(ticks[1]).toMatchObject({ catchUp: false, scheduledAt: start + 15 * MIN });
      await h.scheduler.stop();
      await h.cleanup?.();
    });

    it('does not catch up when nothing was missed', async () => {
      const { h } = await setup({ lastTick: start });
      const ticks: Tick[] = [];
      h.scheduler.add(spec(), async (t) => void ticks.push(t));
      await h.scheduler.start();
      expect(ticks).toHaveLength(0);
      await h.scheduler.stop();
      await h.cleanup?.();
    });

    it('fires only while leading', async () => {
      let leading = false;
      const { clock, skips, h } = await setup({ isLeader: () => leading });
      const ticks: number[] = [];
      h.scheduler.add(spec(), async (t) => void ticks.push(t.scheduledAt));
      await h.scheduler.start();
      await clock.advance(30 * MIN);
      leading = true;
      await clock.advance(30 * MIN);
      await h.scheduler.stop();
      expect(ticks).toEqual([start + 45 * MIN, start + 60 * MIN]);
      expect(skips).toEqual(['not-leader', 'not-leader']);
      await h.cleanup?.();
    });

    it('honours seconds fields and time zones', async () => {
      const { clock, h } = await setup();
      const ticks: number[] = [];
      h.scheduler.add(spec({ cron: '*/20 * * * * *' }), async (t) => void ticks.push(t.scheduledAt));
      h.scheduler.add(spec({ id: 'tz', cron: '0 9 * * *', timezone: 'Asia/Singapore' }), async (t) => void ticks.push(t.scheduledAt));
      await h.scheduler.start();
      await clock.advance(MIN);
      expect(ticks).toEqual([start + 20_000, start + 40_000, start + 60_000]);
      expect(h.scheduler.nextTick('tz')).toBe(Date.UTC(2026, 10, 28, 1, 0, 0));
      await h.scheduler.stop();
      await h.cleanup?.();
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function realClockSchedulerConformance(name: string, factory: (input: SchedulerFactoryInput) => Promise<SchedulerHarness>): void {
  describe(`Scheduler conformance (real clock): ${name}`, () => {
    const setup = async (opts: { lastTick?: number } = {}) => {
      const saved = new Map<string, number>();
      if (opts.lastTick !== undefined) saved.set('job', opts.lastTick);
      const skips: string[] = [];
      const h = await factory({
        clock: createVirtualClock({ start: Date.now() }),
        persistence: { readLastTick: async (id) => saved.get(id), writeLastTick: async (id, at) => void saved.set(id, at) },
        onSkip: (_tick, reason) => skips.push(reason),
      });
      return { saved, skips, h };
    };
    const startOfUtcDay = (at: number) => at - (at % 86_400_000);

    it('fires once per occurrence, at the occurrence', async () => {
      const { h } = await setup();
      const ticks: Tick[] = [];
      h.scheduler.add(spec({ cron: '* * * * * *' }), async (t) => void ticks.push(t));
      await h.scheduler.start();
      await sleep(4_500);
      await h.scheduler.stop();
      const at = ticks.map((t) => t.scheduledAt).sort((a, b) => a - b);
      expect(at.length).toBeGreaterThanOrEqual(3);
      expect(new Set(at).size).toBe(at.length);
      expect(at.every((x, i) => x % 1_000 === 0 && (i === 0 || x - at[i - 1]! === 1_000))).toBe(true);
      expect(ticks.every((t) => t.firedAt >= t.scheduledAt && !t.catchUp && !t.manual)).toBe(true);
      await h.cleanup?.();
    });

    it('goes on firing after a handler throws', async () => {
      const { h } = await setup();
      const ticks: number[] = [];
      h.scheduler.add(spec({ cron: '* * * * * *' }), async (t) => {
        ticks.push(t.scheduledAt);
        if (ticks.length === 1) throw new Error('handler bug');
      });
      await h.scheduler.start();
      await sleep(3_500);
      await h.scheduler.stop();
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      await h.cleanup?.();
    });

    it('reports next and last occurrences', async () => {
      const { h } = await setup();
      h.scheduler.add(spec({ cron: '*/2 * * * * *' }), async () => {});
      await h.scheduler.start();
      const next = h.scheduler.nextTick('job')!;
      expect(next % 2_000).toBe(0);
      expect(next).toBeGreaterThan(Date.now());
      expect(next - Date.now()).toBeLessThanOrEqual(2_000);
      await sleep(next - Date.now() + 700);
      expect(h.scheduler.lastTick('job')).toBe(next);
      expect(h.scheduler.nextTick('job')).toBe(next + 2_000);
      await h.scheduler.stop();
      await h.cleanup?.();
    });

    it('skips an occurrence that fires while the previous tick still runs (overlap: skip)', async () => {
      const { skips, h } = await setup();
      const runs: Array<{ start: number; end: number }> = [];
      h.scheduler.add(spec({ cron: '* * * * * *' }), async () => {
        const start = Date.now();
        await sleep(1_600);
        runs.push({ start, end: Date.now() });
      });
      await h.scheduler.start();
      await sleep(4_300);
      await h.scheduler.stop();
      expect(skips.filter((r) => r === 'overlap').length).toBeGreaterThanOrEqual(1);
      runs.sort((a, b) => a.start - b.start);
      expect(runs.every((r, i) => i === 0 || r.start >= runs[i - 1]!.end - 50)).toBe(true);
      await h.cleanup?.();
    });

    it('keeps one pending tick while busy and runs it next (overlap: bufferOne)', async () => {
      const { h } = await setup();
      const runs: Array<{ scheduledAt: number; start: number; end: number }> = [];
      h.scheduler.add(spec({ cron: '* * * * * *', overlap: 'bufferOne' }), async (t) => {
        const start = Date.now();
        await sleep(1_500);
        runs.push({ scheduledAt: t.scheduledAt, start, end: Date.now() });
      });
      await h.scheduler.start();
      await sleep(6_500);
      await h.scheduler.stop();
      runs.sort((a, b) => a.start - b.start);
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(runs.every((r, i) => i === 0 || r.start >= r.scheduledAt && r.start >= runs[i - 1]!.end - 50)).toBe(true);
      // A buffered tick ran when the one before it ended, not on its own beat.
      expect(runs.some((r) => r.start - r.scheduledAt > 300)).toBe(true);
      await h.cleanup?.();
    });

    it('makes up once for occurrences missed while down', async () => {
      const { saved, h } = await setup({ lastTick: Date.now() - 3 * 86_400_000 });
      const ticks: Tick[] = [];
      h.scheduler.add(spec({ cron: '0 0 * * *' }), async (t) => void ticks.push(t));
      await h.scheduler.start();
      await sleep(1_500);
      await h.scheduler.stop();
      const midnight = startOfUtcDay(Date.now());
      expect(ticks).toHaveLength(1);
      expect(ticks[0]).toMatchObject({ catchUp: true, scheduledAt: midnight });
      expect(saved.get('job')).toBe(midnight);
      await h.cleanup?.();
    });

    it('does not catch up when nothing was missed', async () => {
      const { h } = await setup({ lastTick: startOfUtcDay(Date.now()) });
      const ticks: Tick[] = [];
      h.scheduler.add(spec({ cron: '0 0 * * *' }), async (t) => void ticks.push(t));
      await h.scheduler.start();
      await sleep(1_000);
      await h.scheduler.stop();
      expect(ticks).toHaveLength(0);
      await h.cleanup?.();
    });

    it('honours time zones', async () => {
      const { h } = await setup();
      h.scheduler.add(spec({ id: 'tz', cron: '0 9 * * *', timezone: 'Asia/Singapore' }), async () => {});
      await h.scheduler.start();
      const next = h.scheduler.nextTick('tz')!;
      // 09:00 in Singapore (UTC+8, no DST) is 01:00 UTC, within the next day.
      expect(new Date(next).getUTCHours()).toBe(1);
      expect(next % 3_600_000).toBe(0);
      expect(next - Date.now()).toBeGreaterThan(0);
      expect(next - Date.now()).toBeLessThanOrEqual(86_400_000);
      await h.scheduler.stop();
      await h.cleanup?.();
    });
  });
}
