import { z } from 'zod';
import { SyncConfigError, type ConfigIssue } from '../errors.js';

/**
 * Parse options with a zod schema; on failure throw one `SyncConfigError` naming every problem.
 * Every factory in tidesync goes through this so bad options always fail the same way.
 */
export function parseOptions<S extends z.ZodType>(
  subject: string,
  schema: S,
  input: unknown,
  /**
   * Checks across fields that must run even when some fields are invalid (zod skips refinements
   * after a nested failure), so that one error still lists every problem.
   */
  crossChecks?: (input: unknown) => ConfigIssue[],
): z.output<S> {
  const result = schema.safeParse(input);
  const extra = crossChecks?.(input) ?? [];
  if (result.success && extra.length === 0) return result.data;
  throw new SyncConfigError(subject, [...(result.success ? [] : toIssues(result.error)), ...extra]);
}

export function toIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** A function-valued option. zod 4's `z.function()` is not a schema, so check the type only. */
export function fn<T extends (...args: never[]) => unknown>(what = 'a function') {
  return z.custom<T>((v) => typeof v === 'function', { message: `expected ${what}` });
}

/** An object that implements an interface: checked for the named methods only. */
export function implementing<T>(what: string, methods: readonly string[]) {
  return z.custom<T>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    { message: `expected ${what} with methods ${methods.join(', ')}` },
  );
}

export const positiveInt = z.number().int().positive();
export const nonNegativeInt = z.number().int().nonnegative();
