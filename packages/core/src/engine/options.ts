import type { StandardSchemaV1 } from '@standard-schema/spec';
import { z } from 'zod';
import type { Clock } from '../contracts/clock.js';
import type { Logger } from '../contracts/logger.js';
import type { Queue } from '../contracts/queue.js';
import type { RateLimiter } from '../contracts/rate-limiter.js';
import type { OverlapPolicy, Scheduler, Tick } from '../contracts/scheduler.js';
import type { Source } from '../contracts/source.js';
import type { Store } from '../contracts/store.js';
import type { TaskSpec } from '../contracts/task.js';
import type { ConfigIssue } from '../errors.js';
import { cronProblem } from '../scheduler/cron.js';
import { fn, implementing, nonNegativeInt, positiveInt } from '../util/options.js';

/** What a job's `plan` receives: the tick, plus the time to plan from. */
export interface PlanContext extends Tick {
  job: string;
  /** The clock's now when planning runs. */
  now: number;
  /** The job's time zone, for working out "today". */
  timezone: string;
}

export interface JobDefinition<P = unknown> {
  /** Unique; used in keys of state, status and events. */
  name: string;
  /** Cron expression, 5 fields or 6 with seconds first. */
  schedule: string;
  /** IANA time zone of the schedule. Defaults to the engine's `timezone`. */
  timezone?: string;
  /** The keys this tick covers. Called at every tick; may be async. */
  plan: (context: PlanContext) => Iterable<TaskSpec<P>> | Promise<Iterable<TaskSpec<P>>>;
  /** Freshness target of this job's keys in ms. Defaults to the cron's period. */
  freshFor?: number;
  /** Queue class: higher is served first. Defaults to one derived from `freshFor`, so tighter targets win. */
  priority?: number;
  /** What to do with a tick that fires while the previous one still plans. Default `skip`. */
  overlap?: OverlapPolicy;
  /** Fire up to this many ms late at random. Default 0. */
  jitterMs?: number;
  /** Make up once for a tick missed while no instance ran. Default true. */
  catchUp?: boolean;
  /** Plan once when the engine starts (fresh keys are still skipped). Default false. */
  runOnStart?: boolean;
  /** Validates each fetched payload of this job (any Standard Schema, e.g. zod). */
  validate?: StandardSchemaV1;
  /** Overrides the engine's source for this job. */
  source?: Source<P>;
}

export interface RetryPolicy {
  /** Tries in all, the first included. Default 5. */
  attempts: number;
  /** Delay before the first retry. Default 1 s. */
  baseDelayMs: number;
  /** Growth per retry. Default 2. */
  factor: number;
  /** Cap on one delay. Default 5 min. */
  maxDelayMs: number;
  /** Share of each delay drawn at random (0: exact, 1: full jitter). Default 0.5. */
  jitter: number;
}

const standardSchema = z.custom<StandardSchemaV1>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function',
  { message: 'expected a Standard Schema (e.g. a zod schema)' },
);

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'unknown IANA time zone' },
);

const sourceShape = implementing<Source>('a Source', ['fetch']);

export const jobSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[^*\s]+$/, 'must not be empty, contain spaces or "*"'),
    schedule: z.string().min(1),
    timezone: timeZone.optional(),
    plan: fn<JobDefinition['plan']>('a plan(tick) function'),
    freshFor: positiveInt.optional(),
    priority: z.number().finite().optional(),
    overlap: z.enum(['skip', 'bufferOne']).default('skip'),
    jitterMs: nonNegativeInt.default(0),
    catchUp: z.boolean().default(true),
    runOnStart: z.boolean().default(false),
    validate: standardSchema.optional(),
    source: sourceShape.optional(),
  })
  // An unknown key is most likely a misspelt option: silently dropping it would run with the default.
  .strict()
  .superRefine((job, ctx) => {
    // The time zone is checked on its own field; checking the cron in UTC reports each problem once.
    const problem = cronProblem(job.schedule, 'UTC');
    if (problem) ctx.addIssue({ code: 'custom', path: ['schedule'], message: problem });
  });

export const retrySchema = z
  .object({
    attempts: positiveInt.default(5),
    baseDelayMs: nonNegativeInt.default(1_000),
    factor: z.number().min(1).default(2),
    maxDelayMs: nonNegativeInt.default(300_000),
    jitter: z.number().min(0).max(1).default(0.5),
  })
  .strict();

export const limitSchema = z
  .object({
    limit: positiveInt,
    windowMs: positiveInt,
    safetyMarginMs: nonNegativeInt.optional(),
  })
  .strict();

