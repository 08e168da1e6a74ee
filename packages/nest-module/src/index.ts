// Module
export { SyncModule } from './sync-module.js';
export type { SyncModuleRootOptions, SyncModuleAsyncOptions, SyncOptionsFactory } from './sync-module-definition.js';
export type { SyncModuleOptions, SyncModuleSettings, SyncJobOverride, SyncHealthOptions } from './sync-module-options.js';

// Injection
export { SyncEngine } from './sync-engine.js';
export { InjectSyncEngine } from './inject-sync-engine.js';
export { TIDESYNC_MODULE_OPTIONS, TIDESYNC_ENGINE, TIDESYNC_LOGGER, TIDESYNC_SETTINGS } from './tokens.js';

// Jobs
export { SyncJob, SYNC_JOB_METADATA } from './sync-job.js';
export type { SyncJobOptions, SyncJobOptionsFactory, PlanMethod } from './sync-job.js';

// Logging
export { createNestLoggerBridge } from './nest-logger-bridge.js';
