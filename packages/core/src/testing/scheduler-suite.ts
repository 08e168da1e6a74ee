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

/** The Scheduler contract as one vitest suite, on a virtual clock. */
export function schedulerConformance(name: string, factory: (input: SchedulerFactoryInput) => Promise<SchedulerHarness>): void {
  describe(`Scheduler conformance: ${name}`, () => {
    const start = Date.UTC(2026, 10, 28, 0, 0, 0);
    const setup = async (opts: { lastTick?: number; isLeader?: () => boolean } = {}) => {
      const clock = createVirtualClock({ start });
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
