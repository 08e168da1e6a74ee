import { createCronScheduler, createMemoryQueue, createSlidingWindowLimiter } from '../src/index.js';
import { queueConformance, rateLimiterConformance, schedulerConformance } from '../src/testing/index.js';

queueConformance('in-process', async () => ({ queue: createMemoryQueue() }));

rateLimiterConformance('in-process sliding window', async ({ limit, windowMs, clock }) => ({
  limiter: createSlidingWindowLimiter({ limit, windowMs, clock, safetyMarginMs: 0 }),
}));

rateLimiterConformance('in-process sliding window with safety margin', async ({ limit, windowMs, clock }) => ({
  limiter: createSlidingWindowLimiter({ limit, windowMs, clock }),
}));

schedulerConformance('in-process cron', async ({ clock, persistence, isLeader, onSkip }) => ({
  scheduler: createCronScheduler({ clock, persistence, isLeader, onSkip }),
}));

// The real-clock variant of the suite (what distributed schedulers run), checked on the default
// scheduler too, so the suite itself is known to pass a correct implementation.
schedulerConformance(
  'in-process cron on the system clock',
  async ({ persistence, onSkip }) => ({ scheduler: createCronScheduler({ persistence, onSkip }) }),
  { realClock: true },
);
