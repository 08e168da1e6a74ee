/**
 * The Scheduler contract on BullMQ Job Schedulers, shared by every instance naming the same ticks
 * queues (`<name>.<schedule id>`: one per schedule).
 *
 * Guarantees:
 * - **One tick per occurrence across all instances**: each schedule is a BullMQ Job Scheduler
 *   (cron pattern and IANA time zone, seconds field allowed); BullMQ creates one job per occurrence
 *   and exactly one instance's worker processes it. Every instance registers the same handlers, so
 *   it does not matter which one runs a tick. Each schedule has its own ticks queue, so only the
 *   instances that have a schedule take its ticks (during a rolling deploy that adds a job, the
 *   ones already updated). A tick is never completed unrun: an instance that is stopping, or
 *   drops the schedule, gives a tick it fetched back to the queue for another instance (or the
 *   deployment's next start).
 * - **Occurrence time**: `scheduledAt` is the occurrence BullMQ scheduled (from the job id), not
 *   the moment a worker picked it up. Occurrences are core's (`parseCron`, given to BullMQ as its
 *   repeat strategy), so across DST changes they are the in-process scheduler's, none lost.
 * - A tick's own checks (overlap, catch-up) that fail on the backend are reported to `onError`
 *   and the tick is handed back to be tried again a second later, never dropped. A `start()` that
 *   failed leaves nothing open and can be called again.
 * - **Catch-up**: when every instance was down, the occurrence BullMQ had scheduled stays queued
 *   and fires once when the first instance returns, marked `catchUp` (at most one: of two due
 *   occurrences — a tick given back at the last shutdown and the one scheduled after it — only
 *   the later fires). An instance starting never re-creates an unchanged schedule, which
 *   would drop that pending occurrence. With `persistence` (the Store), a schedule new to BullMQ
 *   whose last tick is older than its previous occurrence also fires once, deduplicated by a job
 *   id so several instances starting together fire it once.
 * - **Overlap**: ticks of one schedule run one at a time across all instances, in occurrence
 *   order. While one runs, a new one is skipped (`skip`) or waits for it (`bufferOne`: at most one
 *   waiting across all instances; a tick that finds one already waiting is skipped).
 * - `catchUp: false` drops an occurrence that fires more than `lateAfterMs` late.
 * - Handlers' errors go to `onError`; a tick job never fails or retries in BullMQ.
 * - Leadership is BullMQ's: `isLeader` is not consulted.
 * - **Start-up plans** run only on the instance that created the schedule in BullMQ (the first of
 *   a deployment, or the first after a cadence changed); instances joining a running deployment
 *   leave the keys to its ticks.
 */
import { DelayedError, type Job, type Queue as BullQueue, type Worker } from 'bullmq';
import { z } from 'zod';
import {
  errorMessage,
  functionOption,
  implementsOption,
  parseCron,
  parseOptions,
  safeCallback,
  safeLogger,
  type CronSchedule,
  type LastTickPersistence,
  type Logger,
  type Scheduler,
  type ScheduleSpec,
  type Tick,
  type TickHandler,
} from '@tidesync/core';
import { idSafe } from './bullmq-queue.js';
import type { Backend } from './connection.js';

const optionsSchema = z.object({
  /** Names the shared ticks queues (one per schedule, `<name>.<schedule id>`); instances of one deployment use the same name. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, 'letters, digits, "_", "." and "-" only (BullMQ reserves ":")'),
  /** A tick processed later than this after its occurrence counts as a catch-up. */
  lateAfterMs: z.number().int().positive().default(60_000),
  persistence: implementsOption<LastTickPersistence>('a last-tick store', ['readLastTick', 'writeLastTick']).optional(),
  logger: implementsOption<Logger>('a Logger', ['debug', 'info', 'warn', 'error']).optional(),
  onSkip: functionOption<(tick: Tick, reason: 'overlap' | 'missed') => void>().optional(),
  onError: functionOption<(error: unknown, tick: Tick) => void>().optional(),
  random: functionOption<() => number>().optional(),
  /** How often a buffered tick checks whether the running one has finished elsewhere. */
  pollMs: z.number().int().positive().default(250),
});

export type BullMQSchedulerOptions = z.input<typeof optionsSchema>;

interface Entry {
  spec: ScheduleSpec;
  cron: CronSchedule;
  handler: TickHandler;
  running: number;
  buffered: boolean;
  last: number | undefined;
  /** The schedule's own ticks queue and this instance's worker on it, while started. */
  ticks?: BullQueue;
  worker?: Worker;
  /** Its opening under way: a close waits for it, or the worker it creates would outlive the close. */
  opening?: Promise<void>;
}

