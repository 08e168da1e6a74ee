import { parseOptions } from '@tidesync/core';
import { z } from 'zod';
import type { SyncHealthOptions, SyncModuleOptions } from './sync-module-options.js';

/**
 * Validation of the Nest-only settings. The engine options are not checked here: core checks them
 * when the engine is created, so a bad engine option fails with exactly core's `SyncConfigError`.
 * These settings fail the same way (one `SyncConfigError` listing every problem), and unknown keys
 * inside them are errors, because a misspelt override would otherwise be silently ignored.
 */

const overrideSchema = z
  .object({
    enabled: z.boolean().optional(),
    schedule: z.string().optional(),
    timezone: z.string().optional(),
    freshFor: z.number().optional(),
    priority: z.number().optional(),
    overlap: z.enum(['skip', 'bufferOne']).optional(),
    jitterMs: z.number().optional(),
    catchUp: z.boolean().optional(),
    runOnStart: z.boolean().optional(),
  })
  .strict();

/**
 * Late completions the health indicator keeps at most, whatever the windows: a cap on memory
 * (800 kB). A window holding more reads as holding this many, so a `maxDeadlineMisses` of this
 * many or more could never trip, and is refused.
 */
export const MAX_KEPT_MISSES = 100_000;

const healthFields = {
  maxStaleKeys: z.number().int().nonnegative(),
  maxDeadlineMisses: z
    .number()
    .int()
    .nonnegative()
    .max(MAX_KEPT_MISSES - 1, `must be below ${MAX_KEPT_MISSES.toLocaleString('en')}: the health check keeps at most that many late fetches, so a higher limit could never trip`),
  deadlineMissWindowMs: z.number().int().positive(),
  storeTimeoutMs: z.number().int().positive(),
  statusTimeoutMs: z.number().int().positive(),
  requireRunning: z.boolean(),
};

const healthSchema = z
  .object({
    ...healthFields,
    maxStaleKeys: healthFields.maxStaleKeys.optional(),
    maxDeadlineMisses: healthFields.maxDeadlineMisses.optional(),
    deadlineMissWindowMs: healthFields.deadlineMissWindowMs.default(3_600_000),
    storeTimeoutMs: healthFields.storeTimeoutMs.default(2_000),
    statusTimeoutMs: healthFields.statusTimeoutMs.default(5_000),
    requireRunning: healthFields.requireRunning.default(true),
  })
  .strict();

/** A health check's own overrides: the same fields, each optional, none defaulted. */
const healthOverridesSchema = z.object(healthFields).partial().strict();

const settingsSchema = z.object({
  autoStart: z.boolean().default(true),
  jobOverrides: z.record(z.string(), overrideSchema).default({}),
  health: healthSchema.default({ storeTimeoutMs: 2_000, statusTimeoutMs: 5_000, requireRunning: true, deadlineMissWindowMs: 3_600_000 }),
});

export type ResolvedSettings = z.output<typeof settingsSchema>;
export type ResolvedHealthOptions = ResolvedSettings['health'];

export function resolveSettings(options: SyncModuleOptions | undefined): ResolvedSettings {
  const { autoStart, jobOverrides, health } = options ?? {};
  return parseOptions('tidesync module settings', settingsSchema, { autoStart, jobOverrides, health });
}

/**
 * Checks one health check's overrides; an invalid one throws `SyncConfigError` listing every
 * problem. `keptMs`: how far back late fetches are kept, the longest window a check may ask for.
 */
export function resolveHealthOverrides(overrides: SyncHealthOptions | undefined, keptMs: number): SyncHealthOptions {
  return parseOptions('tidesync health check overrides', healthOverridesSchema, overrides ?? {}, (input) => {
    const window = (input as SyncHealthOptions).deadlineMissWindowMs;
    return typeof window === 'number' && window > keptMs
      ? [{ path: 'deadlineMissWindowMs', message: `late fetches are kept for ${keptMs} ms (a day, or the module's window when longer): a check cannot count further back` }]
      : [];
  });
}
