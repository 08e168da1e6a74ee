import { SetMetadata } from '@nestjs/common';
import type { JobDefinition } from '@tidesync/core';

/**
 * `@SyncJob(options)` on a provider method makes that method the `plan` of an engine job.
 *
 * The method runs on the provider instance Nest built, so everything injected into the provider is
 * there when the engine plans a tick. The options are either static, or a function of that same
 * instance, for options that come from configuration:
 *
 * ```ts
 * @SyncJob((self: InventoryJobs) => ({ name: 'today', schedule: self.config.getOrThrow('TODAY_CRON') }))
 * ```
 *
 * Jobs are collected when the module initialises, before the engine starts; options are validated
 * by core like any job's. Only singleton providers qualify: a request-scoped provider has no
 * instance outside a request, so declaring a job on one fails module init.
 */

/** Every job option except `plan`, which is the decorated method. */
export type SyncJobOptions = Omit<JobDefinition, 'plan'>;

/** Options computed from the provider instance (after its dependencies were injected). */
export type SyncJobOptionsFactory<T = any> = (instance: T) => SyncJobOptions;

/** Metadata key on the decorated method; namespaced like the injection tokens. */
export const SYNC_JOB_METADATA = 'tidesync:job';

export type PlanMethod = JobDefinition['plan'];

export function SyncJob<T = any>(
  options: SyncJobOptions | SyncJobOptionsFactory<T>,
): <M extends PlanMethod>(target: object, method: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  // The descriptor's type makes a method with the wrong signature a compile error, not a runtime one.
  return (target, method, descriptor) => {
    SetMetadata(SYNC_JOB_METADATA, options)(target, method, descriptor);
  };
}
