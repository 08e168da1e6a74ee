import PQueue from 'p-queue';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Clock } from '../contracts/clock.js';
import { safeLogger } from '../contracts/logger.js';
import type { Queue } from '../contracts/queue.js';
import type { RateLimiter, RateLimiterUsage } from '../contracts/rate-limiter.js';
import type { Scheduler, Tick } from '../contracts/scheduler.js';
import type { Source } from '../contracts/source.js';
import type { Store } from '../contracts/store.js';
import type { QueuedTask } from '../contracts/task.js';
import { createSystemClock } from '../clock/system-clock.js';
import { createSlidingWindowLimiter } from '../limiter/sliding-window-limiter.js';
import { createMemoryQueue } from '../queue/memory-queue.js';
import { createCronScheduler } from '../scheduler/cron-scheduler.js';
import { parseCron, type CronSchedule } from '../scheduler/cron.js';
import {
  AbortedError,
  PayloadInvalidError,
  PermanentError,
  RateLimitedError,
  SyncConfigError,
  SyncError,
  errorMessage,
  isAbortError,
  isStoreRejection,
  type SyncErrorCode,
} from '../errors.js';
import { TypedEmitter } from '../util/emitter.js';
import { parseOptions } from '../util/options.js';
import { isoTime } from '../util/time.js';
import type { SyncEvents } from './events.js';
import { planCapacity, type CapacityReport } from './capacity.js';
import { KeyBook } from './key-book.js';
import { duplicateJobNames, engineSchema, jobSchema, type JobDefinition, type ResolvedJob, type SyncEngineOptions } from './options.js';
import { backoffDelay, rateLimitThaw } from './retry.js';
import { BatchWriter, type PendingWrite } from './writer.js';

export interface JobStatus {
  name: string;
  schedule: string;
  timezone: string;
  freshForMs: number;
  priority: number;
  paused: boolean;
  nextTickAt: number | undefined;
  lastTickAt: number | undefined;
  queued: number;
  inFlight: number;
  done: number;
  failed: number;
  retried: number;
  deadLettered: number;
  /** Keys this job covers now, how many are past their freshness target, and the worst lag. */
  freshness: { keys: number; stale: number; lagMs: number };
  /** Fetches that completed after their key's freshness deadline, since the engine was created. */
  deadlineMisses: number;
  /** When the latest of those happened (epoch ms), so a health check can look at recent misses only. */
  lastMissAt: number | undefined;
}

export interface EngineStatus {
  state: 'idle' | 'running' | 'stopping' | 'stopped';
  paused: boolean;
  jobs: JobStatus[];
  budget: RateLimiterUsage | undefined;
  deadLetters: number;
  pendingWrites: number;
}

export interface TriggerOptions {
  /**
   * Enqueue every covered key, fresh or not. Default true: a manual trigger means "fetch now". A
   * forced key keeps its freshness deadline: it is fetched in deadline order, and fetching it
   * early is not counted as a miss.
   */
  force?: boolean;
  /**
   * Keys whose stored data is gone — removed outside the engine (a record deleted and added back)
   * — though the engine still counts them fresh: before planning, it drops what it remembers of
   * their last success, so those the plan covers are due at once, like keys never fetched. Where
   * the Store offers `forgetKeys` (the memory and Postgres stores do), it drops their persisted
   * last success too, so a restart before they are fetched again still finds them due; with a
   * Store without it, a restart reads them as fresh. A key this instance is fetching (or writing)
   * is fetched once more when that write is done: the fetch may have started before the data was
   * gone. Each key is forgotten once per trigger, however many jobs cover it.
   */
  forget?: (key: string) => boolean;
}

export interface StopOptions {
  /** How long in-flight fetches may finish before they are aborted. Defaults to the engine's `drainMs`. */
  drainMs?: number;
}

export interface SyncEngine {
  /** Read the Store's pause state and dead letters, start the scheduler and dispatching. Calls made while one runs share it. */
  start(): Promise<void>;
  /**
   * Stop ticks, drain or abort fetches, flush writes. Called during a start, it makes the start
   * stop where it is (the engine does not come up), waiting for it at most `drainMs`. Returns
   * within `drainMs + stopTimeoutMs` even when a backend does not answer: steps still waiting then
   * are given up on and listed in the `stopped` event's `unfinished` (their fetches are not written).
   */
  stop(options?: StopOptions): Promise<void>;
  /**
   * Stop handing out work (of one job, or all); `force` also aborts in-flight fetches. Persisted
   * in the Store. When the Store cannot save it, the pause still takes effect here and in the
   * queue (force-abort and `paused` event included) and the promise then rejects with a
   * `STORE_FAILED` SyncError saying the pause is in effect but not stored (with an in-process
   * queue, a restart would not keep it). Any other rejection (the queue refused) means nothing changed.
   */
  pause(job?: string, options?: { force?: boolean }): Promise<void>;
  /** Hand out work again (of one job, or all). Persisted; a Store failure is reported as for `pause`. */
  resume(job?: string): Promise<void>;
  /** Abort in-flight fetches (of one job, or all) through their AbortSignal; they are re-queued. */
  abort(job?: string): Promise<number>;
  /** Plan a job (or every job) now. */
  trigger(job?: string, options?: TriggerOptions): Promise<void>;
  /** Add a job; allowed before or after `start`. */
  addJob(job: JobDefinition): void;
  status(): Promise<EngineStatus>;
  /**
   * Requests per day the jobs need (after coalescing and freshness skips) against what the budget
   * gives, per priority class, and which class will miss its target and by how much. Replays the
   * jobs' plans over simulated ticks from `from` (default now), averaged over `days` (default 7).
   */
  capacity(options?: { days?: number; from?: number }): Promise<CapacityReport>;
  on: TypedEmitter<SyncEvents>['on'];
  once: TypedEmitter<SyncEvents>['once'];
  off: TypedEmitter<SyncEvents>['off'];
}

