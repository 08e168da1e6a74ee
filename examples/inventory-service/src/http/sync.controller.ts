import { Body, Controller, Get, HttpCode, Inject, Logger, Patch, Post, Query, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { redactConnectionString } from '@tidesync/adapter-postgres';
import { SyncError } from '@tidesync/core';
import { SyncEngine } from '@tidesync/nestjs';
import type { ServiceRuntime } from '../runtime.js';
import { SERVICE_RUNTIME } from '../tokens.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { triggerBodySchema } from './openapi.js';
import { ZodPipe, forceQuery, triggerBody } from './validation.js';

const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());
const log = new Logger('Sync');

/** How long a call into the engine may wait for its queue (a shared one's server may be away). */
export const QUEUE_ANSWER_MS = 5_000;

/**
 * `work`, or 503 when it does not settle within `QUEUE_ANSWER_MS`: with SYNC_QUEUE=bullmq the
 * engine's calls wait for Redis (or the database) to come back, and an HTTP client should not wait
 * with them. The call itself goes on and may still take effect then; `late` says so.
 */
async function answered<T>(work: Promise<T>, late: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceUnavailableException(late)), QUEUE_ANSWER_MS);
  });
  work.catch(() => {}); // settled later, after the 503: not an unhandled rejection
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const NO_ANSWER = `the sync queue did not answer within ${QUEUE_ANSWER_MS / 1000} s (with SYNC_QUEUE=bullmq its server may be away)`;

/**
 * A pause or resume the store could not save is in effect all the same (see the engine's
 * `pause`): 503 as for any call while the database is away, but saying what did happen, so an
 * operator does not take it for a pause that failed.
 */
async function notStored(change: Promise<void>, message: string): Promise<void> {
  try {
    await change;
  } catch (err) {
    if (!(err instanceof SyncError && err.code === 'STORE_FAILED')) throw err;
    log.warn(redactConnectionString(err.message));
    throw new ServiceUnavailableException(message);
  }
}

@ApiTags('sync')
@Controller('sync')
export class SyncController {
  constructor(
    @Inject(SyncEngine) private readonly engine: SyncEngine,
    @Inject(SERVICE_RUNTIME) private readonly runtime: ServiceRuntime,
  ) {}

  @Patch('pause')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Stop fetching (persisted: a restart stays paused); force=true also aborts requests in flight' })
  @ApiQuery({ name: 'force', required: false, enum: ['true', 'false'] })
  async pause(@Query('force', new ZodPipe(forceQuery, 'force')) force: boolean) {
    await answered(notStored(this.engine.pause(undefined, { force }), 'paused, but the database is unavailable: the pause is not saved there, so with SYNC_QUEUE=memory a restart would resume syncing; retry to save it'), `${NO_ANSWER}; the pause takes effect when it does`);
    return { paused: true, force };
  }

  @Patch('resume')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  async resume() {
    await answered(notStored(this.engine.resume(), 'resumed, but the database is unavailable: the resume is not saved there, so with SYNC_QUEUE=memory a restart would pause again; retry to save it'), `${NO_ANSWER}; the resume takes effect when it does`);
    return { paused: false };
  }

  @Post('trigger')
  @HttpCode(202)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Plan a cadence (or all) now, fetching its keys even if fresh' })
  @ApiBody({ schema: triggerBodySchema, required: false })
  async trigger(@Body(new ZodPipe(triggerBody, 'body')) body: { job?: 'today' | 'week' | 'month' }) {
    await answered(this.engine.trigger(body.job), `${NO_ANSWER}; the trigger takes effect when it does`);
    return { triggered: body.job ?? 'all' };
  }

  /** The status read under way: requests that come while it waits share it (see `answered`). */
  private statusRead: ReturnType<SyncEngine['status']> | undefined;

  @Get('status')
  @ApiOperation({ summary: 'Per cadence: ticks, queue, outcomes, budget and freshness' })
  async status() {
    // One read at a time: a request that gave up after 5 s leaves its read waiting for the queue,
    // and each poll during an outage would otherwise queue one more.
    this.statusRead ??= this.engine.status().finally(() => {
      this.statusRead = undefined;
    });
    const s = await answered(this.statusRead, `${NO_ANSWER}; retry shortly`);
    const perJob = this.runtime.requestsInWindow();
    return {
      state: s.state,
      paused: s.paused,
      budget: s.budget && { ...s.budget, frozenUntil: iso(s.budget.frozenUntil) },
      deadLetters: s.deadLetters,
      pendingWrites: s.pendingWrites,
      cadences: s.jobs.map((j) => ({
        name: j.name,
        schedule: j.schedule,
        timezone: j.timezone,
        freshForMs: j.freshForMs,
        paused: j.paused,
        nextTickAt: iso(j.nextTickAt),
        lastTickAt: iso(j.lastTickAt),
        queued: j.queued,
        inFlight: j.inFlight,
        done: j.done,
        failed: j.failed,
        retried: j.retried,
        deadLettered: j.deadLettered,
        budgetUsed: perJob[j.name] ?? 0,
        freshness: j.freshness,
        deadlineMisses: j.deadlineMisses,
        lastMissAt: iso(j.lastMissAt),
      })),
    };
  }
}
