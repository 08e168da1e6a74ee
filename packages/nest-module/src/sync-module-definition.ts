import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SyncModuleOptions } from './sync-module-options.js';
import { TIDESYNC_MODULE_OPTIONS } from './tokens.js';

/**
 * `forRoot` / `forRootAsync` come from Nest's `ConfigurableModuleBuilder`, so async setup takes
 * exactly what every official module takes: `imports`, `inject` with `useFactory`, `useClass`
 * (a class with `createSyncOptions()`), or `useExisting`. `isGlobal` is an extra, not an option:
 * the builder strips it before the options reach the engine.
 */
export const {
  ConfigurableModuleClass: ConfigurableSyncModule,
  OPTIONS_TYPE: SYNC_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SYNC_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SyncModuleOptions>({ moduleName: 'Sync', optionsInjectionToken: TIDESYNC_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createSyncOptions')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** What `forRoot` accepts: the module options plus `isGlobal`. */
export type SyncModuleRootOptions = typeof SYNC_OPTIONS_TYPE;
/** What `forRootAsync` accepts. */
export type SyncModuleAsyncOptions = typeof SYNC_ASYNC_OPTIONS_TYPE;

/** Implemented by a `useClass` / `useExisting` options provider. */
export interface SyncOptionsFactory {
  createSyncOptions(): SyncModuleOptions | Promise<SyncModuleOptions>;
}