/**
 * BullMQ's next occurrence, from core's cron (`parseCron`), not BullMQ's own parse: that one loses
 * occurrences a spring-forward gap moves (`0,30 2 * * *` in New York loses 02:30; a 30-minute gap
 * loses the day), which core places. BullMQ computes the next occurrence where it creates the next
 * job, on the queue and on the worker, so both get it. Parsed schedules are kept per pattern.
 */
export function cronRepeatStrategy(): (millis: number, opts: { pattern?: string; tz?: string }) => number | undefined {
  const parsed = new Map<string, CronSchedule>();
  return (millis, opts) => {
    if (opts.pattern === undefined) return undefined;
    const key = `${opts.tz ?? 'UTC'} ${opts.pattern}`;
    let cron = parsed.get(key);
    if (!cron) parsed.set(key, (cron = parseCron(opts.pattern, opts.tz ?? 'UTC')));
    return cron.next(millis);
  };
}

const CATCH_UP_PREFIX = 'catchup~';
/** The progress a tick job reports while its handler runs. */
const RUNNING = 1;

/**
 * The occurrence a tick job stands for: BullMQ names scheduler jobs `repeat:<scheduler>:<millis>`,
 * and catch-up jobs are `catchup~<schedule>~<millis>`.
 */
const occurrenceOf = (job: Job): number | undefined => {
  const match = /[:~](\d+)$/.exec(job.id ?? '');
  return match ? Number(match[1]) : undefined;
};

