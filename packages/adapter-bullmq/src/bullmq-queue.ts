/**
 * The Queue contract on BullMQ, shared by every engine instance that names the same queue.
 *
 * Guarantees (checked by `queueConformance` on Redis and on PostgreSQL):
 * - **A key is queued once across all instances**: the BullMQ job id is derived from the task key,
 *   so an offer from any instance of a key already queued merges into that job (earliest
 *   deadline and highest priority win; payload and owning job follow the deadline), and an offer
 *   of a key some instance has in flight is dropped (`'inflight'`).
 * - **Order**: BullMQ priorities carry the engine's order — a priority class first (4 bands; see
 *   `band`), then the deadline at `deadlineResolutionMs`, then the offer order (BullMQ is FIFO
 *   within one priority). Deadlines are counted in 2^19 steps from a shared origin kept in the
 *   backend (at 1 s steps: 1.5 days back, 4.5 days ahead; beyond that they tie). When the origin
 *   is half its range old, the next offer re-bases it and re-prioritises every queued job, so
 *   ordering holds for as long as the service runs.
 * - **Retry / notBefore** use BullMQ's delayed jobs: a task is not handed out before `notBefore`,
 *   measured on the host clock (`take`'s `now` argument is ignored: BullMQ promotes delayed jobs by
 *   real time).
 * - **In flight** is BullMQ's active state under a lock this instance renews. If the instance dies
 *   the lock lapses, BullMQ's stalled-job check (run by every instance) puts the task back and
 *   another instance takes it.
 * - **No refetch of what was just fetched**: a finished task is remembered for
 *   `keepFinishedSeconds`; an offer planned before it finished (its planner read the Store before
 *   the fetch was written, on another instance) is dropped and reported `'inflight'`.
 * - **Abort** reaches every instance: BullMQ's own cancellation (`Worker.cancelJob`) only reaches
 *   jobs run by a processor on that worker, and tasks here are taken by hand, so `broadcastAbort`
 *   leaves a marker in the backend and every instance's watcher aborts its own fetches of the job
 *   within `pollMs` (markers are told apart by id, so senders' clocks need not agree).
 * - **Pause** without a job is BullMQ's queue pause (every instance stops taking at once). Pausing
 *   one job parks its queued tasks in a companion queue that no one takes from, and a shared
 *   marker makes every instance park new offers of that job until it is resumed; `take` reads
 *   the markers afresh, so a task of a job paused a moment ago is parked, never handed out. A
 *   task parked by an offer that raced another instance's resume is put back by the next poll.
 *
 * Not atomic across instances: two instances offering the same new key at the same instant both
 * see it absent; BullMQ keeps one job (the first add) and the other offer's deadline is lost if it
 * was earlier. Two offers merging into one queued key at the same instant read, merge and write it
 * each on their own, so the later write wins and an earlier deadline may be lost the same way. The
 * next tick re-offers with the right deadline.
 */
import { randomUUID } from 'node:crypto';
import type { Job, Queue as BullQueue, Worker } from 'bullmq';
import { z } from 'zod';
import { errorMessage, implementsOption, mergeQueuedTask, parseOptions, safeLogger, type Logger, type OfferResult, type Queue, type QueuedTask, type QueueSignal } from '@tidesync/core';
import type { Backend } from './connection.js';

