import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { errorMessage, type EngineStatus, type Store } from '@tidesync/core';
import type { ResolvedSettings } from '../module-settings.js';
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
 * - fetches that finished after their deadline (since the process started) exceed `maxDeadlineMisses`.
 * Thresholds left unset are reported but not enforced. Right after a start every covered key that
 * was never fetched counts as stale, so `maxStaleKeys` suits readiness probes more than liveness.
 */
@Injectable()
export class SyncHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    @Inject(TIDESYNC_ENGINE) private readonly engine: SyncEngine,
    @Inject(TIDESYNC_MODULE_OPTIONS) private readonly options: SyncModuleOptions,
    @Inject(TIDESYNC_SETTINGS) private readonly settings: ResolvedSettings,
  ) {}

  /** `key` names the entry in the health report; `overrides` replace the module's `health` defaults. */
  async isHealthy<const Key extends string = 'tidesync'>(
    key: Key = 'tidesync' as Key,
    overrides: SyncHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const limits = { ...this.settings.health, ...withoutUndefined(overrides) };
    const indicator = this.health.check(key);
    const problems: string[] = [];

    const storeProblem = await probe(this.options.store, limits.storeTimeoutMs);
    if (storeProblem) problems.push(`store unreachable: ${storeProblem}`);

    let status: EngineStatus;
    try {
      status = await this.engine.status();
    } catch (err) {
      problems.push(`engine status failed: ${errorMessage(err)}`);
      return indicator.down({ problems });
    }
    const staleKeys = sum(status.jobs.map((job) => job.freshness.stale));
    const deadlineMisses = sum(status.jobs.map((job) => job.deadlineMisses));
    if (limits.requireRunning && status.state !== 'running') problems.push(`engine is ${status.state}`);
    if (limits.maxStaleKeys !== undefined && staleKeys > limits.maxStaleKeys) {
      problems.push(`${staleKeys} stale keys (max ${limits.maxStaleKeys})`);
    }
    if (limits.maxDeadlineMisses !== undefined && deadlineMisses > limits.maxDeadlineMisses) {
      problems.push(`${deadlineMisses} deadline misses (max ${limits.maxDeadlineMisses})`);
    }

    const data = {
      state: status.state,
      store: storeProblem ? 'down' : 'up',
      staleKeys,
      deadlineMisses,
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
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    // A hung store must not keep the process alive just for this probe.
    timer.unref();
  });
  try {
    return await Promise.race([store.readPaused().then(() => undefined), timeout]);
  } catch (err) {
    return errorMessage(err);
  } finally {
    clearTimeout(timer);
  }
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
