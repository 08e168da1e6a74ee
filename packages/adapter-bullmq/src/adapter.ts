/**
 * One call that wires a deployment onto BullMQ: the shared queue, the ticks and the budget, all on
 * one connection and one name. Every instance of the service calls it with the same name.
 */
import { z } from 'zod';
import { implementsOption, parseOptions, type Logger, type RateLimiter, type Scheduler } from '@tidesync/core';
import { connect, connectionIssues, DEFAULT_CLOSE_TIMEOUT_MS, settlesWithin, type Backend, type BullMQConnectionOptions } from './connection.js';
import { createBullMQQueue, queueOptionsSchema, type BullMQQueue, type BullMQQueueOptions } from './bullmq-queue.js';
import { createBullMQScheduler, type BullMQSchedulerOptions } from './bullmq-scheduler.js';
import { createSharedRateLimiter, type SharedRateLimiterOptions } from './shared-rate-limiter.js';

const optionsSchema = z.object({
  // Checked in full by `connectionIssues` (below), so its problems join the others in one error.
  connection: z.custom<BullMQConnectionOptions>(() => true),
  /** The deployment's name: queues, ticks and the budget are namespaced by it. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,60}$/, 'letters, digits, "_" and "-" only'),
  logger: implementsOption<Logger>('a Logger', ['debug', 'info', 'warn', 'error']).optional(),
  closeTimeoutMs: z.number().int().positive().default(DEFAULT_CLOSE_TIMEOUT_MS),
  // The queue's own schema: its problems are listed with the adapter's, not one run later.
  queue: queueOptionsSchema.omit({ name: true, logger: true }).optional(),
});

export interface BullMQAdapterOptions {
  connection: BullMQConnectionOptions;
  name: string;
  /** Connection errors and the queue's and scheduler's warnings go here (see the README). */
  logger?: Logger;
  /**
   * Longest `close()` waits for a graceful close (held tasks handed back, connections quit)
   * before it drops the connections, for a server that is away. Default 5000 ms.
   */
  closeTimeoutMs?: number;
  /** Queue tuning (deadline resolution, lock duration, stalled check, poll interval, bands). */
  queue?: Omit<BullMQQueueOptions, 'name' | 'logger'>;
}

export interface BullMQAdapter<P = unknown> {
  /** The shared queue: pass as the engine's `queue`. */
  readonly queue: BullMQQueue<P>;
  /** The shared ticks: pass as the engine's `scheduler` (give it the Store as `persistence`). */
  scheduler(options?: Omit<BullMQSchedulerOptions, 'name'>): ReturnType<typeof createBullMQScheduler>;
  /** The shared budget: pass as the engine's `rateLimit`. */
  rateLimiter(options: Omit<SharedRateLimiterOptions, 'name'> & { name?: string }): RateLimiter;
  /** Where it points, without credentials. */
  describe(): string;
  readonly backend: Backend;
  /**
   * Close the queue, the schedulers, the budgets and the connections this adapter opened; within
   * `closeTimeoutMs` plus a second even when the server is away.
   */
  close(): Promise<void>;
}

export function createBullMQAdapter<P = unknown>(options: BullMQAdapterOptions): BullMQAdapter<P> {
  const o = parseOptions('BullMQ adapter options', optionsSchema, options, (input) =>
    connectionIssues((input as { connection?: unknown } | undefined)?.connection).map((i) => ({ ...i, path: i.path ? `connection.${i.path}` : 'connection' })),
  );
  const backend = connect(options.connection, { ...(o.logger ? { logger: o.logger } : {}), closeTimeoutMs: o.closeTimeoutMs });
  const queue = createBullMQQueue<P>(backend, { ...options.queue, name: o.name, ...(o.logger ? { logger: o.logger } : {}) });
  const limiters: RateLimiter[] = [];
  const schedulers: Scheduler[] = [];
  return {
    queue,
    backend,
    scheduler(schedulerOptions = {}) {
      const scheduler = createBullMQScheduler(backend, { ...(o.logger ? { logger: o.logger } : {}), ...schedulerOptions, name: `${o.name}.ticks` });
      schedulers.push(scheduler);
      return scheduler;
    },
    rateLimiter(limiterOptions) {
      const limiter = createSharedRateLimiter(backend, { ...limiterOptions, name: limiterOptions.name ?? o.name });
      limiters.push(limiter);
      return limiter;
    },
    describe: () => backend.describe(),
    async close() {
      // Gracefully while the server answers. Past the timeout the backend drops its connections,
      // which fails the commands this is still waiting on (a held task's hand-back): its lock
      // lapses and another instance takes it then.
      const graceful = (async () => {
        // The schedulers stop before the queue closes: a tick still waiting (bufferOne) goes back
        // rather than running its plan against a queue that is closing. (The engine's stop does the
        // same; a close without it would otherwise leave the ticks running.) The limiters close
        // meanwhile, whatever becomes of the stops: a tick handler that hangs must not leave their
        // waiters and timers behind.
        const stops = Promise.all(schedulers.splice(0).map((s) => s.stop()));
        for (const l of limiters.splice(0)) await l.close?.();
        await settlesWithin(stops, o.closeTimeoutMs);
        await queue.close?.();
      })();
      const started = Date.now();
      await settlesWithin(graceful, o.closeTimeoutMs);
      await backend.close({ timeoutMs: Math.max(0, o.closeTimeoutMs - (Date.now() - started)) });
    },
  };
}
