import type { JobDefinition, Logger, SyncEngineOptions } from '@tidesync/core';

/**
 * What `SyncModule.forRoot` takes (and what a `forRootAsync` factory returns): the engine's own
 * options, validated by core exactly as `createSyncEngine` validates them, plus a few settings that
 * only make sense inside Nest.
 */

/** Config-driven changes to a job declared in code (with `@SyncJob` or in `jobs`). */
export interface SyncJobOverride {
  /** `false` leaves the job out of the engine entirely (e.g. off in one environment). */
  enabled?: boolean;
  schedule?: string;
  timezone?: string;
  freshFor?: number;
  priority?: number;
  overlap?: JobDefinition['overlap'];
  jitterMs?: number;
  catchUp?: boolean;
  runOnStart?: boolean;
}

/** When `SyncHealthIndicator` reports the engine down. Thresholds left unset are not enforced. */
export interface SyncHealthOptions {
  /** Down when more covered keys than this, across all jobs, are past their freshness target. */
  maxStaleKeys?: number;
  /** Down when more fetches than this finished after their key's deadline within `deadlineMissWindowMs`. Below 100,000 (the most late fetches the check keeps). */
  maxDeadlineMisses?: number;
  /** The window `maxDeadlineMisses` counts in, on the engine's clock. Default one hour. */
  deadlineMissWindowMs?: number;
  /** Longest the store may take to answer the reachability probe. Default 2000 ms. */
  storeTimeoutMs?: number;
  /**
   * Longest the engine's status may take: it reads the queue's and the rate limiter's counts, so a
   * shared queue or budget whose server is away (commands wait for it) would hang the check.
   * Past it the check is down, naming the wait. Default 5000 ms.
   */
  statusTimeoutMs?: number;
  /** Down while the engine is not running (not started yet, stopping, stopped). Default true. */
  requireRunning?: boolean;
}

export interface SyncModuleSettings {
  /** Start the engine on application bootstrap. Default true; turn off for CLIs and some tests. */
  autoStart?: boolean;
  /** Per-job changes by job name, typically read from configuration. */
  jobOverrides?: Record<string, SyncJobOverride>;
  /** Defaults of `SyncHealthIndicator`; each check may override them. */
  health?: SyncHealthOptions;
}

export type SyncModuleOptions = Omit<SyncEngineOptions, 'logger'> &
  SyncModuleSettings & {
    /**
     * A pino-shaped logger (`info(fields, message)`), or `false` for silence. Default: a bridge to
     * Nest's `Logger` under the `Tidesync` context, so the engine logs where the application does.
     */
    logger?: Logger | false;
  };
