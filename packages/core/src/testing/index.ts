/**
 * `@tidesync/core/testing` — the conformance suites every adapter runs (needs vitest), and
 * helpers for testing code built on tidesync.
 */
export { storeConformance } from './store-suite.js';
export type { ConformanceRow, StoreHarness, StoreCapabilityFlags } from './store-suite.js';
export { queueConformance } from './queue-suite.js';
export type { QueueHarness, QueueConformanceFlags } from './queue-suite.js';
export { rateLimiterConformance } from './rate-limiter-suite.js';
export { maxInAnyWindow } from '../limiter/window-stats.js';
export type { RateLimiterHarness, RateLimiterFactoryInput } from './rate-limiter-suite.js';
export { schedulerConformance } from './scheduler-suite.js';
export type { SchedulerHarness, SchedulerFactoryInput, SchedulerConformanceFlags } from './scheduler-suite.js';