const limiterShape = implementing<RateLimiter>('a RateLimiter', ['acquire', 'penalize', 'usage']);

/**
 * A RateLimiter instance, or the numbers for the in-process one. Not a `z.union`: a union reports
 * a failure of both branches as one "Invalid input"; this checks the branch the value is meant
 * for (an object with `acquire` is a limiter) and reports that branch's problems with their paths.
 */
const rateLimitOption = z.custom<RateLimiter | z.input<typeof limitSchema>>().superRefine((value, ctx) => {
  const meantAsLimiter = typeof value === 'object' && value !== null && 'acquire' in value;
  const result = (meantAsLimiter ? limiterShape : limitSchema).safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  }
});

export const engineSchema = z
  .object({
    jobs: z.array(jobSchema).default([]),
    source: sourceShape,
    // Every method of the contract the engine calls (the optional ones it checks for itself): a
    // store missing one fails here, listed with the other problems, not later at start.
    store: implementing<Store>('a Store', [
      'write',
      'readKeyStates',
      'recordFailures',
      'readPaused',
      'writePaused',
      'readLastTick',
      'writeLastTick',
      'addDeadLetter',
      'listDeadLetters',
      'removeDeadLetters',
    ]),
    /** A RateLimiter instance (share one across engines for one budget), or the numbers for the in-process one. */
    rateLimit: rateLimitOption.optional(),
    queue: implementing<Queue>('a Queue', ['offer', 'take', 'ack', 'retry', 'remove', 'size', 'inFlight', 'nextAvailableAt', 'pause', 'resume', 'isPaused', 'clear']).optional(),
    scheduler: implementing<Scheduler>('a Scheduler', ['add', 'start', 'stop', 'nextTick']).optional(),
    clock: implementing<Clock>('a Clock', ['now', 'setTimer', 'sleep']).optional(),
    logger: implementing<Logger>('a Logger', ['debug', 'info', 'warn', 'error']).optional(),
    /** Default time zone of jobs. */
    timezone: timeZone.default('UTC'),
    /** Fetches in flight at once. */
    concurrency: positiveInt.default(4),
    /** Scopes per `store.write`. */
    batchSize: positiveInt.default(25),
    /** Longest a fetched scope waits for its batch to fill. */
    flushMs: nonNegativeInt.default(1_000),
    retry: retrySchema.default({ attempts: 5, baseDelayMs: 1_000, factor: 2, maxDelayMs: 300_000, jitter: 0.5 }),
    /** Validates every fetched payload (a job's `validate` overrides it). */
    validate: standardSchema.optional(),
    /** Only a leader fires ticks. Default: the store's `leaderLock` capability when it has one. */
    leadership: z.union([z.literal(false), z.object({ isLeader: fn<() => boolean | Promise<boolean>>() })]).optional(),
    /**
     * Longest one rate-limit answer may freeze the budget. A reset further away — milliseconds
     * read as seconds, a partner clock far off, not a number — is cut to this; the first request
     * after it asks again, and a remote that is still limiting answers 429 again and extends the
     * freeze. (The shortest freeze is one second, for a reset already past.)
     */
    maxRateLimitPenaltyMs: positiveInt.default(3_600_000),
    /** How long `stop()` lets in-flight fetches finish before aborting them. */
    drainMs: nonNegativeInt.default(10_000),
    /**
     * How much longer than `drainMs` `stop()` waits for the scheduler, the queue, the store and the
     * rate limiter to finish. A backend that is away never answers; past this, `stop()` returns.
     */
    stopTimeoutMs: positiveInt.default(10_000),
    random: fn<() => number>().optional(),
  })
  .strict();


/** Job names must be unique: checked on the raw input so it is reported alongside any other problem. */
export function duplicateJobNames(input: unknown): ConfigIssue[] {
  const jobs = (input as { jobs?: unknown } | undefined)?.jobs;
  if (!Array.isArray(jobs)) return [];
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  jobs.forEach((job: { name?: unknown } | undefined, i) => {
    const name = job?.name;
    if (typeof name !== 'string') return;
    if (seen.has(name)) issues.push({ path: `jobs.${i}.name`, message: `duplicate job name "${name}"` });
    seen.add(name);
  });
  return issues;
}

export type SyncEngineOptions<P = unknown, D = unknown> = Omit<
  z.input<typeof engineSchema>,
  'jobs' | 'source' | 'store' | 'queue'
> & {
  jobs?: JobDefinition<P>[];
  source: Source<P, D>;
  store: Store<D>;
  queue?: Queue<P>;
};

export type ResolvedJob = z.output<typeof jobSchema>;
export type ResolvedEngineOptions = z.output<typeof engineSchema>;
