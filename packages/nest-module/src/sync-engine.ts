import type { SyncEngine as CoreSyncEngine } from '@tidesync/core';

/**
 * Class token for the engine, so it injects by type like any Nest service:
 * `constructor(private readonly engine: SyncEngine) {}`.
 *
 * Core's `SyncEngine` is an interface and interfaces leave nothing at runtime for
 * `design:paramtypes` to point at; this abstract class is that runtime anchor. The merged interface
 * gives it exactly core's members, so the value injected is the engine `createSyncEngine` returned,
 * not a wrapper: no method here can drift from core.
 */
export abstract class SyncEngine {}

// Declaration merging: the class token carries the whole engine interface.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface SyncEngine extends CoreSyncEngine {}
