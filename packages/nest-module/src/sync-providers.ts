import type { Provider } from '@nestjs/common';
import { SyncConfigError, createSyncEngine, noopLogger, type ConfigIssue, type JobDefinition, type Logger } from '@tidesync/core';
import { applyJobOverride } from './job-overrides.js';
import { resolveSettings, type ResolvedSettings } from './module-settings.js';
import { createNestLoggerBridge } from './nest-logger-bridge.js';
import { SyncEngine } from './sync-engine.js';
import type { SyncModuleOptions } from './sync-module-options.js';
import { TIDESYNC_ENGINE, TIDESYNC_LOGGER, TIDESYNC_MODULE_OPTIONS, TIDESYNC_SETTINGS } from './tokens.js';

/**
 * The providers built from the module options: settings, logger, engine.
 *
 * The engine is created by `createSyncEngine` itself, so every engine option is validated by core
 * and a bad one fails module initialisation with core's `SyncConfigError` (every problem listed).
 * Jobs from `@SyncJob` methods are added later, by the explorer, before the engine starts.
 */
/** The options core's engine takes: the module's, less the Nest-only settings (core would reject them as unknown). */
const engineOptionsOf = (options: SyncModuleOptions | undefined) => {
  const { autoStart: _a, jobOverrides: _o, health: _h, logger: _l, ...engineOptions } = options ?? ({} as SyncModuleOptions);
  return engineOptions;
};

/**
 * The settings, or one `SyncConfigError` listing the settings' problems and the engine options'
 * together: the settings are resolved first (the engine's provider needs them), and failing on
 * them alone would name the engine options' problems only on the next run.
 */
function settingsOrEveryProblem(options: SyncModuleOptions | undefined): ResolvedSettings {
  try {
    return resolveSettings(options);
  } catch (err) {
    if (!(err instanceof SyncConfigError)) throw err;
    let engineIssues: readonly ConfigIssue[] = [];
    const engineOptions = engineOptionsOf(options);
    try {
      // Validation only: an engine opens nothing until it starts, and this one never does. It
      // adds its jobs to the scheduler, though: a scheduler given in the options is seen through a
      // view whose add/remove do nothing (its shape is still checked). Jobs are left out when
      // overrides are set: an override the settings' problems kept from applying may fix them.
      const scheduler = engineOptions.scheduler;
      const inert =
        typeof scheduler === 'object' && scheduler !== null
          ? new Proxy(scheduler, { get: (target, key) => (key === 'add' || key === 'remove') && typeof Reflect.get(target, key) === 'function' ? () => {} : Reflect.get(target, key) })
          : scheduler;
      createSyncEngine({ ...engineOptions, ...(options?.jobOverrides !== undefined ? { jobs: [] } : {}), scheduler: inert, logger: noopLogger });
    } catch (engineErr) {
      if (engineErr instanceof SyncConfigError) engineIssues = engineErr.issues;
    }
    if (engineIssues.length === 0) throw err;
    throw new SyncConfigError('tidesync module options', [...err.issues, ...engineIssues]);
  }
}

export const syncProviders: Provider[] = [
  {
    provide: TIDESYNC_SETTINGS,
    inject: [TIDESYNC_MODULE_OPTIONS],
    useFactory: (options: SyncModuleOptions | undefined) => settingsOrEveryProblem(options),
  },
  {
    provide: TIDESYNC_LOGGER,
    inject: [TIDESYNC_MODULE_OPTIONS],
    useFactory: (options: SyncModuleOptions | undefined): Logger => {
      if (options?.logger === false) return noopLogger;
      return options?.logger ?? createNestLoggerBridge();
    },
  },
  {
    provide: SyncEngine,
    inject: [TIDESYNC_MODULE_OPTIONS, TIDESYNC_SETTINGS, TIDESYNC_LOGGER],
    useFactory: (options: SyncModuleOptions | undefined, settings: ResolvedSettings, logger: Logger) => {
      const engineOptions = engineOptionsOf(options);
      const jobs = Array.isArray(engineOptions.jobs)
        ? engineOptions.jobs
            .map((job) => applyJobOverride(job, settings.jobOverrides))
            .filter((job): job is JobDefinition => job !== undefined)
        : engineOptions.jobs; // not an array: let core report it
      return createSyncEngine({ ...engineOptions, jobs, logger });
    },
  },
  { provide: TIDESYNC_ENGINE, useExisting: SyncEngine },
];
