import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { errorMessage, type EngineStatus, type Store } from '@tidesync/core';
import { MAX_KEPT_MISSES, resolveHealthOverrides, type ResolvedSettings } from '../module-settings.js';
import type { SyncHealthOptions, SyncModuleOptions } from '../sync-module-options.js';
import { TIDESYNC_ENGINE, TIDESYNC_MODULE_OPTIONS, TIDESYNC_SETTINGS } from '../tokens.js';
import type { SyncEngine } from '../sync-engine.js';
import { withoutUndefined } from '../util/without-undefined.js';

/**
 * Terminus health indicator for the engine, built on Terminus's `HealthIndicatorService` (the API
 * since Terminus 11; the `HealthIndicator` base class is deprecated). Provide it in a module that
 * imports `TerminusModule` and sees `SyncModule`'s exports.
 *
 * Down when any of these holds, all reported at once in `problems`:
 * - the store does not answer `readPaused()` within `storeTimeoutMs` (unreachable or hung);
 * - the engine is not running and `requireRunning` is on (the default);
 * - stale keys across all jobs exceed `maxStaleKeys`;
 * - fetches that finished after their deadline within the last `deadlineMissWindowMs` (default one
 *   hour, on the engine's clock) exceed `maxDeadlineMisses`. A count since start would keep a
 *   service that had one bad hour down for good; the indicator counts late completions itself, from
 *   `task:done`, as they happen.
 * Thresholds left unset are reported but not enforced. Right after a start every covered key that
 * was never fetched counts as stale, so `maxStaleKeys` suits readiness probes more than liveness.
 */
@Injectable()
export class SyncHealthIndicator {
  /** Engine-clock times of late completions, oldest first. */
  private readonly lateAt: number[] = [];
  /** How far back they are kept: a day, or the module's window when longer (per-call windows reach back this far). */
  private readonly keepMs: number;

  constructor(
    private readonly health: HealthIndicatorService,
    @Inject(TIDESYNC_ENGINE) private readonly engine: SyncEngine,
    @Inject(TIDESYNC_MODULE_OPTIONS) private readonly options: SyncModuleOptions,
    @Inject(TIDESYNC_SETTINGS) private readonly settings: ResolvedSettings,
  ) {
    this.keepMs = Math.max(settings.health.deadlineMissWindowMs, DAY_MS);
    engine.on('task:done', (e) => {
      if (!e.late) return;
      this.lateAt.push(e.fetchedAt);
      // Bounded however seldom anyone asks: what is older than kept, or past the cap, is dropped.
      this.forgetBefore(e.fetchedAt - this.keepMs);
      if (this.lateAt.length > MAX_KEPT_MISSES) this.lateAt.splice(0, this.lateAt.length - MAX_KEPT_MISSES);
    });
  }

  /** The status read under way: checks that come while it waits share it. */
  private statusRead: Promise<EngineStatus> | undefined;

  /**
   * One status read at a time. A check gives up on a read after `statusTimeoutMs`, but the read
   * goes on (a shared queue's commands wait for its server); without sharing, every probe during
   * an outage would queue one more set of commands.
   */
  private sharedStatus(): Promise<EngineStatus> {
    this.statusRead ??= Promise.resolve()
      .then(() => this.engine.status())
      .finally(() => {
        this.statusRead = undefined;
      });
    return this.statusRead;
  }

  private forgetBefore(at: number): void {
    let drop = 0;
    while (drop < this.lateAt.length && this.lateAt[drop]! < at) drop++;
    if (drop > 0) this.lateAt.splice(0, drop);
  }

  /** Late completions within the last `windowMs`. */
  private recentMisses(windowMs: number): number {
    const now = this.options.clock?.now() ?? Date.now();
    this.forgetBefore(now - this.keepMs);
    const since = now - windowMs;
    return this.lateAt.filter((at) => at >= since).length;
  }

  /**
   * `key` names the entry in the health report; `overrides` replace the module's `health` defaults
   * (checked like them: an invalid one throws `SyncConfigError`, and so does a
   * `deadlineMissWindowMs` reaching back further than late fetches are kept, a day or the module's
   * window).
   */
  async isHealthy<const Key extends string = 'tidesync'>(
    key: Key = 'tidesync' as Key,
    overrides: SyncHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const limits = { ...this.settings.health, ...withoutUndefined(resolveHealthOverrides(overrides, this.keepMs)) };
    const indicator = this.health.check(key);
    const problems: string[] = [];

    // Both at once: the check takes at most the longer of the two timeouts.
    const [storeProblem, answer] = await Promise.all([
      probe(this.options.store, limits.storeTimeoutMs),
      within(this.sharedStatus(), limits.statusTimeoutMs),
    ]);
    if (storeProblem) problems.push(`store unreachable: ${storeProblem}`);

    let status: EngineStatus;
    if ('value' in answer) status = answer.value;
    else {
      problems.push(`engine status: ${answer.problem} (its queue or rate limiter may be unreachable)`);
      return indicator.down({ store: storeProblem ? 'down' : 'up', problems });
    }
    const staleKeys = sum(status.jobs.map((job) => job.freshness.stale));
    const deadlineMisses = sum(status.jobs.map((job) => job.deadlineMisses));
    const recentDeadlineMisses = this.recentMisses(limits.deadlineMissWindowMs);
    if (limits.requireRunning && status.state !== 'running') problems.push(`engine is ${status.state}`);
    if (limits.maxStaleKeys !== undefined && staleKeys > limits.maxStaleKeys) {
      problems.push(`${staleKeys} stale keys (max ${limits.maxStaleKeys})`);
    }
    if (limits.maxDeadlineMisses !== undefined && recentDeadlineMisses > limits.maxDeadlineMisses) {
      problems.push(`${recentDeadlineMisses} deadline misses in the last ${limits.deadlineMissWindowMs} ms (max ${limits.maxDeadlineMisses})`);
    }

    const data = {
      state: status.state,
      store: storeProblem ? 'down' : 'up',
      staleKeys,
      deadlineMisses,
      recentDeadlineMisses,
      deadLetters: status.deadLetters,
      jobs: Object.fromEntries(
        status.jobs.map((job) => [
          job.name,
          { keys: job.freshness.keys, stale: job.freshness.stale, lagMs: job.freshness.lagMs, deadlineMisses: job.deadlineMisses },
        ]),
      ),
    };
    return problems.length > 0 ? indicator.down({ ...data, problems }) : indicator.up(data);
  }
}

/** The store's cheapest read; returns what went wrong, or undefined when it answered in time. */
async function probe(store: Store, timeoutMs: number): Promise<string | undefined> {
  // Called inside a promise: a store that throws at once (a closed pool) is down, not a crash.
  const answer = await within(Promise.resolve().then(() => store.readPaused()), timeoutMs);
  return 'value' in answer ? undefined : answer.problem;
}

/** `work`'s value, or what kept it: a failure's message, or no answer within `timeoutMs`. */
async function within<T>(work: Promise<T>, timeoutMs: number): Promise<{ value: T } | { problem: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ problem: string }>((resolve) => {
    timer = setTimeout(() => resolve({ problem: `no answer within ${timeoutMs} ms` }), timeoutMs);
    // A hung backend must not keep the process alive just for this check.
    timer.unref();
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), timeout]);
  } catch (err) {
    return { problem: errorMessage(err) };
  } finally {
    clearTimeout(timer);
  }
}

const DAY_MS = 86_400_000;

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