export const queueOptionsSchema = z.object({
  /** Names the shared queue: every instance using the same backend and name shares its work. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, 'letters, digits, "_", "." and "-" only (BullMQ reserves ":")'),
  /** Ordering resolution of deadlines. Tasks whose deadlines fall in the same step go in offer order. */
  deadlineResolutionMs: z.number().positive().default(1_000),
  /** How long an instance holds a task before BullMQ deems it stalled (renewed while the fetch runs). */
  lockDurationMs: z.number().int().min(1_000).default(30_000),
  /** How often every instance looks for stalled tasks of dead instances. */
  stalledIntervalMs: z.number().int().min(500).default(15_000),
  /**
   * How long a finished task is remembered (seconds). An offer of its key that was planned before
   * it finished is dropped as already done; must exceed the longest a plan takes.
   */
  keepFinishedSeconds: z.number().int().positive().default(600),
  /** How often `watch` listeners are told to look for work offered by other instances. */
  pollMs: z.number().int().positive().default(500),
  logger: implementsOption<Logger>('a Logger', ['debug', 'info', 'warn', 'error']).optional(),
  /**
   * Maps an engine priority to one of 4 bands (0 is served first). The default follows the
   * engine's default priorities (minus the freshness target in seconds): ≤ 1 h, ≤ 6 h, ≤ 36 h, longer.
   */
  band: z.custom<(priority: number) => number>((v) => typeof v === 'function', { message: 'expected a function' }).optional(),
});

export type BullMQQueueOptions = z.input<typeof queueOptionsSchema>;

export interface BullMQQueue<P = unknown> extends Queue<P> {
  close(): Promise<void>;
  /** Tells the engine that work may be offered by other instances. */
  readonly shared: true;
  /** Calls `listener` whenever other instances may have made work available or aborted a job. Returns an unsubscribe. */
  watch(listener: (signal?: QueueSignal) => void): () => void;
  broadcastAbort(job: string | undefined): Promise<void>;
  /** BullMQ priority a task gets (exposed for tests and diagnostics). */
  priorityOf(task: Pick<QueuedTask, 'priority' | 'deadline'>): Promise<number>;
}

const BANDS = 4;
const SLOTS = 2 ** 19; // 4 × 2^19 = 2^21, BullMQ's priority range
const ORIGIN_JOB = 'origin';
const PAUSED_PREFIX = 'paused~';
const ABORT_PREFIX = 'abort~';
const ABORT_MARKER_TTL_MS = 60_000;
/** Parked tasks are checked for a job no longer paused every this many polls. */
const UNPARK_EVERY_POLLS = 10;
const QUEUED_STATES = ['wait', 'prioritized', 'delayed'] as const;

const defaultBand = (priority: number): number => (priority >= -3_600 ? 0 : priority >= -21_600 ? 1 : priority >= -129_600 ? 2 : 3);

/** `text` fit for a BullMQ custom id, which must not hold ":"; keys and job names may. Reversible. */
export const idSafe = (text: string): string => text.replace(/%/g, '%25').replace(/:/g, '%3A');
/** BullMQ forbids ":" in custom ids and purely numeric ids; keys use both freely. */
export const jobIdOf = (key: string): string => `k~${idSafe(key)}`;
const pausedIdOf = (job: string): string => `${PAUSED_PREFIX}${idSafe(job)}`;

type Stored<P> = QueuedTask<P>;

