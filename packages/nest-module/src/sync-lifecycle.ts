import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { ResolvedSettings } from './module-settings.js';
import { SyncEngine } from './sync-engine.js';
import { TIDESYNC_SETTINGS } from './tokens.js';

/**
 * Ties the engine to the application's lifecycle.
 *
 * - Start on `onApplicationBootstrap`: after every module's `onModuleInit`, so all `@SyncJob`
 *   methods are registered and the providers they use are initialised. `autoStart: false` leaves
 *   starting to the caller (CLIs, tests).
 * - Stop on `onModuleDestroy`, the first shutdown hook: ticks stop, in-flight fetches get the
 *   engine's `drainMs` to finish and be written, the rest are aborted; this resolves only then.
 *   Nest destroys modules from the root down and global modules last, so a module this one imports
 *   (the store's database module, say) and every global module close their pools after the last
 *   write, not under it — even those that close in `onModuleDestroy`, as many do. (A later hook,
 *   `beforeApplicationShutdown`, would run after every module's `onModuleDestroy`.) Signals reach
 *   this hook only when the app called `enableShutdownHooks()`; `app.close()` always does.
 */
@Injectable()
export class SyncLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly engine: SyncEngine,
    @Inject(TIDESYNC_SETTINGS) private readonly settings: ResolvedSettings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.autoStart) await this.engine.start();
  }

  async onModuleDestroy(): Promise<void> {
    // A no-op when the engine never started (autoStart off) or was stopped by hand.
    await this.engine.stop();
  }
}
