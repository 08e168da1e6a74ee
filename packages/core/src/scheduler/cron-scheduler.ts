import { z } from 'zod';
import type { Clock, TimerHandle } from '../contracts/clock.js';
import type { Logger } from '../contracts/logger.js';
import { safeLogger } from '../contracts/logger.js';
import { safeCallback } from '../util/safe-callback.js';
import type { ScheduleSpec, Scheduler, Tick, TickHandler } from '../contracts/scheduler.js';
import { createSystemClock } from '../clock/system-clock.js';
import { errorMessage } from '../errors.js';
import { fn, implementing, parseOptions } from '../util/options.js';
import { parseCron, type CronSchedule } from './cron.js';

/** Where the scheduler keeps each schedule's last fired occurrence (any Store satisfies it). */
export interface LastTickPersistence {
  readLastTick(scheduleId: string): Promise<number | undefined>;
  writeLastTick(scheduleId: string, at: number): Promise<void>;
}

export type TickSkipReason = 'overlap' | 'not-leader';

const optionsSchema = z.object({
  clock: implementing<Clock>('a Clock', ['now', 'setTimer', 'sleep']).optional(),
  persistence: implementing<LastTickPersistence>('a last-tick store', ['readLastTick', 'writeLastTick']).optional(),
  /** When set, a tick fires only if this answers true at that moment. */
  isLeader: fn<() => boolean | Promise<boolean>>().optional(),
  logger: implementing<Logger>('a Logger', ['debug', 'info', 'warn', 'error']).optional(),
  onSkip: fn<(tick: Tick, reason: TickSkipReason) => void>().optional(),
  onError: fn<(error: unknown, tick: Tick) => void>().optional(),
  /** Source of randomness for jitter (tests pin it). */
  random: fn<() => number>().optional(),
});

export type CronSchedulerOptions = z.input<typeof optionsSchema>;

interface Entry {
  spec: ScheduleSpec;
  cron: CronSchedule;
  handler: TickHandler;
  timer: TimerHandle | undefined;
  next: number | undefined;
  last: number | undefined;
  running: boolean;
  pending: Tick | undefined;
}

