// Contracts
export type { Clock, TimerHandle } from './contracts/clock.js';
export type { Logger, LogFn } from './contracts/logger.js';
export { noopLogger, safeLogger } from './contracts/logger.js';
export { safeCallback } from './util/safe-callback.js';
export { redactConnectionString } from './util/redact.js';
export type { TaskSpec, QueuedTask } from './contracts/task.js';
export type { Queue, OfferResult, QueueSignal } from './contracts/queue.js';
export type { RateLimiter, RateLimiterUsage } from './contracts/rate-limiter.js';
export type { Scheduler, ScheduleSpec, Tick, TickHandler, OverlapPolicy } from './contracts/scheduler.js';
export type { Source, FetchContext } from './contracts/source.js';
export type {
  Store,
  StoreCapabilities,
  LeaderLock,
  ScopeWrite,
  WriteBatch,
  WriteResult,
  KeyState,
  KeyFailure,
  DeadLetter,
} from './contracts/store.js';
export { emptyWriteResult } from './contracts/store.js';

// Errors
export {
  SyncError,
  SyncConfigError,
  AbortedError,
  RetryableError,
  RateLimitedError,
  PermanentError,
  PayloadInvalidError,
  StoreRejectedError,
  isAbortError,
  isStoreRejection,
  errorMessage,
} from './errors.js';
export type { SyncErrorCode, ConfigIssue } from './errors.js';

// In-process defaults
export { createSystemClock } from './clock/system-clock.js';
export { createVirtualClock } from './clock/virtual-clock.js';
export type { VirtualClock } from './clock/virtual-clock.js';
export { createSlidingWindowLimiter } from './limiter/sliding-window-limiter.js';
export type { SlidingWindowLimiterOptions } from './limiter/sliding-window-limiter.js';
export { maxInAnyWindow } from './limiter/window-stats.js';
export { FifoWaiters, invalidCost } from './limiter/fifo-waiters.js';
export type { Waiter } from './limiter/fifo-waiters.js';
export { createMemoryQueue } from './queue/memory-queue.js';
export { mergeQueuedTask } from './queue/merge.js';
export { createCronScheduler } from './scheduler/cron-scheduler.js';
export type { CronSchedulerOptions, LastTickPersistence, TickSkipReason } from './scheduler/cron-scheduler.js';
export { parseCron } from './scheduler/cron.js';
export type { CronSchedule } from './scheduler/cron.js';
export { createHttpSource } from './source/http-source.js';
export type { HttpSource, HttpSourceOptions, HttpSourceStats, RateLimitResponse } from './source/http-source.js';

// Engine
export { createSyncEngine } from './engine/engine.js';
export type { SyncEngine, EngineStatus, JobStatus, TriggerOptions, StopOptions } from './engine/engine.js';
export type { SyncEngineOptions, JobDefinition, PlanContext, RetryPolicy } from './engine/options.js';
export type { SyncEvents } from './engine/events.js';
export type { CapacityReport, CapacityClass } from './engine/capacity.js';

// Helpers for adapters
export { parseOptions, fn as functionOption, implementing as implementsOption } from './util/options.js';
export { stableStringify } from './util/stable-json.js';
