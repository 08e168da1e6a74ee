/**
 * Every error tidesync raises is a `SyncError` with a stable `code`, so callers branch on
 * `err.code` (or `instanceof`) instead of parsing messages. Source errors double as control
 * signals: the engine reads their class to decide between retrying, freezing the budget, or
 * dead-lettering.
 */
import { epochMs } from './util/time.js';

export type SyncErrorCode =
  | 'CONFIG_INVALID'
  | 'ABORTED'
  | 'SOURCE_RETRYABLE'
  | 'SOURCE_RATE_LIMITED'
  | 'SOURCE_PERMANENT'
  | 'PAYLOAD_INVALID'
  | 'STORE_FAILED'
  | 'STORE_CONFLICT'
  | 'STORE_REJECTED'
  | 'STORE_SCHEMA'
  | 'ENGINE_STATE';

export class SyncError extends Error {
  readonly code: SyncErrorCode;

  constructor(code: SyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyncError';
    this.code = code;
  }
}

/** One problem found while validating options: where it is and what is wrong with it. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Thrown by every factory given bad options. The message lists every problem, one per line. */
export class SyncConfigError extends SyncError {
  readonly issues: readonly ConfigIssue[];

  constructor(subject: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
    super('CONFIG_INVALID', `Invalid ${subject}:\n${lines.join('\n')}`);
    this.name = 'SyncConfigError';
    this.issues = issues;
  }
}

/** The operation was cancelled through its AbortSignal (abort, forced pause, stop deadline). */
export class AbortedError extends SyncError {
  constructor(message = 'The operation was aborted') {
    super('ABORTED', message);
    this.name = 'AbortedError';
  }
}

/** A fetch failed in a way that may succeed later: timeout, network error, 5xx, malformed body. */
export class RetryableError extends SyncError {
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('SOURCE_RETRYABLE', message, options);
    this.name = 'RetryableError';
    this.status = options?.status;
  }
}

/**
 * The remote refused because the budget is spent. `until` is when it accepts requests again, given
 * as epoch ms or a `Date` and kept as epoch ms; the engine freezes the whole shared budget until
 * then (an invalid `Date` is NaN: no reset, see `maxRateLimitPenaltyMs`).
 */
export class RateLimitedError extends SyncError {
  readonly until: number;

  constructor(message: string, until: number | Date, options?: { cause?: unknown }) {
    super('SOURCE_RATE_LIMITED', message, options);
    this.name = 'RateLimitedError';
    this.until = epochMs(until);
  }
}

/** A fetch that will fail the same way however often it is retried (most 4xx). */
export class PermanentError extends SyncError {
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('SOURCE_PERMANENT', message, options);
    this.name = 'PermanentError';
    this.status = options?.status;
  }
}

/** A fetched payload failed validation: it is never written and never deletes stored data. */
export class PayloadInvalidError extends SyncError {
  readonly issues: readonly ConfigIssue[];

  constructor(key: string, issues: readonly ConfigIssue[]) {
    const shown = issues.slice(0, 5).map((i) => `${i.path || '(root)'}: ${i.message}`);
    const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : '';
    super('PAYLOAD_INVALID', `Invalid payload for ${key}: ${shown.join('; ')}${more}`);
    this.name = 'PayloadInvalidError';
    this.issues = issues;
  }
}

/**
 * A Store refused a batch for its data (a value a column cannot hold, a malformed scope): nothing
 * was written. Unlike a store that is away, the same data fails again however often it is
 * retried, so the engine writes the batch's scopes one by one to find the one at fault, stores the
 * others, and charges that one's key an attempt (retried with backoff, dead-lettered after its
 * last) — a refetch may bring data the store can take.
 */
export class StoreRejectedError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_REJECTED', message, options);
    this.name = 'StoreRejectedError';
  }
}

/**
 * A Store's refusal of the data itself (`STORE_REJECTED`, or `STORE_CONFLICT`: two rows with one
 * identity), as opposed to a store that failed or is away. By code, so an adapter built against
 * another copy of this package is understood too.
 */
export function isStoreRejection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return err instanceof Error && (code === 'STORE_REJECTED' || code === 'STORE_CONFLICT');
}

export function isAbortError(err: unknown): boolean {
  return (
    err instanceof AbortedError ||
    (err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR'))
  );
}

/** Message of anything thrown, without assuming it is an Error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  // Called from failure paths: it must not throw itself (a BigInt, a circular object, a throwing
  // toJSON or toString), or the failure it describes is never handled.
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    try {
      return String(err);
    } catch {
      return Object.prototype.toString.call(err);
    }
  }
}
