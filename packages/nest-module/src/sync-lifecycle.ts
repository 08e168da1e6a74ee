import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { ResolvedSettings } from './module-settings.js';
import { SyncEngine } from './sync-engine.js';
import { TIDESYNC_SETTINGS } from './tokens.js';

/**
 * Ties the engine to the application's lifecycle.
 *
 * - Start on `onApplicationBootstrap`: after every module's `onModuleInit`, so all `@SyncJob`
 *   methods are registered and the providers they use are initialised. `autoStart: false` leaves
 *   starting to the caller (CLIs, tests).
 * - Stop on `beforeApplicationShutdown`: ticks stop, in-flight fetches get the engine's `drainMs`
 *   to finish and be written, the rest are aborted; this resolves only then, so Nest closes
 *   database pools (in `onApplicationShutdown`) after the last write, not under it. Signals reach
 *   this hook only when the app called `enableShutdownHooks()`; `app.close()` always does.
 */
@Injectable()
export class SyncLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly engine: SyncEngine,
    @Inject(TIDESYNC_SETTINGS) private readonly settings: ResolvedSettings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.autoStart) await this.engine.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    // A no-op when the engine never started (autoStart off) or was stopped by hand.
    await this.engine.stop();
  }
}
