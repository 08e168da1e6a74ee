/**
 * Injection tokens of the module. They are namespaced strings, not symbols, so two copies of this
 * package in one application (a hoisting accident) still resolve each other's providers, and so
 * they read well in Nest's "cannot resolve dependency" errors.
 *
 * The engine itself is also injectable by class: see `SyncEngine`.
 */

/** The options exactly as given to `forRoot`, or as returned by the `forRootAsync` factory. */
export const TIDESYNC_MODULE_OPTIONS = 'TIDESYNC_MODULE_OPTIONS';

/** The engine (same instance as the `SyncEngine` class token). */
export const TIDESYNC_ENGINE = 'TIDESYNC_ENGINE';

/** The pino-shaped logger the engine writes to: the one passed in, or the bridge to Nest's `Logger`. */
export const TIDESYNC_LOGGER = 'TIDESYNC_LOGGER';

/** The module's own settings (`autoStart`, `jobOverrides`, `health`), validated and defaulted. */
export const TIDESYNC_SETTINGS = 'TIDESYNC_SETTINGS';