interface JobRuntime {
  def: ResolvedJob;
  timezone: string;
  cron: CronSchedule;
  freshFor: number;
  priority: number;
  validate: StandardSchemaV1 | undefined;
  source: Source;
  counters: { done: number; failed: number; retried: number; deadLettered: number; misses: number; lastMissAt: number | undefined };
  lastTickAt: number | undefined;
}

type Wake = { promise: Promise<void>; resolve: () => void };

const newWake = (): Wake => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** Longest the dispatcher waits for ticks that are still planning before it spends budget. */
const PLANNING_SETTLE_MS = 1_000;
/** How long a task of a job this instance does not have waits before it is offered again: doubling per hand-back of the job, up to the maximum. */
const UNKNOWN_JOB_BACKOFF_MS = 30_000;
const UNKNOWN_JOB_MAX_BACKOFF_MS = 600_000;

const codeOf = (err: unknown): SyncErrorCode | 'UNKNOWN' => (err instanceof SyncError ? err.code : 'UNKNOWN');

/**
 * The engine: scheduler → queue → limiter → source → writer → store, one direction.
 *
 * Ticks plan keys; keys still fresh at the next covering tick are skipped, the rest are offered to
 * the queue (coalesced by key, deadline-first within priority). One dispatcher reserves budget,
 * then takes the most urgent task, so a task never holds a slot while waiting for budget behind a
 * less urgent one. Results are validated, batched and written atomically with their freshness.
 */
