import type { Provider } from '@nestjs/common';
import { createSyncEngine, noopLogger, type JobDefinition, type Logger } from '@tidesync/core';
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
export const syncProviders: Provider[] = [
  {
    provide: TIDESYNC_SETTINGS,
    inject: [TIDESYNC_MODULE_OPTIONS],
    useFactory: (options: SyncModuleOptions | undefined) => resolveSettings(options),
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
      // The Nest-only settings are not engine options; core would reject them as unknown shapes.
      const { autoStart: _a, jobOverrides: _o, health: _h, logger: _l, ...engineOptions } = options ?? ({} as SyncModuleOptions);
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
