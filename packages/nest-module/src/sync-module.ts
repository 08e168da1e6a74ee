import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { SyncEngine } from './sync-engine.js';
import { SyncJobExplorer } from './sync-job-explorer.js';
import { SyncLifecycle } from './sync-lifecycle.js';
import { ConfigurableSyncModule } from './sync-module-definition.js';
import { syncProviders } from './sync-providers.js';
import { TIDESYNC_ENGINE, TIDESYNC_LOGGER, TIDESYNC_MODULE_OPTIONS, TIDESYNC_SETTINGS } from './tokens.js';

/**
 * `SyncModule.forRoot(options)` / `SyncModule.forRootAsync({ imports, inject, useFactory })`.
 *
 * One engine per import of `forRoot*`: import it once (at the root, `isGlobal: true` to reach
 * feature modules) and inject `SyncEngine` wherever it is needed. The options token is exported
 * too, so `SyncHealthIndicator` can probe the configured store.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [...syncProviders, SyncJobExplorer, SyncLifecycle],
  exports: [SyncEngine, TIDESYNC_ENGINE, TIDESYNC_LOGGER, TIDESYNC_SETTINGS, TIDESYNC_MODULE_OPTIONS],
})
export class SyncModule extends ConfigurableSyncModule {}