/** The in-process Scheduler on cron-parser. */
export function createCronScheduler(options: CronSchedulerOptions = {}): Scheduler & {
  /** Fire a schedule now, outside its cron (manual trigger); obeys the overlap policy. */
  fire(id: string): Promise<void>;
} {
  const o = parseOptions('cron scheduler options', optionsSchema, options);
  const clock = o.clock ?? createSystemClock();
  const log = safeLogger(o.logger);
  const onSkip = safeCallback('onSkip', o.onSkip, log);
  const onError = safeCallback('onError', o.onError, log);
  const random = o.random ?? Math.random;
  const entries = new Map<string, Entry>();
  let started = false;
  /** Bumped by every start and stop: a start's slow catch-up finds out whether it still counts. */
  let generations = 0;

  /** `after`: the occurrence that just fired, when re-arming from its timer (see below). */
  const arm = (e: Entry, after?: number) => {
    e.timer?.cancel();
    e.timer = undefined;
    // A start that finished after a stop (its catch-up read was slow) must not arm anything.
    if (!started) return;
    // From the occurrence that fired, not from now: with a jitter longer than the gap between two
    // occurrences, now is already past the next one, which would be skipped. But only while the
    // timer fired about when it was due: after a stall (a suspended host, a blocked event loop)
    // counting from the old occurrence would fire every missed one back to back.
    const now = clock.now();
    const from = after !== undefined && now - after < e.spec.jitterMs + e.cron.periodMs ? after : now;
    // Never before the last fired occurrence: a timer that fires a hair early must not re-fire it.
    const occurrence = e.cron.next(Math.max(from, e.last ?? Number.NEGATIVE_INFINITY));
    e.next = occurrence;
    const jitter = e.spec.jitterMs > 0 ? Math.floor(random() * e.spec.jitterMs) : 0;
    e.timer = clock.setTimer(() => {
      if (clock.now() < occurrence) return void arm(e);
      // Re-arm first: the next occurrence must be seen even while this handler still runs,
      // or the overlap policy could never apply.
      arm(e, occurrence);
      void fire(e, { scheduledAt: occurrence, catchUp: false, manual: false });
    }, Math.max(0, occurrence + jitter - clock.now()));
  };

  const fire = async (e: Entry, at: { scheduledAt: number; catchUp: boolean; manual: boolean }) => {
    const tick: Tick = { schedule: e.spec.id, firedAt: clock.now(), ...at };
    // A stopped scheduler fires nothing of its own (a catch-up whose read outlived the stop).
    if (!at.manual && !started) return;
    if (o.isLeader) {
      let leads = false;
      try {
        leads = await o.isLeader();
      } catch (err) {
        log.warn({ schedule: e.spec.id, err: errorMessage(err) }, 'leadership check failed; not firing');
      }
      if (!leads) return void onSkip(tick, 'not-leader');
      if (!at.manual && !started) return;
    }
    if (!at.manual) e.last = Math.max(e.last ?? 0, at.scheduledAt);
    if (e.running) {
      if (e.spec.overlap === 'bufferOne') {
        // One buffered at most: the one it replaces is skipped, and said so.
        if (e.pending) onSkip(e.pending, 'overlap');
        e.pending = tick;
      } else onSkip(tick, 'overlap');
      return;
    }
    e.running = true;
    try {
      for (let current: Tick | undefined = tick; current; current = e.pending) {
        e.pending = undefined;
        await run(e, current);
      }
    } finally {
      e.running = false;
    }
  };

  const run = async (e: Entry, tick: Tick) => {
    if (!tick.manual && o.persistence) {
      // Persisted before the handler runs: a crash mid-handler is not replayed as a catch-up, so
      // catch-up fires at most once per missed occurrence.
      try {
        await o.persistence.writeLastTick(e.spec.id, tick.scheduledAt);
      } catch (err) {
        log.warn({ schedule: e.spec.id, err: errorMessage(err) }, 'could not persist last tick');
      }
    }
    try {
      await e.handler(tick);
    } catch (err) {
      log.error({ schedule: e.spec.id, err: errorMessage(err) }, 'tick handler failed');
      onError(err, tick);
    }
  };

  const catchUp = async (e: Entry) => {
    if (!e.spec.catchUp || !o.persistence) return;
    let last: number | undefined;
    try {
      last = await o.persistence.readLastTick(e.spec.id);
    } catch (err) {
      log.warn({ schedule: e.spec.id, err: errorMessage(err) }, 'could not read last tick; no catch-up');
      return;
    }
    if (last === undefined) return;
    e.last = Math.max(e.last ?? 0, last);
    const now = clock.now();
    if (e.cron.next(last) > now) return;
    // However many occurrences were missed, make up for the latest one, once.
    await fire(e, { scheduledAt: e.cron.prev(now + 1), catchUp: true, manual: false });
  };

  return {
    add(spec, handler) {
      if (entries.has(spec.id)) throw new Error(`schedule "${spec.id}" is already added`);
      const e: Entry = {
        spec,
        cron: parseCron(spec.cron, spec.timezone),
        handler,
        timer: undefined,
        next: undefined,
        last: undefined,
        running: false,
        pending: undefined,
      };
      entries.set(spec.id, e);
      if (started) void catchUp(e).finally(() => started && entries.get(spec.id) === e && arm(e));
      else e.next = e.cron.next(clock.now());
    },

    remove(id) {
      const e = entries.get(id);
      e?.timer?.cancel();
      entries.delete(id);
    },

    async start() {
      if (started) return;
      started = true;
      const generation = ++generations;
      await Promise.all([...entries.values()].map((e) => catchUp(e)));
      // Stopped (and maybe started again) while catching up: that stop, or the newer start, decides.
      if (generation !== generations) return;
      for (const e of entries.values()) arm(e);
    },

    async stop() {
      started = false;
      generations++;
      // A tick buffered behind a running one is dropped: it would plan after the stop.
      for (const e of entries.values()) e.pending = undefined;
      for (const e of entries.values()) {
        e.timer?.cancel();
        e.timer = undefined;
      }
    },

    nextTick: (id) => entries.get(id)?.next,
    lastTick: (id) => entries.get(id)?.last,

    async fire(id) {
      const e = entries.get(id);
      if (!e) throw new Error(`unknown schedule "${id}"`);
      const now = clock.now();
      await fire(e, { scheduledAt: now, catchUp: false, manual: true });
    },
  };
}