export function createBullMQQueue<P = unknown>(backend: Backend, options: BullMQQueueOptions): BullMQQueue<P> {
  const o = parseOptions('BullMQ queue options', queueOptionsSchema, options);
  // Logged from timers and error paths: a logger that throws must not become an unhandled rejection.
  const log = safeLogger(o.logger);
  const band = o.band ?? defaultBand;
  // A finished task is kept a while: an offer planned before it finished (another instance read
  // the Store just before this fetch was written) is recognised as stale and dropped.
  const jobOptions = { removeOnComplete: { age: o.keepFinishedSeconds }, removeOnFail: true } as const;
  const main: BullQueue = backend.newQueue(o.name);
  // Parked tasks of paused jobs, and the shared markers (origin, paused jobs): no worker ever runs here.
  const parked: BullQueue = backend.newQueue(`${o.name}.parked`);
  const meta: BullQueue = backend.newQueue(`${o.name}.meta`);
  const worker: Worker = backend.newWorker(o.name, null, {
    autorun: false,
    lockDuration: o.lockDurationMs,
    stalledInterval: o.stalledIntervalMs,
    // A task whose instance died twice in a row is still put back, not failed: the engine's own
    // attempt count decides when to give up, and a failed BullMQ job would silently drop the key.
    maxStalledCount: 1_000,
  });
  const instance = randomUUID();
  let tokens = 0;
  /** Tasks this instance took and has not acked or retried, with their lock tokens. */
  const held = new Map<string, { job: Job; token: string; task: Stored<P> }>();
  let ready: Promise<void> | undefined;
  let closed = false;
  let origin: { value: number; readAt: number } | undefined;
  const watchers = new Set<(signal?: QueueSignal) => void>();
  let pollTimer: NodeJS.Timeout | undefined;
  let polling = false;
  /**
   * Abort markers passed on already (or there before this instance watched), by id, until they
   * expire: told apart by id, not by time, because a marker's time is its sender's clock and it
   * may land after a poll that started later.
   */
  const abortsSeen = new Map<string, number>();
  /**
   * When watching started: the first poll passes on only markers sent since then (less a poll's
   * worth for clocks apart), and learns the older ones as seen.
   */
  let watchedAt: number | undefined;
  /** When parked tasks were last checked for a job no longer paused (see `unparkStranded`). */
  let unparkedAt = 0;
  let lockTimer: NodeJS.Timeout | undefined;

  const start = () =>
    (ready ??= (async () => {
      await Promise.all([main.waitUntilReady(), parked.waitUntilReady(), meta.waitUntilReady(), worker.waitUntilReady()]);
      // A dead instance's tasks come back through this check; every instance runs it.
      void worker.startStalledCheckTimer().catch((err) => log.error({ err: errorMessage(err) }, 'stalled check failed'));
      lockTimer = setInterval(() => void renewLocks(), Math.max(500, Math.floor(o.lockDurationMs / 3)));
      lockTimer.unref();
    })());

  const renewLocks = async () => {
    if (held.size === 0 || closed) return;
    const entries = [...held.values()];
    try {
      const failed = await worker.extendJobLocks(
        entries.map((e) => e.job.id!),
        entries.map((e) => e.token),
        o.lockDurationMs,
      );
      if (failed.length > 0) log.warn({ jobs: failed.length }, 'lost the lock on tasks in flight; another instance may fetch them again');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not renew task locks');
    }
  };

  // ---- shared markers ------------------------------------------------------------------------

  const readOrigin = async (now: number): Promise<number> => {
    if (origin && now - origin.readAt < 60_000) return origin.value;
    let job = await meta.getJob(ORIGIN_JOB);
    if (!job) {
      // First writer wins: BullMQ keeps the first job with a given id.
      await meta.add(ORIGIN_JOB, { origin: now - lookBack }, { jobId: ORIGIN_JOB });
      job = await meta.getJob(ORIGIN_JOB);
    }
    const value = Number((job?.data as { origin?: number } | undefined)?.origin ?? now - lookBack);
    origin = { value, readAt: now };
    return value;
  };

  // The origin sits a quarter of the range in the past: overdue deadlines up to that far back keep
  // their order, and a re-base is due once it is half the range old.
  const lookBack = (SLOTS / 4) * o.deadlineResolutionMs;
  const slotOf = (deadline: number, base: number) => Math.min(SLOTS - 1, Math.max(0, Math.floor((deadline - base) / o.deadlineResolutionMs)));

  const priorityFor = (task: Pick<QueuedTask, 'priority' | 'deadline'>, base: number) => {
    const b = Math.min(BANDS - 1, Math.max(0, Math.trunc(band(task.priority))));
    return 1 + b * SLOTS + Math.min(SLOTS - 2, slotOf(task.deadline, base));
  };

  /** Re-base once the origin is half-way through its range: every queued job gets its priority anew. */
  const rebaseIfOld = async (now: number): Promise<number> => {
    const base = await readOrigin(now);
    if (slotOf(now, base) < SLOTS / 2) return base;
    const next = now - lookBack;
    const job = await meta.getJob(ORIGIN_JOB);
    await job?.updateData({ origin: next });
    origin = { value: next, readAt: now };
    let moved = 0;
    for (const q of [main, parked]) {
      for (const j of await q.getJobs([...QUEUED_STATES])) {
        if (!j?.data) continue;
        await j.changePriority({ priority: priorityFor(j.data as Stored<P>, next) }).catch(() => {});
        moved++;
      }
    }
    log.info({ queue: o.name, jobs: moved }, 'deadline origin re-based');
    return next;
  };

  /** The jobs paused for every instance, read from the backend (never cached: a pause must hold at once). */
  const readPaused = async (): Promise<Set<string>> => {
    const names = new Set<string>();
    for (const j of await meta.getJobs(['wait'])) {
      // The marker's data names the job; its id is only the name made fit for BullMQ.
      const job = (j?.data as { job?: unknown } | undefined)?.job;
      if (j?.id?.startsWith(PAUSED_PREFIX) && typeof job === 'string') names.add(job);
    }
    return names;
  };

  // ---- helpers -------------------------------------------------------------------------------

  const addJob = async (q: BullQueue, task: Stored<P>, base: number) => {
    // A finished job still remembered under this id would turn the add into a no-op.
    const previous = await q.getJob(jobIdOf(task.key));
    if (previous && (previous.finishedOn ?? 0) > 0) await previous.remove().catch(() => {});
    const now = Date.now();
    const delay = Math.max(0, task.notBefore - now);
    return q.add('task', task, { ...jobOptions, jobId: jobIdOf(task.key), priority: priorityFor(task, base), timestamp: now, delay });
  };

  const find = async (key: string): Promise<{ job: Job; q: BullQueue } | undefined> => {
    const id = jobIdOf(key);
    const inMain = await main.getJob(id);
    if (inMain && !((inMain.finishedOn ?? 0) > 0)) return { job: inMain, q: main };
    // A finished record in main (kept for `keepFinishedSeconds`) must not hide a queued copy parked since.
    const inParked = await parked.getJob(id);
    if (inParked) return { job: inParked, q: parked };
    return inMain ? { job: inMain, q: main } : undefined;
  };

  const listQueued = async (job?: string): Promise<Array<{ job: Job; q: BullQueue }>> => {
    const out: Array<{ job: Job; q: BullQueue }> = [];
    for (const q of [main, parked]) {
      for (const j of await q.getJobs([...QUEUED_STATES])) {
        if (j?.data && (job === undefined || (j.data as Stored<P>).job === job)) out.push({ job: j, q });
      }
    }
    return out;
  };

  /** Move a job's queued tasks between the main and the parked queue, most urgent first. */
  const moveJobTasks = async (job: string, from: BullQueue, to: BullQueue) => {
    const base = await readOrigin(Date.now());
    const tasks: Stored<P>[] = [];
    for (const j of await from.getJobs([...QUEUED_STATES])) {
      if (!j?.data || (j.data as Stored<P>).job !== job) continue;
      try {
        await j.remove();
        tasks.push(j.data as Stored<P>);
      } catch {
        // Taken meanwhile: it is in flight now, not queued.
      }
    }
    tasks.sort((a, b) => b.priority - a.priority || a.deadline - b.deadline || a.enqueuedAt - b.enqueuedAt);
    for (const t of tasks) await addJob(to, t, base);
  };

  const queue: BullMQQueue<P> = {
    shared: true,

    async offer(tasks) {
      await start();
      const now = Date.now();
      const base = await rebaseIfOld(now);
      const paused = await readPaused();
      // Apply the batch in order in memory first: a key twice in one batch is one job.
      const batch = new Map<string, { task: Stored<P>; indexes: number[] }>();
      tasks.forEach((task, i) => {
        const prev = batch.get(task.key);
        if (prev) {
          prev.task = mergeQueuedTask(prev.task, task);
          prev.indexes.push(i);
        } else batch.set(task.key, { task: { ...task }, indexes: [i] });
      });
      const entries = [...batch.values()];
      const found = await Promise.all(entries.map((e) => find(e.task.key)));
      const results: OfferResult[] = new Array<OfferResult>(tasks.length);
      const fresh: Array<{ q: BullQueue; task: Stored<P> }> = [];
      await Promise.all(
        entries.map(async (entry, n) => {
          const existing = found[n];
          const [first, ...rest] = entry.indexes;
          const setAll = (r: OfferResult) => {
            results[first!] = r;
            for (const i of rest) results[i] = r === 'added' ? 'merged' : r;
          };
          if (!existing) {
            fresh.push({ q: paused.has(entry.task.job) ? parked : main, task: entry.task });
            setAll('added');
            return;
          }
          const state = await existing.job.getState();
          if (state === 'active') return setAll('inflight');
          if (state === 'completed' || state === 'failed' || state === 'unknown') {
            // Finished after this offer was planned: the planner read the key's state before the
            // fetch was written, so its decision is stale and the key has just been refreshed.
            // The record `find` read may predate the finish (acked between the two reads, the
            // usual case for a key in flight at the tick): its finish time is read afresh.
            const current = state === 'unknown' ? undefined : await existing.q.getJob(existing.job.id!);
            const finishedOn = current ? current.finishedOn : existing.job.finishedOn;
            // Strictly after: an offer made in the millisecond of the finish (the engine's own
            // re-offer right after its ack, see `trigger({ forget })`) is a new one, not stale.
            if ((finishedOn ?? 0) > entry.task.enqueuedAt) return setAll('inflight');
            // Re-added meanwhile by another instance's offer: queued again, so this one merges into
            // it (not atomically, see above). Removing by id would take that copy with it.
            if (current && !((current.finishedOn ?? 0) > 0)) return setAll('merged');
            if (current) await current.remove().catch(() => {});
            fresh.push({ q: paused.has(entry.task.job) ? parked : main, task: entry.task });
            return setAll('added');
          }
          const old = existing.job.data as Stored<P>;
          const merged = mergeQueuedTask(old, entry.task);
          // Not to be handed out yet, but available (or delayed less) in BullMQ: a retry's backoff
          // meeting a queued copy of its key, or a retry whose data was written before BullMQ put
          // the job back on a lost lock. BullMQ sets a job's availability when it is added, so it
          // is added again.
          if (merged.notBefore > Date.now() && (state !== 'delayed' || merged.notBefore > old.notBefore)) {
            try {
              await existing.job.remove();
            } catch {
              return setAll('inflight'); // taken meanwhile: the fetch under way refreshes the key
            }
            await addJob(existing.q, merged, base);
          } else if (merged.deadline !== old.deadline || merged.priority !== old.priority || merged.job !== old.job || merged.attempt !== old.attempt) {
            await existing.job.updateData(merged);
            const priority = priorityFor(merged, base);
            if (priority !== existing.job.priority) await existing.job.changePriority({ priority });
          }
          setAll('merged');
        }),
      );
      if (fresh.length > 0) {
        const byQueue = new Map<BullQueue, Stored<P>[]>();
        for (const f of fresh) byQueue.set(f.q, [...(byQueue.get(f.q) ?? []), f.task]);
        const at = Date.now();
        for (const [q, list] of byQueue) {
          await q.addBulk(
            list.map((task) => ({
              name: 'task',
              data: task,
              opts: { ...jobOptions, jobId: jobIdOf(task.key), priority: priorityFor(task, base), timestamp: at, delay: Math.max(0, task.notBefore - at) },
            })),
          );
        }
      }
      return results;
    },

    async take(max) {
      await start();
      const out: QueuedTask<P>[] = [];
      let paused: Set<string> | undefined;
      while (out.length < max && !closed) {
        const token = `${instance}:${++tokens}`;
        const job = await worker.getNextJob(token, { block: false });
        if (!job) break;
        const task = job.data as Stored<P>;
        // Read afresh once per take: a job paused elsewhere a moment ago is never handed out here.
        paused ??= await readPaused();
        if (paused.has(task.job)) {
          // Offered (or put back by an aborted fetch) just before its job was paused elsewhere:
          // park it rather than fetch it. No finished record stays behind to hide the parked copy.
          await job.moveToCompleted(undefined, token, false).catch(() => {});
          await job.remove().catch(() => {});
          await addJob(parked, task, await readOrigin(Date.now()));
          continue;
        }
        held.set(task.key, { job, token, task });
        out.push(task);
      }
      return out;
    },

    async ack(keys) {
      await Promise.all(
        keys.map(async (key) => {
          const h = held.get(key);
          if (!h) return;
          held.delete(key);
          // A lost lock means BullMQ already put the task back for someone else: nothing to do.
          await h.job.moveToCompleted(undefined, h.token, false).catch(() => {});
        }),
      );
    },

    async retry(task, at) {
      await start();
      const h = held.get(task.key);
      if (!h) {
        // Never taken here: treat it as an offer available from `at`.
        await queue.offer([{ ...task, notBefore: at }]);
        return;
      }
      held.delete(task.key);
      const next: Stored<P> = { ...h.task, ...task, notBefore: at };
      try {
        await h.job.updateData(next);
        await h.job.moveToDelayed(Math.max(at, Date.now()), h.token);
      } catch (err) {
        log.warn({ key: task.key, err: errorMessage(err) }, 'could not put a task back; offering it again');
        await queue.offer([next]);
      }
    },

    async remove(key) {
      await start();
      const existing = await find(key);
      if (!existing) return false;
      const state = await existing.job.getState();
      if (!(QUEUED_STATES as readonly string[]).includes(state)) return false;
      try {
        await existing.job.remove();
        return true;
      } catch {
        return false;
      }
    },

    async size(job) {
      await start();
      if (job === undefined) {
        const [a, b] = await Promise.all([main.getJobCountByTypes(...QUEUED_STATES), parked.getJobCountByTypes(...QUEUED_STATES)]);
        return a + b;
      }
      return (await listQueued(job)).length;
    },

    async inFlight(job) {
      await start();
      if (job === undefined) return main.getJobCountByTypes('active');
      return (await main.getActive()).filter((j) => (j?.data as Stored<P> | undefined)?.job === job).length;
    },

    async nextAvailableAt() {
      await start();
      if (await main.isPaused()) return undefined;
      if ((await main.getJobCountByTypes('wait', 'prioritized')) > 0) return Date.now();
      const [first] = await main.getDelayed(0, 0);
      if (!first) return undefined;
      // BullMQ's `moveToDelayed` (a retry) keeps the job's first `timestamp`, so timestamp + delay
      // falls short by the time the task spent queued and in flight; `notBefore` is what the task
      // was delayed to (written by every add and retry), and BullMQ never releases it earlier.
      const notBefore = (first.data as Stored<P> | undefined)?.notBefore;
      return Math.max(first.timestamp + (first.delay ?? 0), typeof notBefore === 'number' ? notBefore : 0);
    },

    async pause(job) {
      await start();
      if (job === undefined) return void (await main.pause());
      await meta.add('paused', { job }, { jobId: pausedIdOf(job) });
      await moveJobTasks(job, main, parked);
    },

    async resume(job) {
      await start();
      if (job === undefined) return void (await main.resume());
      // By the name in the marker's data: a marker left by an older version has a raw id.
      for (const j of await meta.getJobs(['wait'])) {
        if (j?.id?.startsWith(PAUSED_PREFIX) && (j.data as { job?: unknown } | undefined)?.job === job) await j.remove().catch(() => {});
      }
      await moveJobTasks(job, parked, main);
      notifyWatchers();
    },

    async isPaused(job) {
      await start();
      if (job === undefined) return main.isPaused();
      return (await readPaused()).has(job);
    },

    async clear(job) {
      await start();
      let removed = 0;
      for (const { job: j } of await listQueued(job)) {
        try {
          await j.remove();
          removed++;
        } catch {
          // Taken meanwhile.
        }
      }
      return removed;
    },

    async broadcastAbort(job) {
      await start();
      const at = Date.now();
      await meta.add('abort', { job: job ?? '*', at, from: instance }, { jobId: `${ABORT_PREFIX}${randomUUID()}` });
    },

    watch(listener) {
      watchers.add(listener);
      if (!pollTimer) {
        watchedAt = Date.now();
        pollTimer = setInterval(() => void poll(), o.pollMs);
        pollTimer.unref();
        void poll(); // at once: an abort sent in the first poll interval still arrives
      }
      return () => {
        watchers.delete(listener);
        if (watchers.size === 0 && pollTimer) {
          clearInterval(pollTimer);
          pollTimer = undefined;
        }
      };
    },

    async priorityOf(task) {
      return priorityFor(task, await readOrigin(Date.now()));
    },

    async close() {
      if (closed) return;
      closed = true;
      if (pollTimer) clearInterval(pollTimer);
      if (lockTimer) clearInterval(lockTimer);
      watchers.clear();
      // Tasks still held go back at once rather than after their lock lapses.
      for (const h of held.values()) await h.job.moveToDelayed(Date.now(), h.token).catch(() => {});
      held.clear();
      await worker.close().catch(() => {});
      await Promise.all([main.close(), parked.close(), meta.close()]).catch(() => {});
    },
  };

  function notifyWatchers(signal?: QueueSignal) {
    for (const w of watchers) {
      try {
        w(signal);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /**
   * Puts back tasks parked for a job that is not paused. An offer or a take that read the job as
   * paused parks its task a moment later; if another instance resumed the job in between, its
   * resume has already moved the parked tasks, and this one would stay parked for good.
   */
  async function unparkStranded() {
    // Rare (an offer racing a resume), and reading every parked task costs while a job with many
    // keys is paused: looked at every few polls, not every one.
    if (Date.now() - unparkedAt < UNPARK_EVERY_POLLS * o.pollMs) return;
    unparkedAt = Date.now();
    if ((await parked.getJobCountByTypes(...QUEUED_STATES)) === 0) return;
    // The parked tasks first, then the markers: a pause made in between (marker written, then its
    // tasks moved) is then seen as paused, and its tasks are not sent back.
    const parkedJobs = new Set<string>();
    for (const j of await parked.getJobs([...QUEUED_STATES])) {
      const job = (j?.data as Stored<P> | undefined)?.job;
      if (job !== undefined) parkedJobs.add(job);
    }
    const paused = await readPaused();
    for (const job of parkedJobs) if (!paused.has(job)) await moveJobTasks(job, parked, main);
  }

  /** One look at the shared markers: pass on other instances' aborts, put back stranded tasks, then wake the watchers. */
  async function poll() {
    if (polling || closed) return;
    polling = true;
    try {
      const now = Date.now();
      const present = new Set<string>();
      for (const j of await meta.getJobs(['wait'])) {
        if (!j?.id?.startsWith(ABORT_PREFIX)) continue;
        const marker = j.data as { job: string; at: number; from: string };
        // Markers outlive every instance's poll by far; the oldest are swept by whoever sees them.
        if (marker.at < now - ABORT_MARKER_TTL_MS) {
          await j.remove().catch(() => {});
          continue;
        }
        present.add(j.id);
        if (abortsSeen.has(j.id)) continue;
        abortsSeen.set(j.id, now);
        const fresh = watchedAt === undefined || marker.at >= watchedAt - o.pollMs;
        if (fresh && marker.from !== instance) notifyWatchers({ abort: marker.job });
      }
      watchedAt = undefined;
      // Forget markers that are gone (swept); a marker is never re-added under the same id.
      for (const id of abortsSeen.keys()) if (!present.has(id)) abortsSeen.delete(id);
      await unparkStranded();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not read the shared markers');
    } finally {
      polling = false;
    }
    notifyWatchers();
  }

  return queue;
}
