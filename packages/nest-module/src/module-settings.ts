import { parseOptions } from '@tidesync/core';
import { z } from 'zod';
import type { SyncModuleOptions } from './sync-module-options.js';

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

const healthSchema = z
  .object({
    maxStaleKeys: z.number().int().nonnegative().optional(),
    maxDeadlineMisses: z.number().int().nonnegative().optional(),
    deadlineMissWindowMs: z.number().int().positive().default(3_600_000),
    storeTimeoutMs: z.number().int().positive().default(2_000),
    requireRunning: z.boolean().default(true),
  })
  .strict();

const settingsSchema = z.object({
  autoStart: z.boolean().default(true),
  jobOverrides: z.record(z.string(), overrideSchema).default({}),
  health: healthSchema.default({ storeTimeoutMs: 2_000, requireRunning: true, deadlineMissWindowMs: 3_600_000 }),
});

export type ResolvedSettings = z.output<typeof settingsSchema>;
export type ResolvedHealthOptions = ResolvedSettings['health'];

export function resolveSettings(options: SyncModuleOptions | undefined): ResolvedSettings {
  const { autoStart, jobOverrides, health } = options ?? {};
  return parseOptions('tidesync module settings', settingsSchema, { autoStart, jobOverrides, health });
}