export function createBullMQScheduler(backend: Backend, options: BullMQSchedulerOptions): Scheduler {
  const o = parseOptions('BullMQ scheduler options', optionsSchema, options);
  // Logged in a tick's error path: a logger that throws must not fail the tick or skip `onError`.
  const log = safeLogger(o.logger);
  const onSkip = safeCallback('onSkip', o.onSkip, log);
  const onError = safeCallback('onError', o.onError, log);
  const random = o.random ?? Math.random;
  const entries = new Map<string, Entry>();
  let started = false;
  let stopping = false;
  // One ticks queue per schedule, so that only instances that have a schedule take its ticks
  // (with one queue for all, an instance without it — a rolling deploy adding a job — would get
  // ticks it cannot run).
  const queueName = (id: string) => `${o.name}.${idSafe(id)}`;
  const inFlight = new Set<Promise<void>>();
  /** Schedules this instance created in BullMQ: the deployment starts with it, so it runs the start-up plans. */
  const createdHere = new Set<string>();

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const settings = { repeatStrategy: cronRepeatStrategy() };
  /** How long a tick whose bookkeeping failed (the backend away) waits before it is tried again. */
  const BOOKKEEPING_RETRY_MS = 1_000;

  /**
   * What stands before a tick of `schedule` (occurrence `mine`, job `self`), across all instances:
   * a tick running (marked through its BullMQ progress), or an earlier tick still waiting to run.
   * Ticks run in occurrence order, so two waiting ticks never wait on each other.
   */
  const ahead = async (e: Entry, self: string, mine: number): Promise<{ blocked: boolean; waiterAhead: boolean }> => {
    let running = e.running > 0;
    let waiterAhead = false;
    for (const j of await e.ticks!.getActive()) {
      if (!j || j.id === self) continue;
      if (j.progress === RUNNING) running = true;
      else {
        const theirs = occurrenceOf(j) ?? 0;
        // An earlier catch-up gives way to a later occurrence that is due (see `laterOneDue`):
        // waiting for it, both would be dropped.
        const givesWay = theirs < mine && mine <= Date.now() && (j.id?.startsWith(CATCH_UP_PREFIX) === true || (j.processedOn ?? 0) - theirs > o.lateAfterMs);
        if (!givesWay && (theirs < mine || (theirs === mine && j.id! < self))) waiterAhead = true;
      }
    }
    return { blocked: running || waiterAhead, waiterAhead };
  };

  const fire = async (e: Entry, tick: Tick) => {
    e.running++;
    try {
      if (e.spec.jitterMs > 0) await sleep(Math.floor(random() * e.spec.jitterMs));
      e.last = Math.max(e.last ?? 0, tick.scheduledAt);
      await o.persistence?.writeLastTick(e.spec.id, tick.scheduledAt).catch((err) => log.warn({ err: errorMessage(err) }, 'could not record the last tick'));
      await e.handler(tick);
    } catch (err) {
      log.error({ schedule: e.spec.id, err: errorMessage(err) }, 'tick handler failed');
      onError(err, tick);
    } finally {
      e.running--;
    }
  };

  /**
   * Gives a tick job back to the queue for another instance (BullMQ's way out of a processor
   * without completing the job): a tick completed here unrun would be lost for every instance.
   */
  const handBack = async (job: Job, token: string | undefined, delayMs: number): Promise<never> => {
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  };

  /**
   * Whether a later occurrence of `schedule` than `mine` is also due and waiting: then that one is
   * the catch-up (a tick handed back at a deployment's last shutdown leaves two, and only one
   * may fire).
   */
  const laterOneDue = async (e: Entry, self: string, mine: number): Promise<boolean> => {
    // This instance already ran a later one.
    if (e.last !== undefined && e.last > mine) return true;
    const now = Date.now();
    for (const j of await e.ticks!.getJobs(['wait', 'delayed', 'prioritized', 'active'])) {
      if (!j || j.id === self) continue;
      const theirs = occurrenceOf(j);
      if (theirs !== undefined && theirs > mine && theirs <= now) return true;
    }
    return false;
  };

  /**
   * A tick's checks (overlap, catch-up) and its hand-backs talk to the backend. One that fails (the
   * server away a moment) must not fail the job — BullMQ would delete it and the occurrence would
   * be lost without a word: it is reported and the tick handed back to be tried again shortly.
   */
  const processTickSafely = async (e: Entry, job: Job, token: string | undefined): Promise<void> => {
    try {
      await processTick(e, job, token);
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      const scheduledAt = occurrenceOf(job) ?? Date.now();
      log.warn({ schedule: e.spec.id, err: errorMessage(err) }, 'a tick could not be checked against the others; trying it again shortly');
      onError(err, { schedule: e.spec.id, scheduledAt, firedAt: Date.now(), catchUp: false, manual: false });
      await handBack(job, token, BOOKKEEPING_RETRY_MS);
    }
  };

  const processTick = async (e: Entry, job: Job, token: string | undefined): Promise<void> => {
    const firedAt = Date.now();
    const scheduledAt = occurrenceOf(job) ?? firedAt;
    // Fetched while this instance stops, or drops the schedule: another instance (or this
    // deployment's next start) runs it.
    if (stopping || entries.get(e.spec.id) !== e) await handBack(job, token, 0);
    const isCatchUp = job.id?.startsWith(CATCH_UP_PREFIX) === true || firedAt - scheduledAt > o.lateAfterMs;
    const tick: Tick = { schedule: e.spec.id, scheduledAt, firedAt, catchUp: isCatchUp, manual: false };
    if (isCatchUp && (!e.spec.catchUp || (await laterOneDue(e, job.id ?? '', scheduledAt)))) {
      onSkip(tick, 'missed');
      return;
    }
    const self = job.id ?? '';
    const seen = await ahead(e, self, scheduledAt);
    if (seen.blocked) {
      // bufferOne keeps one tick waiting across all instances; the rest are dropped.
      if (e.spec.overlap === 'skip' || e.buffered || seen.waiterAhead) {
        onSkip(tick, 'overlap');
        return;
      }
      e.buffered = true;
      try {
        while (!stopping && (await ahead(e, self, scheduledAt)).blocked) await sleep(o.pollMs);
      } finally {
        e.buffered = false;
      }
      if (stopping) await handBack(job, token, 0);
    }
    // Marked running for the other instances' overlap checks (a waiting tick is active too).
    await job.updateProgress(RUNNING).catch(() => {});
    await fire(e, { ...tick, firedAt: Date.now() });
  };

  /** Create or update the BullMQ Job Scheduler, unless an identical one is already pending. */
  const ensure = async (e: Entry) => {
    const existing = await e.ticks!.getJobScheduler(e.spec.id);
    const same = existing && existing.pattern === e.spec.cron && (existing.tz ?? 'UTC') === e.spec.timezone;
    // Read before the schedule is created: a read that fails then fails the start, which can be
    // tried again with the schedule still absent (created first, the catch-up would be lost).
    const last = !existing && e.spec.catchUp && o.persistence ? await o.persistence.readLastTick(e.spec.id) : undefined;
    // The catch-up is added before the schedule too, for the same reason. A job id per occurrence:
    // instances starting together add it once; kept a day once done, so an instance that read the
    // last tick before the catch-up ran, and adds it after, adds nothing.
    if (!existing && last !== undefined) {
      const previous = e.cron.prev(Date.now());
      if (last < previous) {
        await e.ticks!.add(e.spec.id, { schedule: e.spec.id }, { jobId: `${CATCH_UP_PREFIX}${idSafe(e.spec.id)}~${previous}`, removeOnComplete: { age: 86_400 }, removeOnFail: true });
      }
    }
    if (!same) {
      try {
        // New to BullMQ, or its cadence changed: the deployment's keys follow this instance's plan.
        createdHere.add(e.spec.id);
        await e.ticks!.upsertJobScheduler(
          e.spec.id,
          { pattern: e.spec.cron, tz: e.spec.timezone },
          { name: e.spec.id, data: { schedule: e.spec.id }, opts: { removeOnComplete: true, removeOnFail: true } },
        );
      } catch (err) {
        // Instances starting together race to create it; losing that race is fine.
        createdHere.delete(e.spec.id);
        const now = await e.ticks!.getJobScheduler(e.spec.id);
        if (!now || now.pattern !== e.spec.cron) throw err;
      }
    }
  };

  /** Opens the schedule's ticks queue, creates its BullMQ Job Scheduler if needed, and starts taking its ticks. */
  const open = (e: Entry): Promise<void> => (e.opening = openNow(e));
  const openNow = async (e: Entry) => {
    const name = queueName(e.spec.id);
    e.ticks = backend.newQueue(name, { settings });
    await e.ticks.waitUntilReady();
    await ensure(e);
    // Removed (or the scheduler stopped) while it opened: no worker, its close is waiting.
    if (entries.get(e.spec.id) !== e || stopping) return;
    e.worker = backend.newWorker(
      name,
      async (job: Job, token?: string) => {
        const run = processTickSafely(e, job, token);
        inFlight.add(run);
        try {
          await run;
        } finally {
          inFlight.delete(run);
        }
      },
      // A running tick and one waiting behind it (bufferOne), and room for ticks that skip.
      { concurrency: 4, lockDuration: 60_000, settings },
    );
    await e.worker.waitUntilReady();
  };

  /** Stops taking the schedule's ticks (waiting for those running here), then closes its queue. */
  const close = async (e: Entry) => {
    await e.opening?.catch(() => {});
    const { worker, ticks } = e;
    e.worker = undefined;
    await worker?.close();
    await ticks?.close();
    if (e.ticks === ticks) e.ticks = undefined;
  };

  const opening = (e: Entry) => open(e).catch((err) => log.error({ schedule: e.spec.id, err: errorMessage(err) }, 'could not create the schedule'));

  return {
    add(spec, handler) {
      if (entries.has(spec.id)) throw new Error(`schedule "${spec.id}" is already added`);
      const entry: Entry = { spec, cron: parseCron(spec.cron, spec.timezone), handler, running: 0, buffered: false, last: undefined };
      entries.set(spec.id, entry);
      if (started && !stopping) void opening(entry);
    },

    remove(id) {
      const e = entries.get(id);
      entries.delete(id);
      // This instance stops taking its ticks; other instances may still run it. Removing it from
      // BullMQ is the deployment's decision (`removeBullMQSchedule`), so a rolling restart with a
      // job dropped does not need every instance to agree first.
      if (e) void close(e).catch((err) => log.warn({ schedule: id, err: errorMessage(err) }, 'could not close the schedule'));
    },

    async start() {
      if (started) return;
      started = true;
      stopping = false;
      try {
        for (const e of entries.values()) await open(e);
      } catch (err) {
        // Nothing half started stays behind, and a later start tries again from the beginning.
        await Promise.allSettled([...entries.values()].map((e) => close(e)));
        started = false;
        throw err;
      }
    },

    async stop() {
      stopping = true;
      // Closing the workers stops fetching at once and waits for the ticks running here; a tick
      // fetched just before, or waiting behind a running one, goes back to the queue (see
      // processTick), never completed unrun.
      const all = [...entries.values()];
      await Promise.all(all.map((e) => e.opening?.catch(() => {})));
      await Promise.all(all.map(async (e) => e.worker?.close()));
      await Promise.allSettled([...inFlight]);
      await Promise.all(all.map((e) => close(e)));
      started = false;
    },

    shouldRunOnStart(id) {
      return createdHere.has(id);
    },

    nextTick(id) {
      const e = entries.get(id);
      return e ? e.cron.next(Date.now()) : undefined;
    },

    lastTick(id) {
      return entries.get(id)?.last;
    },
  };
}

/**
 * Remove a schedule from BullMQ for every instance (for when a job is retired for good): `name` is
 * the scheduler's `name` option. Also removes it from the single ticks queue that versions before
 * per-schedule queues used, where it would otherwise stay as one pending job.
 */
export async function removeBullMQSchedule(backend: Backend, name: string, id: string): Promise<void> {
  for (const queueName of [`${name}.${idSafe(id)}`, name]) {
    const ticks = backend.newQueue(queueName);
    try {
      await ticks.removeJobScheduler(id);
    } finally {
      await ticks.close();
    }
  }
}
