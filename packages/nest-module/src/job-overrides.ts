import type { JobDefinition } from '@tidesync/core';
import type { SyncJobOverride } from './sync-module-options.js';
import { withoutUndefined } from './util/without-undefined.js';

/**
 * Apply the configured override of a job declared in code. Returns `undefined` for a job turned
 * off with `enabled: false`. The result is validated by core when the engine adds the job, so an
 * override can never smuggle in a value the engine would refuse.
 */
export function applyJobOverride(
  job: JobDefinition,
  overrides: Readonly<Record<string, SyncJobOverride>>,
): JobDefinition | undefined {
  // A malformed entry is core's to report, with its path; do not fail on it here first.
  if (typeof job !== 'object' || job === null) return job;
  const override = Object.hasOwn(overrides, job.name) ? overrides[job.name] : undefined;
  if (!override) return job;
  const { enabled, ...changes } = override;
  if (enabled === false) return undefined;
  return { ...job, ...withoutUndefined(changes) };
}