export function createSyncEngine<P = unknown, D = unknown>(options: SyncEngineOptions<P, D>): SyncEngine {
  const o = parseOptions('sync engine options', engineSchema, options, duplicateJobNames);
  const clock: Clock = o.clock ?? createSystemClock();
  const log = safeLogger(o.logger);
  const random = o.random ?? Math.random;
  const store = o.store as Store<unknown>;
  const queue = (o.queue ?? createMemoryQueue()) as Queue<unknown>;
  const limiter: RateLimiter | undefined =
    o.rateLimit === undefined
      ? undefined
      : 'acquire' in o.rateLimit
        ? o.rateLimit
        : createSlidingWindowLimiter({ ...o.rateLimit, clock });
  // A limiter the engine built is the engine's to release on stop; a shared one is its owner's.
  const ownsLimiter = limiter !== undefined && limiter !== o.rateLimit;
  // The store's lock, when the engine leads through it: released on stop, so a standby takes over
  // at once rather than when this instance's session (a pooled connection) goes.
  const storeLeaderLock = o.leadership === undefined ? store.capabilities?.leaderLock : undefined;
  const leadership =
    o.leadership === false ? undefined : (o.leadership ?? (storeLeaderLock ? { isLeader: () => storeLeaderLock.acquire() } : undefined));

  const events = new TypedEmitter<SyncEvents>((event, err) =>
    log.error({ event: String(event), err: errorMessage(err) }, 'event listener threw'),
  );
  const reportError = (where: string, err: unknown) => {
    log.error({ where, err: errorMessage(err) }, 'background failure');
    events.emit('error', { where, error: errorMessage(err) });
  };

  const scheduler: Scheduler =
    o.scheduler ??
    createCronScheduler({
      clock,
      persistence: store,
      isLeader: leadership?.isLeader,
      logger: o.logger,
      random,
      onSkip: (tick, reason) => events.emit('tick:skipped', { job: tick.schedule, tick, reason }),
      onError: (err, tick) => reportError(`plan:${tick.schedule}`, err),
    });

  const jobs = new Map<string, JobRuntime>();
  const book = new KeyBook((job, from, span) => jobs.get(job)?.cron.fallBackShift(from, span) ?? 0);
  const inFlight = new Map<string, { task: QueuedTask; controller: AbortController }>();
  /** Keys forgotten (`trigger({ forget })`) while this instance was fetching them: fetched again once written. */
  const refetchAfterWrite = new Set<string>();
  // One controller per job, shared by its in-flight fetches and replaced once aborted: aborts
  // always target a job (or all), and an AbortController per task is costly at 50k tasks/s.
  const controllers = new Map<string, AbortController>();
  const controllerOf = (job: string) => {
    let controller = controllers.get(job);
    if (!controller || controller.signal.aborted) controllers.set(job, (controller = new AbortController()));
    return controller;
  };
  // Aborts so far, and the count at each job's latest (and at the latest of all jobs): a task
  // taken while an abort was on its way (a shared queue's take can take a while) was handed out
  // before the abort and must not start its fetch under the next, fresh controller.
  let aborts = 0;
  let allAbortedAt = 0;
  const jobAbortedAt = new Map<string, number>();
  const abortedSince = (job: string, count: number) => allAbortedAt > count || (jobAbortedAt.get(job) ?? 0) > count;
  const deadLettered = new Set<string>();
  const pool = new PQueue({ concurrency: o.concurrency });
  let state: EngineStatus['state'] = 'idle';
  let pausedAll = false;
  const pausedJobs = new Set<string>();
  let wake = newWake();
  let dispatcher: Promise<void> | undefined;
  let acquireAbort = new AbortController();
  let storeFailures = 0;
  let planning = 0;
  /** Aborted by `stop()`: ends every wait of the dispatcher. */
  let running = new AbortController();
  let stopped: Promise<void> = Promise.resolve();
  let planningDone = newWake();
  let unwatch: (() => void) | undefined;

  const notify = () => wake.resolve();

  const addJob = (input: JobDefinition) => {
    const def = parseOptions(`job "${input.name ?? '?'}"`, jobSchema, input);
    if (jobs.has(def.name)) throw new SyncConfigError(`job "${def.name}"`, [{ path: 'name', message: `duplicate job name "${def.name}"` }]);
    const timezone = def.timezone ?? o.timezone;
    const cron = parseCron(def.schedule, timezone);
    const freshFor = def.freshFor ?? cron.periodMs;
    jobs.set(def.name, {
      def,
      timezone,
      cron,
      freshFor,
      // Tighter freshness targets form higher classes, so "today" is never queued behind the
      // 30-day burst and, under overload, far dates degrade first.
      priority: def.priority ?? -Math.round(freshFor / 1000),
      validate: def.validate ?? o.validate,
      source: (def.source ?? o.source) as Source,
      counters: { done: 0, failed: 0, retried: 0, deadLettered: 0, misses: 0, lastMissAt: undefined },
      lastTickAt: undefined,
    });
    scheduler.add(
      { id: def.name, cron: def.schedule, timezone, overlap: def.overlap, jitterMs: def.jitterMs, catchUp: def.catchUp },
      (tick) => planTick(def.name, tick, false),
    );
  };

  const jobOf = (name: string): JobRuntime => {
    const job = jobs.get(name);
    if (!job) throw new SyncError('ENGINE_STATE', `unknown job "${name}"`);
    return job;
  };

  /**
   * The planning under way per job. Plans of one job run one after another: a trigger during a
   * tick (triggers bypass the scheduler's overlap policy) would otherwise start a second plan whose
   * sequence number makes the first one's coverage look outdated, and between them the job's keys
   * were swept from the book and planned by neither.
   */
  const planChains = new Map<string, Promise<void>>();

  /** One tick of one job: plan, decide per key, offer what is due. */
  const planTick = async (name: string, tick: Tick, force: boolean, forget?: (key: string) => boolean) => {
    planning++;
    const run = (planChains.get(name) ?? Promise.resolve()).catch(() => {}).then(() => planKeys(name, tick, force, forget));
    planChains.set(name, run);
    try {
      await run;
    } finally {
      if (planChains.get(name) === run) planChains.delete(name);
      if (--planning === 0) {
        planningDone.resolve();
        planningDone = newWake();
      }
    }
  };

  const planKeys = async (name: string, tick: Tick, force: boolean, forget?: (key: string) => boolean) => {
    const job = jobOf(name);
    const now = clock.now();
    job.lastTickAt = tick.scheduledAt;
    const specs = [...(await job.def.plan({ ...tick, job: name, now, timezone: job.timezone }))];
    const seq = book.beginTick(name);
    const unknown = book.unknown(specs.map((s) => s.key));
    // With a shared queue other instances fetch keys too: what this instance remembers may be
    // older than the Store, so every planned key's state is read again.
    const toRead = queue.shared ? specs.map((s) => s.key) : unknown;
    if (toRead.length > 0) {
      const states = await store.readKeyStates(toRead);
      for (const key of unknown) book.load(key, now, states.get(key));
      if (queue.shared) for (const key of toRead) book.refresh(key, states.get(key));
    }
    for (const spec of specs) book.cover(spec.key, name, seq, spec.freshFor ?? job.freshFor);
    if (forget) {
      const forgotten = specs.filter((spec) => forget(spec.key)).map((spec) => spec.key);
      for (const key of forgotten) book.forget(key, now);
      // A fetch of this instance under way may have started before the data was gone (a record
      // deleted, then added back): its write would count as the key's success. The key is fetched
      // again once that write is done (see `written`).
      for (const key of forgotten) if (inFlight.has(key) || writer.holds(key)) refetchAfterWrite.add(key);
      // Durably too, where the store can: a restart, or an instance that has not loaded the keys,
      // would otherwise read their last success and count them fresh. A store that fails here only
      // loses that; this tick still plans them as never fetched.
      if (forgotten.length > 0 && store.forgetKeys) await safely('forget keys', () => store.forgetKeys!(forgotten));
    }

    let fresh = 0;
    const offers: QueuedTask[] = [];
    for (const spec of specs) {
      const decision = book.decide(spec.key, now, (j) => scheduler.nextTick(j), force);
      if (!decision.enqueue) {
        fresh++;
        continue;
      }
      offers.push({
        key: spec.key,
        scope: spec.scope ?? spec.key,
        job: name,
        payload: spec.payload,
        priority: spec.priority ?? job.priority,
        deadline: decision.deadline,
        attempt: 1,
        notBefore: now,
        enqueuedAt: now,
      });
    }
    let enqueued = 0;
    let merged = 0;
    let skippedInFlight = 0;
    for (const result of offers.length > 0 ? await queue.offer(offers) : []) {
      if (result === 'added') enqueued++;
      else if (result === 'merged') merged++;
      else skippedInFlight++;
    }
    book.sweep((key) => inFlight.has(key));
    events.emit('tick', { job: name, tick, planned: specs.length, enqueued, merged, fresh, inFlight: skippedInFlight });
    log.debug({ job: name, planned: specs.length, enqueued, merged, fresh }, 'tick planned');
    notify();
  };

  // ---- dispatch ---------------------------------------------------------------------------

  const waitForSlot = () =>
    new Promise<void>((resolve) => {
      if (pool.pending + pool.size < o.concurrency) return resolve();
      pool.once('next', () => resolve());
    });

  const dispatchLoop = async () => {
    // This run's own signal, not `state`: a stop that gave up waiting for this loop (its queue
    // never answered) may be followed by a start, and the old loop must not come back to life.
    const mine = running.signal;
    const stoppedHere = stopped;
    while (!mine.aborted) {
      try {
        await Promise.race([waitForSlot(), stoppedHere]);
        if (mine.aborted) break;
        const currentWake = wake;
        const next = await queue.nextAvailableAt();
        const now = clock.now();
        if (next === undefined || next > now) {
          const sleeper = new AbortController();
          const timer = next === undefined ? undefined : clock.sleep(next - now, sleeper.signal).catch(() => {});
          await Promise.race([currentWake.promise, timer ?? currentWake.promise]);
          sleeper.abort();
          if (wake === currentWake) wake = newWake();
          // Ticks of several jobs often fire at the same instant. Let them all plan before any
          // budget is spent, or the first job's burst takes the window from a more urgent one.
          await clock.sleep(0, mine);
          if (planning > 0 && !mine.aborted) {
            // A slow plan (a database query, say) must not hold up everyone else's work for long.
            const settle = new AbortController();
            await Promise.race([planningDone.promise, stoppedHere, clock.sleep(PLANNING_SETTLE_MS, settle.signal).catch(() => {})]);
            settle.abort();
          }
          continue;
        }
        // Reserve budget before choosing the task, so the task sent is the most urgent one at
        // the moment it may be sent. Without a budget, fill every free slot at once.
        let slots = o.concurrency - (pool.pending + pool.size);
        if (limiter) {
          const waitStart = clock.now();
          await limiter.acquire(1, acquireAbort.signal);
          const waited = clock.now() - waitStart;
          if (waited > 0) events.emit('ratelimit:wait', { waitedMs: waited });
          slots = 1;
        }
        if (mine.aborted) break;
        // An empty take (paused or cleared while waiting) leaves a grant unused: never over budget.
        const abortsBefore = aborts;
        const taken = await queue.take(slots, clock.now());
        if (mine.aborted) {
          // Taken after a stop that no longer waits for this loop: handed back, not fetched.
          for (const task of taken) await safely('queue retry', () => queue.retry(task, clock.now()));
          break;
        }
        for (const task of taken) void pool.add(() => runTask(task, abortsBefore));
      } catch (err) {
        if (isAbortError(err)) {
          // A loop a stop gave up on ends here: the controller is the loop started after it's now.
          if (!mine.aborted) acquireAbort = new AbortController();
          continue;
        }
        reportError('dispatch', err);
        await clock.sleep(1_000, mine).catch(() => {});
      }
    }
  };

  const validate = async (job: JobRuntime, task: QueuedTask, data: unknown): Promise<unknown> => {
    if (!job.validate) return data;
    const result = await job.validate['~standard'].validate(data);
    if (result.issues) {
      throw new PayloadInvalidError(
        task.key,
        result.issues.map((i) => ({
          path: (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.'),
          message: i.message,
        })),
      );
    }
    return result.value;
  };

  /** `abortsBefore`: the abort count when the take that handed the task out began. */
  const runTask = async (task: QueuedTask, abortsBefore: number) => {
    const job = jobs.get(task.job);
    if (!job) {
      // A shared queue holds work of a job this instance does not have (a rolling deploy that
      // added it): handed back for an instance that has it, never dropped unfetched. Each hand-back
      // has cost a rate grant, so the back-off doubles per job (up to 10 minutes), and the warning
      // is said once per job.
      const handedBack = (unknownJobs.get(task.job) ?? 0) + 1;
      unknownJobs.set(task.job, handedBack);
      const backOffMs = Math.min(UNKNOWN_JOB_BACKOFF_MS * 2 ** Math.min(handedBack - 1, 10), UNKNOWN_JOB_MAX_BACKOFF_MS);
      if (handedBack === 1) {
        log.warn({ job: task.job, key: task.key }, 'task of a job this instance does not have; handed back for an instance that has it (if none has, clear the job from the queue)');
      }
      await safely('queue retry', () => queue.retry(task, clock.now() + backOffMs));
      return;
    }
    if (abortedSince(task.job, abortsBefore)) {
      await onFetchFailed(job, task, new AbortedError(), true);
      return;
    }
    const controller = controllerOf(task.job);
    inFlight.set(task.key, { task, controller });
    if (events.listenerCount('task:start') > 0) events.emit('task:start', { job: task.job, key: task.key, attempt: task.attempt });
    try {
      const raw = await job.source.fetch(task, { signal: controller.signal, attempt: task.attempt });
      if (controller.signal.aborted) throw new AbortedError();
      const data = await validate(job, task, raw);
      writer.add({ task, write: { key: task.key, scope: task.scope, job: task.job, data, fetchedAt: clock.now() } });
    } catch (err) {
      // Aborted is the engine's word alone: a source's own AbortError (its timeout, a cancelled
      // socket) is a failure like any other, retried with backoff, not put back at once forever.
      if (controller.signal.aborted) await onFetchFailed(job, task, new AbortedError(), true);
      else await onFetchFailed(job, task, err);
    } finally {
      inFlight.delete(task.key);
    }
  };

  /** `aborted`: the engine aborted the fetch (stop, pause with force, abort), not the source failing. */
  const onFetchFailed = async (job: JobRuntime, task: QueuedTask, err: unknown, aborted = false) => {
    const now = clock.now();
    // Nothing of this fetch is written: a retry fetches the key afresh, a dead letter gives it up.
    refetchAfterWrite.delete(task.key);
    try {
      if (aborted) {
        events.emit('task:aborted', { job: task.job, key: task.key });
        await queue.retry(task, now);
        return;
      }
      const error = errorMessage(err);
      const code = codeOf(err);
      if (err instanceof RateLimitedError) {
        // The remote's word on the budget overrides ours: freeze it for every job until reset,
        // within bounds (see `rateLimitThaw`).
        const { until, requested } = rateLimitThaw(err.until, now, o.maxRateLimitPenaltyMs);
        // The task is retried below whatever becomes of the freeze: a shared limiter that cannot
        // store it (Redis or Postgres down) must not leave the task taken for good.
        if (limiter) await safely('rate-limit penalty', async () => limiter.penalize(until));
        events.emit('ratelimit:penalty', requested === undefined ? { key: task.key, until } : { key: task.key, until, requested });
        if (until !== err.until) {
          log.warn({ key: task.key, until: isoTime(until), requested: typeof err.until === 'number' ? isoTime(err.until) : String(err.until) }, 'rate limited by the remote with a reset out of bounds; budget frozen until the nearest bound');
        } else {
          log.warn({ key: task.key, until: isoTime(until) }, 'rate limited by the remote; budget frozen');
        }
        await queue.retry(task, until);
        return;
      }
      await safely('record failure', () => store.recordFailures([{ key: task.key, job: task.job, at: now, error }]));
      if (!(err instanceof PermanentError) && task.attempt < o.retry.attempts) {
        const at = now + backoffDelay(o.retry, task.attempt, random);
        job.counters.retried++;
        events.emit('task:retry', { job: task.job, key: task.key, attempt: task.attempt, at, code, error });
        log.warn({ key: task.key, attempt: task.attempt, code, err: error }, isStoreRejection(err) ? 'the store refused the fetched data; will fetch again' : 'fetch failed; will retry');
        await queue.retry({ ...task, attempt: task.attempt + 1 }, at);
        return;
      }
      job.counters.failed++;
      job.counters.deadLettered++;
      deadLettered.add(task.key);
      await safely('dead letter', () =>
        store.addDeadLetter({
          key: task.key,
          scope: task.scope,
          job: task.job,
          payload: task.payload,
          attempts: task.attempt,
          error,
          at: now,
        }),
      );
      await safely('queue ack', () => queue.ack([task.key]));
      events.emit('task:failed', { job: task.job, key: task.key, attempt: task.attempt, code, error, deadLettered: true });
      log.error({ key: task.key, attempts: task.attempt, code, err: error }, isStoreRejection(err) ? 'the store refused the fetched data each time; dead-lettered' : 'fetch gave up; dead-lettered');
    } catch (inner) {
      reportError('failure handling', inner);
    } finally {
      // A re-queued task may be available at once; the dispatcher may be asleep.
      notify();
    }
  };

  const safely = async (where: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      reportError(where, err);
    }
  };

  /** Saves a pause or resume; on failure, the error for the caller (the change itself stands). */
  const storePaused = async (job: string | undefined, paused: boolean): Promise<SyncError | undefined> => {
    try {
      await store.writePaused(job ?? '*', paused);
      return undefined;
    } catch (err) {
      const what = `${paused ? 'paused' : 'resumed'} ${job === undefined ? 'every job' : `job ${job}`}`;
      // A shared queue keeps a pause itself, for every instance; an in-process one only here.
      const where = queue.shared ? 'in the shared queue' : 'on this instance';
      return new SyncError('STORE_FAILED', `${what} ${where}, but the store could not save it: ${errorMessage(err)}`, { cause: err });
    }
  };

  const writer = new BatchWriter<unknown>(store, clock, o.batchSize, o.flushMs, {
    written: async (items: PendingWrite<unknown>[], result, durationMs) => {
      storeFailures = 0;
      const cleared: string[] = [];
      const late: boolean[] = [];
      for (const { task, write } of items) {
        const job = jobs.get(task.job);
        const before = book.lastSuccess(task.key);
        const isLate = before !== undefined && write.fetchedAt > task.deadline;
        late.push(isLate);
        book.recordSuccess(task.key, write.fetchedAt);
        if (job) {
          job.counters.done++;
          if (isLate) {
            job.counters.misses++;
            job.counters.lastMissAt = write.fetchedAt;
          }
        }
        if (deadLettered.delete(task.key)) cleared.push(task.key);
      }
      // The rows and the keys' freshness are stored: the tasks are done whether or not the queue
      // takes the ack. What becomes of an unacked task is the queue's: a shared queue hands it out
      // again once its lock lapses (a refetch of a fresh scope); the in-process queue's ack does
      // not fail. Reported, not fatal.
      await safely('queue ack', () => queue.ack(items.map((i) => i.task.key)));
      const again = items.filter(({ task }) => refetchAfterWrite.delete(task.key)).map(({ task }) => ({ ...task, attempt: 1, deadline: clock.now(), notBefore: clock.now(), enqueuedAt: clock.now() }));
      if (again.length > 0) {
        await safely('queue offer', () => queue.offer(again));
        notify();
      }
      if (events.listenerCount('task:done') > 0) {
        items.forEach(({ task, write }, i) =>
          events.emit('task:done', {
            job: task.job,
            key: task.key,
            scope: task.scope,
            attempt: task.attempt,
            fetchedAt: write.fetchedAt,
            late: late[i]!,
          }),
        );
      }
      if (cleared.length > 0) await safely('clear dead letters', () => store.removeDeadLetters(cleared));
      events.emit('batch:written', { scopes: items.length, result, durationMs });
    },
    failed: async (items, err) => {
      if (isStoreRejection(err)) {
        // The store answered and refused this scope's data (the writer has isolated it): the same
        // data fails again however often it is written, so it is the key's failure, charged an
        // attempt like a fetch that failed — refetched with backoff, dead-lettered after its last.
        storeFailures = 0;
        events.emit('batch:failed', { scopes: items.length, error: errorMessage(err) });
        for (const { task } of items) {
          const job = jobs.get(task.job);
          if (job) await onFetchFailed(job, task, err);
          else await safely('queue retry', () => queue.retry(task, clock.now()));
        }
        return;
      }
      // The store being down is not the keys' fault: retry without spending their attempts.
      for (const { task } of items) refetchAfterWrite.delete(task.key); // the retry fetches afresh
      storeFailures++;
      const at = clock.now() + backoffDelay(o.retry, storeFailures, random);
      reportError('store write', err);
      events.emit('batch:failed', { scopes: items.length, error: errorMessage(err) });
      // Each task on its own: one the queue refuses must not strand the others.
      for (const { task } of items) await safely('queue retry', () => queue.retry(task, at));
      notify();
    },
  });

  // ---- control ----------------------------------------------------------------------------

  const abortInFlight = (job: string | undefined) => {
    aborts++;
    if (job === undefined) allAbortedAt = aborts;
    else jobAbortedAt.set(job, aborts);
    let count = 0;
    for (const { task } of inFlight.values()) if (job === undefined || task.job === job) count++;
    for (const [name, controller] of controllers) if (job === undefined || name === job) controller.abort(new AbortedError());
    return count;
  };

  /** Set by a `stop` that came during a start: the start stops where it is (see `stop`). */
  let stopRequested = false;

  const startEngine = async (): Promise<void> => {
    if (state === 'running') return;
    if (state === 'stopping') throw new SyncError('ENGINE_STATE', 'the engine is stopping');
    await store.init?.();
    if (stopRequested) return;
    // The Store's pause state is the truth at a start: a resume made elsewhere while this engine
    // was stopped (a shared Store) must not leave it paused from its last run.
    const stored = new Set(await store.readPaused());
    const wasPaused = [...(pausedAll ? ['*'] : []), ...pausedJobs];
    pausedAll = false;
    pausedJobs.clear();
    for (const target of stored) {
      if (target === '*') pausedAll = true;
      else pausedJobs.add(target);
      await queue.pause(target === '*' ? undefined : target);
    }
    // A queue of this process alone follows; a shared one holds the deployment's own pause state.
    if (!queue.shared) for (const target of wasPaused) if (!stored.has(target)) await queue.resume(target === '*' ? undefined : target);
    for (const letter of await store.listDeadLetters()) deadLettered.add(letter.key);
    if (stopRequested) return;
    state = 'running';
    running = new AbortController();
    const signal = running.signal;
    stopped = new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await scheduler.start();
    // The stop may have stopped waiting for this start (below) and stopped the engine already:
    // the scheduler it stopped before this start finished starting it is stopped again here.
    if (stopRequested) {
      if (state !== 'running') await scheduler.stop();
      return stopEngine({ drainMs: 0 });
    }
    unwatch = queue.watch?.((signal) => {
      // Another instance aborted a job: stop this instance's fetches of it too.
      if (signal?.abort !== undefined) {
        const job = signal.abort === '*' ? undefined : signal.abort;
        const count = abortInFlight(job);
        if (count > 0) events.emit('aborted', { job, count });
      }
      notify();
    });
    dispatcher = dispatchLoop();
    events.emit('started', { at: clock.now() });
    log.info({ jobs: [...jobs.keys()], paused: pausedAll ? ['*'] : [...pausedJobs] }, 'sync engine started');
    for (const job of jobs.values()) {
      if (!job.def.runOnStart) continue;
      if (stopRequested || state !== 'running') break;
      if (scheduler.shouldRunOnStart && !(await scheduler.shouldRunOnStart(job.def.name))) continue;
      await safely(`plan:${job.def.name}`, () => engine.trigger(job.def.name, { force: false }));
    }
  };

  /** `calledAt`: when `stop()` was called; its waiting for a start counts against the same bounds. */
  const stopEngine = async (stopOptions: StopOptions, calledAt = clock.now()): Promise<void> => {
    if (state !== 'running') return;
    state = 'stopping';
    unwatch?.();
    unwatch = undefined;
    const drainMs = stopOptions.drainMs ?? o.drainMs;
    const drainUntil = calledAt + drainMs;
    // A backend that is away (a shared queue's server down, a store that never answers) would
    // hold every step below for good, and a shutdown with it. Past `drainMs + stopTimeoutMs` each
    // step still waiting is given up on, named in the log and the `stopped` event.
    const unfinished: string[] = [];
    const giveUp = new AbortController();
    const late = clock.sleep(Math.max(0, drainUntil + o.stopTimeoutMs - clock.now()), giveUp.signal).then(
      () => 'late' as const,
      () => 'late' as const,
    );
    let pastDeadline = false;
    void late.then(() => (pastDeadline = true));
    const within = async (what: string, step: Promise<unknown>): Promise<void> => {
      // A step that fails is logged and the stop goes on: a stop that rejected half way would
      // leave the engine 'stopping' for good, and no start could follow it.
      const settled = step.then(
        () => 'done' as const,
        (err: unknown) => {
          log.warn({ step: what, err: errorMessage(err) }, 'a stop step failed');
          return 'done' as const;
        },
      );
      // Past the deadline a step still gets one turn of the event loop, so one already done (an
      // empty flush) is not counted as given up on.
      const limit = pastDeadline ? new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 0)) : late;
      if ((await Promise.race([settled, limit])) === 'late') unfinished.push(what);
    };
    try {
      await within('scheduler stop', scheduler.stop());
      // Ticks still planning finish first: their offers and store reads must not land after
      // `stopped`, when the caller may close the store.
      if (planning > 0) await within('ticks planning', planningDone.promise);
      acquireAbort.abort();
      running.abort();
      notify();
      await within('dispatcher', dispatcher ?? Promise.resolve());
      let aborted = 0;
      if (pool.pending > 0) {
        // Counted from the call: time spent above on a slow scheduler is not added to it.
        const drainLeft = drainUntil - clock.now();
        if (drainLeft > 0) {
          const deadline = new AbortController();
          await Promise.race([pool.onIdle(), clock.sleep(drainLeft, deadline.signal).catch(() => {})]);
          deadline.abort();
        }
        aborted = abortInFlight(undefined);
        await within('aborted fetches', pool.onIdle());
      }
      await within('write flush', writer.flush());
      if (ownsLimiter) await within('rate limiter close', limiter.close?.() ?? Promise.resolve());
      if (storeLeaderLock) await within('leader lock release', storeLeaderLock.release());
      state = 'stopped';
      if (unfinished.length > 0) {
        log.warn({ unfinished, stopTimeoutMs: o.stopTimeoutMs }, 'sync engine stopped without waiting for steps its backends did not finish');
        events.emit('stopped', { at: clock.now(), aborted, unfinished });
      } else events.emit('stopped', { at: clock.now(), aborted });
      log.info({ aborted }, 'sync engine stopped');
    } finally {
      giveUp.abort();
    }
  };

  /** The start under way: a second `start` joins it, and `stop` waits for it (see below). */
  let starting: Promise<void> | undefined;
  /** Hand-backs so far per job this instance does not have (see `runTask`). */
  const unknownJobs = new Map<string, number>();
  /** The stop under way: a second `stop` joins it. */
  let stopping: Promise<void> | undefined;

  const engine: SyncEngine = {
    start() {
      // Starting reads the Store before the engine counts as running: without this, two calls
      // would start it twice (two dispatchers), and a stop in between would be a no-op that the
      // start then outlives.
      if (!starting) {
        stopRequested = false;
        starting = startEngine().finally(() => {
          starting = undefined;
        });
      }
      return starting;
    },

    stop(stopOptions = {}) {
      // A second stop while one runs waits for that one (a caller closing its store afterwards
      // must not cut the final flush short).
      stopping ??= (async () => {
        const calledAt = clock.now();
        if (starting) {
          // The start stops at its next step and the engine does not come up. A start hung on its
          // backend (a Store or scheduler that never answers) holds a stop no longer than `drainMs`;
          // when it moves on, it tears down what it began.
          stopRequested = true;
          const gaveUp = new AbortController();
          await Promise.race([starting.catch(() => {}), clock.sleep(stopOptions.drainMs ?? o.drainMs, gaveUp.signal).catch(() => {})]);
          gaveUp.abort();
        }
        return stopEngine(stopOptions, calledAt);
      })().finally(() => {
        stopping = undefined;
      });
      return stopping;
    },

    async pause(job, pauseOptions = {}) {
      if (job !== undefined) jobOf(job);
      await queue.pause(job);
      if (job === undefined) {
        pausedAll = true;
        acquireAbort.abort();
      } else pausedJobs.add(job);
      // The pause is in effect from here on: a Store that cannot save it must not leave it half
      // done (no force-abort, no event) while the caller is told it failed.
      const stored = await storePaused(job, true);
      if (pauseOptions.force) await engine.abort(job);
      events.emit('paused', { job });
      log.info({ job: job ?? '*', force: pauseOptions.force ?? false }, 'paused');
      if (stored) throw stored;
    },

    async resume(job) {
      if (job !== undefined) jobOf(job);
      await queue.resume(job);
      if (job === undefined) pausedAll = false;
      else pausedJobs.delete(job);
      const stored = await storePaused(job, false);
      notify();
      events.emit('resumed', { job });
      log.info({ job: job ?? '*' }, 'resumed');
      if (stored) throw stored;
    },

    async abort(job) {
      if (job !== undefined) jobOf(job);
      const count = abortInFlight(job);
      await safely('broadcast abort', async () => queue.broadcastAbort?.(job));
      events.emit('aborted', { job, count });
      return count;
    },

    async trigger(job, triggerOptions = {}) {
      const names = job === undefined ? [...jobs.keys()] : [jobOf(job).def.name];
      const now = clock.now();
      // Once per trigger, not once per job: jobs covering one key plan one after another, and a
      // second forget could wipe the success of a refetch the first one already caused.
      const picked = triggerOptions.forget;
      const forgotten = new Set<string>();
      const forget =
        picked &&
        ((key: string) => {
          if (forgotten.has(key) || !picked(key)) return false;
          forgotten.add(key);
          return true;
        });
      for (const name of names) {
        await planTick(name, { schedule: name, scheduledAt: now, firedAt: now, catchUp: false, manual: true }, triggerOptions.force ?? true, forget);
      }
    },

    addJob,

    async status() {
      const now = clock.now();
      const budget = limiter ? await limiter.usage() : undefined;
      // On a shared queue another instance may have paused or resumed: the queue knows, not us.
      const allPaused = queue.shared ? await queue.isPaused() : pausedAll;
      const jobStatuses: JobStatus[] = [];
      for (const job of jobs.values()) {
        const name = job.def.name;
        let inFlightCount = 0;
        for (const { task } of inFlight.values()) if (task.job === name) inFlightCount++;
        jobStatuses.push({
          name,
          schedule: job.def.schedule,
          timezone: job.timezone,
          freshForMs: job.freshFor,
          priority: job.priority,
          paused: allPaused || (queue.shared ? await queue.isPaused(name) : pausedJobs.has(name)),
          nextTickAt: scheduler.nextTick(name),
          lastTickAt: job.lastTickAt,
          queued: await queue.size(name),
          inFlight: inFlightCount,
          done: job.counters.done,
          failed: job.counters.failed,
          retried: job.counters.retried,
          deadLettered: job.counters.deadLettered,
          freshness: book.freshness(name, now),
          deadlineMisses: job.counters.misses,
          lastMissAt: job.counters.lastMissAt,
        });
      }
      return {
        state,
        paused: allPaused,
        jobs: jobStatuses,
        budget,
        deadLetters: deadLettered.size,
        pendingWrites: writer.pending,
      };
    },

    async capacity(capacityOptions = {}) {
      let budgetPerDay = Number.POSITIVE_INFINITY;
      if (limiter) {
        const { limit, windowMs } = await limiter.usage();
        budgetPerDay = (limit * 86_400_000) / windowMs;
      }
      return planCapacity({
        jobs: [...jobs.values()].map((j) => ({
          name: j.def.name,
          schedule: j.def.schedule,
          timezone: j.timezone,
          freshFor: j.freshFor,
          priority: j.priority,
          plan: j.def.plan,
        })),
        budgetPerDay,
        from: capacityOptions.from ?? clock.now(),
        days: capacityOptions.days ?? 7,
      });
    },

    on: (event, listener) => events.on(event, listener),
    once: (event, listener) => events.once(event, listener),
    off: (event, listener) => events.off(event, listener),
  };

  for (const job of o.jobs) addJob(job as JobDefinition);
  return engine;
}
